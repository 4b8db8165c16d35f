"""The whole ASGI app in-process, with sessions minted through the real cookie store.

    async with AuthApp.start(make_settings(email_domains=["example.com"])) as app:
        cookie = await app.cookie(email="ada@example.com", groups=("admins",))
        response = await app.auth(cookie=cookie, headers={"X-Forwarded-Uri": "/admin"})

Requests come from `peer` (a trusted proxy address by default) through httpx's ASGITransport,
so what is tested is exactly what a proxy's auth subrequest gets.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from authsvc.config import Settings
from authsvc.context import Context
from authsvc.models import Identity, Session, Tokens
from authsvc.web.app import create_app
from tests.support.fake_idp import ManualClock

PROXY = "127.0.0.1"
STRANGER = "203.0.113.9"
AUTH_HOST = "auth.internal"


@dataclass
class AuthApp:
    """An app, its services and clock, and a client per peer address."""

    settings: Settings
    services: Context
    clock: ManualClock
    _clients: dict[str, httpx.AsyncClient]
    _app: Any

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls, settings: Settings, clock: ManualClock | None = None
    ) -> AsyncIterator[AuthApp]:
        """Build the app; close every client and the services afterwards."""
        clock = clock or ManualClock()
        http = httpx.AsyncClient()
        services = Context.build(settings, clock=clock, http=http)
        app = cls(settings, services, clock, {}, create_app(services))
        try:
            yield app
        finally:
            for client in app._clients.values():
                await client.aclose()
            await services.aclose()

    def client(self, peer: str = PROXY) -> httpx.AsyncClient:
        """A client whose requests arrive from `peer`."""
        if peer not in self._clients:
            transport = httpx.ASGITransport(app=self._app, client=(peer, 40000))
            self._clients[peer] = httpx.AsyncClient(
                transport=transport, base_url=f"http://{AUTH_HOST}"
            )
        return self._clients[peer]

    async def cookie(self, user: str = "u-1", email: str = "ada@example.com", **fields: Any) -> str:
        """A Cookie header value holding a fresh session for this identity."""
        tokens = fields.pop("tokens", Tokens(access_token="at-1", id_token="idt-1"))
        identity = Identity(user=user, email=email, **fields)
        now = int(self.clock())
        session = Session(identity, tokens, created_at=now, expires_at=now + 3600, refreshed_at=now)
        value = await self.services.store.save(session)
        return f"{self.settings.cookie_name}={value}"

    async def auth(
        self,
        path: str = "/oauth2/auth",
        *,
        cookie: str | None = None,
        headers: Mapping[str, str] | None = None,
        method: str = "GET",
        peer: str = PROXY,
    ) -> httpx.Response:
        """One auth subrequest."""
        hdrs = dict(headers or {})
        if cookie:
            hdrs["Cookie"] = cookie
        return await self.client(peer).request(method, path, headers=hdrs)
