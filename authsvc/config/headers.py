"""The identity headers authsvc adds to its 2xx answer for the proxy to pass upstream."""

from __future__ import annotations

from pydantic import BaseModel


class HeaderOptions(BaseModel):
    """Which identity headers and tokens go on the 2xx answer."""

    set_xauthrequest: bool = True
    pass_access_token: bool = False
    set_authorization_header: bool = False
