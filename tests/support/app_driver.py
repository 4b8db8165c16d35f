"""Drive the ASGI app through a browser login: /oauth2/start -> IdP -> /oauth2/callback -> /oauth2/auth.

The IdP's part is a callable from the login URL to the callback URL (a fake playing the user),
so the same driver serves every provider. Requests come from 127.0.0.1, a trusted proxy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx

from authsvc.app import create_app
from authsvc.clock import Clock
from authsvc.config import Settings
from authsvc.services import Services

ORIGIN = "https://app.example.test"
REDIRECT_URI = f"{ORIGIN}/oauth2/callback"


class AppDriver:
    """A browser (with a cookie jar) in front of one authsvc app."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def start(self, rd: str = "/dashboard") -> str:
        """GET /oauth2/start; the IdP login URL it redirects to."""
        response = await self.client.get("/oauth2/start", params={"rd": rd})
        assert response.status_code == 302, response.text
        return response.headers["location"]

    async def callback(self, url: str) -> httpx.Response:
        """Come back from the IdP to the callback URL."""
        assert url.startswith(REDIRECT_URI + "?"), url
        return await self.client.get(url)

    async def auth(self) -> httpx.Response:
        """What /oauth2/auth answers the proxy for this browser."""
        return await self.client.get("/oauth2/auth", headers={"X-Forwarded-Uri": "/dashboard"})

    async def login(self, idp: Callable[[str], str]) -> httpx.Response:
        """The whole login; the callback's answer (302 to rd, or an error page)."""
        return await self.callback(idp(await self.start()))


@asynccontextmanager
async def app_driver(settings: Settings, http: httpx.AsyncClient, clock: Clock) -> AsyncIterator[AppDriver]:
    """An AppDriver on a fresh app built from `settings` (the provider from its factory)."""
    app = create_app(settings, Services.build(settings, clock=clock, http=http))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        yield AppDriver(client)


def callback_url(login_url: str, code: str, state: str) -> str:
    """The redirect_uri of `login_url` with the code and state an IdP sends back."""
    redirect_uri = httpx.URL(login_url).params["redirect_uri"]
    return str(httpx.URL(redirect_uri).copy_merge_params({"code": code, "state": state}))
