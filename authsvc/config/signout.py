"""Sign-out: whether /oauth2/sign_out also ends the session at the IdP."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from .loading import http_url


class SignOutOptions(BaseModel):
    """RP-Initiated Logout (OpenID Connect RP-Initiated Logout 1.0)."""

    oidc_end_session: bool = Field(
        False,
        description=(
            "`/oauth2/sign_out` continues to the IdP's `end_session_endpoint` "
            "(RP-Initiated Logout) with `id_token_hint`, so the IdP session ends too"
        ),
    )
    oidc_post_logout_redirect_url: str = Field(
        "",
        description=(
            "the `post_logout_redirect_uri` sent with `oidc_end_session`; must be "
            "registered at the IdP"
        ),
        json_schema_extra={"default_note": "(the validated `rd`, made absolute)"},
    )
    backend_logout_url: str = Field(
        "",
        description=(
            "on sign-out, a server-side GET to this URL first, `{id_token}` replaced by "
            "the session's ID token"
        ),
    )

    @field_validator("oidc_post_logout_redirect_url", "backend_logout_url")
    @classmethod
    def _signout_url(cls, value: str) -> str:
        return http_url(value)
