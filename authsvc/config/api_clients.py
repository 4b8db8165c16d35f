"""API clients: machine identities and opaque (introspected) access tokens (docs/api-clients.md)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from .loading import CommaList, option_error, split_list


class ApiClientOptions(BaseModel):
    """Which machines may pass, and how opaque bearer tokens are checked (RFC 7662)."""

    #: client ids whose client-credentials tokens (machine identities) pass the global rules;
    #: `email_domains` never admits a machine, whatever it says
    allowed_clients: CommaList = Field(default_factory=list)
    #: opaque (non-JWT) bearer tokens are checked at the provider's introspection endpoint
    introspect_bearer_tokens: bool = False
    #: the RFC 7662 endpoint; "" = the discovery document's `introspection_endpoint`
    oidc_introspection_url: str = ""
    #: seconds an active introspection result is reused at most (never past the token's `exp`);
    #: 0 asks the IdP on every request, so a revoked token is refused at once
    introspection_cache_ttl: float = 60.0

    @field_validator("allowed_clients", mode="before")
    @classmethod
    def _api_lists(cls, value: object) -> object:
        return split_list(value)

    @field_validator("introspection_cache_ttl")
    @classmethod
    def _api_ttl(cls, value: float) -> float:
        if not 0 <= value <= 3600:
            raise option_error("introspection_cache_ttl", "must be between 0 and 3600 seconds")
        return value

    @field_validator("oidc_introspection_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise option_error("oidc_introspection_url", "must be an http(s) URL")
        return value
