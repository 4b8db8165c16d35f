"""The process context: everything built once from settings and shared by all requests.

Nothing here is created per request (no clients, ciphers or regexes on the hot path).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import httpx
from starlette.requests import Request

from . import cookies
from .check.decide import Access
from .check.forwarded import Forwarded, clean_host, clean_scheme, first_value
from .check.headers import IdentityHeaders
from .check.paths import PathRules
from .check.route_rules import RouteRules
from .check.rules import Rules
from .clock import Clock, Random, system_clock, system_random
from .config import Settings
from .crypto import Sealer
from .login.redirects import RedirectPolicy
from .providers import create_provider
from .providers.base import Provider
from .providers.bearer import BearerAuth
from .sessions import SessionStore, create_store
from .sessions.cache import SessionCache
from .sessions.loader import SessionLoader
from .sessions.refresh import Refresher
from .web.metrics import Metrics

log = logging.getLogger("authsvc")


@dataclass
class Services:
    """Shared, long-lived collaborators of the request handlers."""

    settings: Settings
    clock: Clock
    random: Random
    http: httpx.AsyncClient
    store: SessionStore
    provider: Provider
    forwarded: Forwarded
    redirects: RedirectPolicy
    #: path, global and per-route rules (check/decide.py)
    access: Access
    route_rules: RouteRules
    bearer: BearerAuth
    headers: IdentityHeaders
    cookie_settings: cookies.CookieSettings
    login_sealer: Sealer
    #: Prometheus metrics of this app (metrics.py); record_refresh() is for the refresh path
    metrics: Metrics = field(default_factory=Metrics)
    refresher: Refresher = field(init=False)
    #: verified sessions by cookie value, a few seconds (session_cache.py)
    session_cache: SessionCache = field(init=False)
    #: cookie header -> session (sessions/loader.py)
    loader: SessionLoader = field(init=False)

    def __post_init__(self) -> None:
        self.refresher = Refresher(
            self.settings.cookie_refresh, self.store, self.provider, self.clock,
            record=self.metrics.record_refresh,
        )  # fmt: skip
        self.session_cache = SessionCache(self.settings.session_cache_ttl, self.store, self.clock)
        self.loader = SessionLoader(
            self.settings.cookie_name, self.store, self.session_cache, self.refresher, self.clock
        )

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        random: Random = system_random,
        http: httpx.AsyncClient | None = None,
        store: SessionStore | None = None,
        provider: Provider | None = None,
    ) -> Services:
        """Wire everything from settings; tests inject the clock, randomness and fakes."""
        http = http or httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=False)
        metrics = Metrics()
        metrics.instrument_client(http)  # authsvc_idp_request_seconds, by event hooks
        return cls(
            settings=settings,
            clock=clock,
            random=random,
            http=http,
            store=store or create_store(settings, clock),
            provider=provider or create_provider(settings, http, clock),
            forwarded=Forwarded(settings),
            redirects=RedirectPolicy(settings.whitelist_domains),
            access=Access(
                PathRules(settings.skip_auth_routes, settings.api_routes, settings.skip_auth_preflight),
                Rules(settings, clock),
            ),
            route_rules=RouteRules(),
            bearer=BearerAuth(settings, http, clock),
            headers=IdentityHeaders(settings),
            cookie_settings=cookies.CookieSettings.from_settings(settings),
            login_sealer=Sealer(settings.secret_keys, "login-state"),
            metrics=metrics,
        )

    def peer(self, request: Request) -> str | None:
        """The direct peer's IP (the proxy, when deployed as intended)."""
        return request.client.host if request.client else None

    def trusted(self, request: Request) -> bool:
        """Whether the direct peer may speak for the client through forwarded headers."""
        return self.settings.reverse_proxy and self.forwarded.is_trusted(self.peer(request))

    def public_origin(self, request: Request) -> tuple[str, str]:
        """(scheme, host) the browser used, for redirect URIs and cookie domains."""
        headers = request.headers
        scheme = clean_scheme(request.url.scheme) or "http"
        host = clean_host(headers.get("host")) or "localhost"
        if self.trusted(request):
            scheme = clean_scheme(first_value(headers.get("x-forwarded-proto"))) or scheme
            host = clean_host(first_value(headers.get("x-forwarded-host"))) or host
        return scheme, host

    async def aclose(self) -> None:
        """Release network resources."""
        await self.store.close()
        await self.http.aclose()
