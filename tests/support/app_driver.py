"""Drive the ASGI app through a browser login: /oauth2/start -> IdP -> /oauth2/callback -> /oauth2/auth.

`AppDriver`: the IdP's part is a callable from the login URL to the callback URL (a fake playing
the user), so the same driver serves every provider. `Browser`: the OIDC login against the respx
FakeIdP, with the app's Context at hand (metrics, store). Requests come from 127.0.0.1, a
trusted proxy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.types import ASGIApp

from authsvc.clock import Clock
from authsvc.config import Settings
from authsvc.context import Context
from authsvc.demo.idp import DemoIdP
from authsvc.web.app import create_app
from tests.conftest import make_settings

from .fake_idp import FakeIdP, ManualClock
from .logout_store import MemoryLogoutStore

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
async def asgi_client(app: ASGIApp, peer: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on `app` at ORIGIN, its requests coming from `peer`."""
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        yield client


@asynccontextmanager
async def app_driver(settings: Settings, http: httpx.AsyncClient, clock: Clock) -> AsyncIterator[AppDriver]:
    """An AppDriver on a fresh app built from `settings` (the provider from its factory)."""
    async with asgi_client(create_app(Context.build(settings, clock=clock, http=http))) as client:
        yield AppDriver(client)


def fake_idp_settings(fake: FakeIdP, **overrides: Any) -> Settings:
    """Settings for an OIDC login at `fake`, e-mails of example.com allowed; overrides win."""
    options: dict[str, Any] = {
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "oidc_issuer_url": fake.issuer,
        "email_domains": ["example.com"],
    }
    options.update(overrides)
    return make_settings(**options)


@asynccontextmanager
async def with_demo_idp(
    fake: FakeIdP, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, MemoryLogoutStore]]:
    """A client on an app for `fake` (on its ManualClock) with bearer tokens on, the demo IdP
    mounted at /_demo/idp and a memory logout store (the one returned); overrides win."""
    settings = fake_idp_settings(fake, skip_jwt_bearer_tokens=True, **overrides)
    assert isinstance(fake.clock, ManualClock)
    store = MemoryLogoutStore(settings, fake.clock)
    services = Context.build(settings, clock=fake.clock, store=store)
    demo = DemoIdP(f"{ORIGIN}/_demo/idp", "demo", "demo-secret")
    try:
        async with asgi_client(create_app(services, extra_routes=[demo.mount()])) as c:
            yield c, store
    finally:
        await services.aclose()


class Browser:
    """An httpx client on the ASGI app that follows our redirects by hand, signing in at `fake`."""

    def __init__(self, client: httpx.AsyncClient, services: Context, fake: FakeIdP) -> None:
        self.client = client
        self.services = services
        self.fake = fake

    async def start(self, rd: str = "/") -> httpx.Response:
        """GET /oauth2/start: its 302 to the IdP."""
        response = await self.client.get("/oauth2/start", params={"rd": rd})
        assert response.status_code == 302, response.text
        return response

    async def login(self, rd: str = "/", **user: Any) -> httpx.Response:
        """Start, sign in at the IdP, come back: the callback's response."""
        start = await self.start(rd)
        return await self.client.get(self.fake.callback_url(start.headers["location"], **user))

    async def auth(self, **headers: str) -> httpx.Response:
        """What /oauth2/auth answers the proxy for this browser."""
        return await self.client.get("/oauth2/auth", headers=headers)


@asynccontextmanager
async def browser_on(settings: Settings, fake: FakeIdP, **build: Any) -> AsyncIterator[Browser]:
    """A Browser on a fresh app from `settings`; `build` goes to Context.build (clock, store)."""
    services = Context.build(settings, **build)
    try:
        async with asgi_client(create_app(services)) as client:
            yield Browser(client, services, fake)
    finally:
        await services.aclose()


def cookie_header(jar: Mapping[str, str]) -> dict[str, str]:
    """A Cookie request header from a saved jar (httpx deprecates per-request cookies=)."""
    return {"cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}


def callback_url(login_url: str, code: str, state: str) -> str:
    """The redirect_uri of `login_url` with the code and state an IdP sends back."""
    redirect_uri = httpx.URL(login_url).params["redirect_uri"]
    return str(httpx.URL(redirect_uri).copy_merge_params({"code": code, "state": state}))
