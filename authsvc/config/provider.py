"""The identity provider and the OAuth client registered with it."""

from __future__ import annotations

import difflib
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator

from .client_key import client_key
from .loading import CommaList, Duration, Problems, http_url, parse_duration

#: the `provider` values and the name on their sign-in button (providers.PROVIDERS has an
#: implementation for each; a test keeps them so). A new provider is one line here and one there.
PROVIDER_NAMES: dict[str, str] = {
    "oidc": "OpenID Connect",
    "github": "GitHub",
    "google": "Google",
    "entra-id": "Microsoft Entra ID",
    "azure": "Microsoft Entra ID",
    "gitlab": "GitLab",
    "keycloak-oidc": "Keycloak",
    "keycloak": "Keycloak",
    "bitbucket": "Bitbucket",
    "login.gov": "Login.gov",
}
#: providers whose client authenticates with a signed JWT (jwt_key) only: no client secret
_KEY_ONLY = ("login.gov",)
#: OAuth 2.0 providers whose token endpoints take the client secret only
_SECRET_ONLY = ("github", "bitbucket")


class ProviderOptions(BaseModel):
    """Which IdP, the client credentials, and how its ID tokens are read."""

    provider: str = Field(
        "oidc",
        description=(
            "identity provider kind: `oidc`, `github`, `google`, `entra-id` (`azure`), "
            "`gitlab`, `keycloak-oidc` (`keycloak`), `bitbucket`, `login.gov`; see "
            "\"Identity providers\""
        ),
    )
    oidc_issuer_url: str = Field(
        "",
        description="the issuer; metadata comes from `<issuer>/.well-known/openid-configuration`",
        json_schema_extra={"default_note": "— (required for `oidc` and `keycloak-oidc`; derived for "
                                           "`google`, `gitlab`, `entra-id`, `login.gov`)"},
    )
    client_id: str = Field(
        "",
        description="OAuth2 client id",
        json_schema_extra={"default_note": "— (required)"},
    )
    client_secret: SecretStr = Field(
        SecretStr(""),
        description="OAuth2 client secret",
        json_schema_extra={"default_note": "— (required)"},
    )
    client_secret_file: str = Field(
        "",
        description="read the client secret from this file instead",
    )
    jwt_key: SecretStr = Field(
        SecretStr(""),
        description=(
            "PEM RSA private key (2048 bits or more): the client authenticates to the token "
            "endpoint with a JWT it signs (`private_key_jwt`, RFC 7523) instead of "
            "`client_secret`; required for `login.gov`"
        ),
    )
    jwt_key_file: str = Field(
        "",
        description="read `jwt_key` from this PEM file instead",
    )
    redirect_url: str = Field(
        "",
        description="the callback URL registered at the IdP",
        json_schema_extra={"default_note": "(from the request: `<scheme>://<host><proxy_prefix>/callback`)"},
    )
    scope: str = Field(
        "openid email profile",
        description="scopes to request",
    )
    oidc_email_claim: str = Field(
        "email",
        description="claim holding the e-mail",
    )
    oidc_groups_claim: str = Field(
        "groups",
        description="claim holding the groups (dotted paths like `realm_access.roles` work)",
    )
    user_id_claim: str = Field(
        "sub",
        description="claim that becomes `X-Auth-Request-User`",
    )
    oidc_extra_audiences: CommaList = Field(
        default_factory=list,
        description="audiences accepted in ID tokens besides `client_id`",
    )
    insecure_oidc_allow_unverified_email: bool = Field(
        False,
        description=(
            "accept an address whose `email_verified` is anything but `true` (JSON `true`, or the string "
            "`\"true\"`); an absent claim is accepted either way, as in oauth2-proxy"
        ),
    )
    oidc_metadata_ttl: Duration = Field(
        3600.0,
        description="how long discovery and JWKS are cached (the last good copy is kept through IdP outages)",
    )
    oidc_leeway: Duration = Field(
        60.0,
        description="clock skew allowed on `exp`, `iat`, `nbf`",
    )
    skip_provider_button: bool = Field(
        False,
        description="`/oauth2/sign_in` goes straight to the IdP",
    )

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
        signs = self._check_jwt_key(problems)
        if not unreadable and not self.client_secret.get_secret_value() and not signs and not getattr(
            self, "entra_id_federated_token_auth", False
        ):
            problems.add("client_secret", "is required (or set client_secret_file, or jwt_key)")

    def _check_jwt_key(self, problems: Problems) -> bool:
        """Whether a signing key is configured; a bad one is a problem naming its option (the
        key itself is never repeated)."""
        given = bool(self.jwt_key.get_secret_value() or self.jwt_key_file)
        if self.jwt_key.get_secret_value() and self.jwt_key_file:
            problems.add("jwt_key_file", "set jwt_key or jwt_key_file, not both")
        elif given and self.provider in _SECRET_ONLY:
            problems.add("jwt_key", f"is not used by provider {self.provider!r}, whose token endpoint "
                         "takes client_secret only")
        elif given:
            problems.run(lambda: client_key(self.jwt_key.get_secret_value(), self.jwt_key_file))
        elif self.provider in _KEY_ONLY:
            problems.add("jwt_key", f"is required for provider {self.provider!r} (or jwt_key_file): "
                         "the RSA private key whose public half is registered with the IdP")
        return given
