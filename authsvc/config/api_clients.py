"""API clients: machine identities and opaque (introspected) access tokens (docs/api-clients.md)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from .loading import CommaList, Duration, option_error, parse_duration


class ApiClientOptions(BaseModel):
    """Which machines may pass, and how opaque bearer tokens are checked (RFC 7662)."""

    allowed_clients: CommaList = Field(
        default_factory=list,
        description=(
            "client ids whose client-credentials tokens (machine identities: no e-mail, `sub` absent or"
            " equal to the client) pass the global rules; `email_domains` (even `*`) never admits a "
            "machine. Per route: `?allowed_clients=`. See [docs/api-clients.md](docs/api-clients.md)"
        ),
    )
    allowed_subjects: CommaList = Field(
        default_factory=list,
        description=(
            "`sub` values (machines or users) that pass the global rules whatever their e-mail and "
            "groups, like `allowed_clients`: explicit. Per route: `?allowed_subjects=`"
        ),
    )
    introspect_bearer_tokens: bool = Field(
        False,
        description=(
            "opaque (non-JWT) bearer tokens are checked by RFC 7662 introspection with our client's "
            "credentials; IdP down → 503"
        ),
    )
    oidc_introspection_url: str = Field(
        "",
        description=(
            "the introspection endpoint; empty = the discovery document's `introspection_endpoint`"
        ),
    )
    introspection_cache_ttl: Duration = Field(
        60.0,
        description=(
            "how long an active introspection answer is reused at most, never past the token's `exp`; "
            "`0` = ask every time (a revoked token is refused at once). Inactive answers are kept 5 s"
        ),
    )

    @field_validator("introspection_cache_ttl", mode="before")
    @classmethod
    def _api_duration(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("introspection_cache_ttl")
    @classmethod
    def _api_ttl(cls, value: float) -> float:
        if not 0 <= value <= 3600:
            raise option_error("introspection_cache_ttl", "must be between 0 and 1h (e.g. 60s)")
        return value

    @field_validator("oidc_introspection_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise option_error("oidc_introspection_url", "must be an http(s) URL")
        return value
