"""The identity provider and the OAuth client registered with it."""

from __future__ import annotations

import difflib
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator

from .loading import CommaList, Duration, Problems, http_url, parse_duration, split_list

#: the `provider` values (providers.PROVIDERS has an implementation for each; a test keeps them so)
PROVIDER_NAMES = ("oidc", "github", "google", "entra-id", "azure", "gitlab", "keycloak-oidc", "keycloak")


class ProviderOptions(BaseModel):
    """Which IdP, the client credentials, and how its ID tokens are read."""

    provider: str = "oidc"
    oidc_issuer_url: str = ""
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    client_secret_file: str = ""
    redirect_url: str = ""
    scope: str = "openid email profile"
    oidc_email_claim: str = "email"
    oidc_groups_claim: str = "groups"
    user_id_claim: str = "sub"
    oidc_extra_audiences: CommaList = Field(default_factory=list)
    insecure_oidc_allow_unverified_email: bool = False
    oidc_metadata_ttl: Duration = 3600.0
    oidc_leeway: Duration = 60.0
    skip_provider_button: bool = False

    @field_validator("oidc_extra_audiences", mode="before")
    @classmethod
    def _provider_list(cls, value: object) -> object:
        return split_list(value)

    @field_validator("oidc_metadata_ttl", "oidc_leeway", mode="before")
    @classmethod
    def _provider_durations(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("oidc_issuer_url", "redirect_url")
    @classmethod
    def _provider_url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("provider")
    @classmethod
    def _provider_name(cls, value: str) -> str:
        # checked here, not only when `serve` builds the provider: check-config must say it
        if value not in PROVIDER_NAMES:
            close = difflib.get_close_matches(value.lower(), PROVIDER_NAMES, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"is not a provider authsvc has; {hint}one of: "
                             f"{', '.join(sorted(PROVIDER_NAMES))}")
        return value

    def resolve_client(self, problems: Problems) -> None:
        """Read client_secret_file if needed; record every missing provider option."""
        unreadable = False
        if self.client_secret_file and not self.client_secret.get_secret_value():
            try:
                text = Path(self.client_secret_file).read_text().strip()
            except OSError as exc:
                problems.add("client_secret_file", f"cannot be read: {exc.strerror}")
                unreadable = True
            else:
                # the model is frozen; this is still validation, before anyone holds the settings
                object.__setattr__(self, "client_secret", SecretStr(text))
        if self.provider == "oidc" and not self.oidc_issuer_url:
            problems.add("oidc_issuer_url", "is required for provider 'oidc'")
        if not self.client_id:
            problems.add("client_id", "is required")
        if not unreadable and not self.client_secret.get_secret_value() and not getattr(
            self, "entra_id_federated_token_auth", False
        ):
            problems.add("client_secret", "is required (or set client_secret_file)")
