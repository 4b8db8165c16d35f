"""An authsvc app in-process (httpx.ASGITransport) against the FakeIdP, with a login helper.

Used by the refresh, outage and logout tests: `AuthClient.open(...)` builds the app with an
injected clock, `login()` walks /oauth2/start -> FakeIdP -> /oauth2/callback and returns the
session cookie value, `auth(value)` asks /oauth2/auth as a proxy would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx

from authsvc.context import Context
from authsvc.web.app import create_app
from tests.conftest import make_settings
from tests.support.fake_idp import FakeIdP, ManualClock

BASE = "http://app.example.test"


def idp_options(idp: FakeIdP) -> dict[str, Any]:
    """Settings that point authsvc at the FakeIdP and let every e-mail in."""
    return {
        "oidc_issuer_url": idp.issuer,
        "client_id": idp.client_id,
        "client_secret": idp.client_secret,
        "email_domains": "*",
        "cookie_expire": "1h",
        "cookie_refresh": "1m",
    }


def set_cookies(response: httpx.Response) -> list[str]:
    """The Set-Cookie header values of a response."""
    return response.headers.get_list("set-cookie")


def cookie_value(response: httpx.Response, name: str = "_authsvc") -> str | None:
    """The value a response sets for cookie `name` (None when it sets none)."""
    for header in set_cookies(response):
        key, _, rest = header.partition("=")
        if key == name:
            return rest.split(";", 1)[0]
    return None


class AuthClient:
    """One authsvc replica, driven in-process."""

    def __init__(self, services: Context, idp: FakeIdP) -> None:
        self.services = services
        self.idp = idp
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(services)),
            base_url=BASE,
        )

    @classmethod
    @asynccontextmanager
    async def open(cls, idp: FakeIdP, clock: ManualClock, **options: Any) -> AsyncIterator[AuthClient]:
        """A replica with settings `idp_options(idp)` overridden by `options`."""
        settings = make_settings(**{**idp_options(idp), **options})
        client = cls(Context.build(settings, clock=clock), idp)
        try:
            yield client
        finally:
            await client.http.aclose()
            await client.services.aclose()

    async def login(self, **user: Any) -> str:
        """Sign in at the FakeIdP as `user`; the session cookie value."""
        value = cookie_value(await self._login(**user), self.services.settings.cookie_name)
        assert value
        return value

    async def login_header(self, **user: Any) -> str:
        """Sign in as `user`; a Cookie header with every session cookie set (chunks too)."""
        done = await self._login(**user)
        pairs = [h.split(";", 1)[0] for h in set_cookies(done) if h.startswith("_authsvc")]
        return "; ".join(p for p in pairs if not p.endswith("="))

    async def _login(self, **user: Any) -> httpx.Response:
        start = await self.http.get("/oauth2/start", params={"rd": "/"})
        assert start.status_code == 302, start.text
        login_cookie = set_cookies(start)[0].split(";", 1)[0]
        callback = urlsplit(self.idp.callback_url(start.headers["location"], **user))
        done = await self.http.get(f"{callback.path}?{callback.query}", headers={"cookie": login_cookie})
        assert done.status_code == 302, done.text
        return done

    async def auth(self, value: str, **headers: str) -> httpx.Response:
        """GET /oauth2/auth with the session cookie, as nginx's auth_request does."""
        return await self.http.get(
            "/oauth2/auth", headers={"cookie": f"_authsvc={value}", "x-original-uri": "/", **headers}
        )
