"""The identity headers authsvc adds to its 2xx answer for the proxy to pass upstream."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field, SecretStr, model_validator

from .loading import option_error


class HeaderOptions(BaseModel):
    """Which identity headers and tokens go on the 2xx answer."""

    set_xauthrequest: bool = Field(
        True,
        description="send `X-Auth-Request-User/-Email/-Preferred-Username/-Groups` on 2xx",
    )
    pass_access_token: bool = Field(
        False,
        description="also send `X-Auth-Request-Access-Token`",
    )
    set_authorization_header: bool = Field(
        False,
        description="also send `Authorization: Bearer <id_token>`",
    )
    set_basic_auth: bool = Field(
        False,
        description=(
            "also send `Authorization: Basic base64(<user>:<basic_auth_password>)` for "
            "applications that want Basic (not with `set_authorization_header`)"
        ),
    )
    basic_auth_password: SecretStr = Field(
        SecretStr(""),
        description="the password in that header",
    )
    prefer_email_to_user: bool = Field(
        False,
        description="the e-mail, not the user, in that header",
    )

    @model_validator(mode="after")
    def _header_checks(self) -> Self:
        self.check_headers()
        return self

    def check_headers(self) -> None:
        """Both set Authorization; oauth2-proxy would send a header no application can read."""
        if self.set_basic_auth and self.set_authorization_header:
            raise option_error("set_basic_auth", "and set_authorization_header both set Authorization; "
                               "choose one")
