"""The identity provider and the OAuth client registered with it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator

from .loading import CommaList, Duration, http_url, option_error, parse_duration, split_list


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

    def resolve_client(self) -> None:
        """Read client_secret_file if needed; raise naming the first missing provider option.

        Not a model validator of its own: `Settings` runs it between its cookie checks so the
        first error reported stays the one it always was.
        """
        if self.client_secret_file and not self.client_secret.get_secret_value():
            try:
                text = Path(self.client_secret_file).read_text().strip()
            except OSError as exc:
                raise option_error("client_secret_file", f"cannot be read: {exc.strerror}") from None
            # the model is frozen; this is still validation, before anyone holds the settings
            object.__setattr__(self, "client_secret", SecretStr(text))
        if self.provider == "oidc" and not self.oidc_issuer_url:
            raise option_error("oidc_issuer_url", "is required for provider 'oidc'")
        if not self.client_id:
            raise option_error("client_id", "is required")
        if not self.client_secret.get_secret_value() and not getattr(
            self, "entra_id_federated_token_auth", False
        ):
            raise option_error("client_secret", "is required (or set client_secret_file)")
