"""The identity headers authsvc adds to its 2xx answer for the proxy to pass upstream."""

from __future__ import annotations

from pydantic import BaseModel, SecretStr

from .loading import option_error


class HeaderOptions(BaseModel):
    """Which identity headers and tokens go on the 2xx answer."""

    set_xauthrequest: bool = True
    pass_access_token: bool = False
    set_authorization_header: bool = False
    #: Authorization: Basic base64(<user or e-mail>:<basic_auth_password>) for legacy apps
    set_basic_auth: bool = False
    basic_auth_password: SecretStr = SecretStr("")
    #: the e-mail, not the user, names the caller in the Basic header
    prefer_email_to_user: bool = False

    def check_headers(self) -> None:
        """Both set Authorization; oauth2-proxy would send a header no application can read."""
        if self.set_basic_auth and self.set_authorization_header:
            raise option_error("set_basic_auth", "and set_authorization_header both set Authorization; "
                               "choose one")
