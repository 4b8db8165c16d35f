"""Sign-out: whether /oauth2/sign_out also ends the session at the IdP."""

from __future__ import annotations

from pydantic import BaseModel, field_validator

from .loading import http_url


class SignOutOptions(BaseModel):
    """RP-Initiated Logout (OpenID Connect RP-Initiated Logout 1.0)."""

    #: continue /oauth2/sign_out to the IdP's end_session_endpoint (RP-Initiated Logout)
    oidc_end_session: bool = False
    oidc_post_logout_redirect_url: str = ""
    #: a server-side GET on sign-out (oauth2-proxy's), `{id_token}` replaced by the ID token
    backend_logout_url: str = ""

    @field_validator("oidc_post_logout_redirect_url", "backend_logout_url")
    @classmethod
    def _signout_url(cls, value: str) -> str:
        return http_url(value)
