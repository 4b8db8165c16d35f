"""The process context: everything built once from settings and shared by all requests.

Nothing here is created per request (no clients, ciphers or regexes on the hot path).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import httpx
from starlette.requests import Request

from . import cookies
from .bearer import BearerAuth
from .clock import Clock, Random, system_clock, system_random
from .config import Settings
from .config.tls import provider_verify
from .crypto import Sealer
from .errors import InvalidSession
from .forwarded import Forwarded, clean_host, clean_scheme, first_value
from .headers import IdentityHeaders
from .metrics import Metrics
from .models import Session
from .providers import create_provider
from .providers.base import Provider
from .redirects import RedirectPolicy
from .refresh import NO_SESSION, Loaded, Refresher
from .route_rules import RouteRules
from .routes import PathRules
from .rules import Rules
from .session_cache import SessionCache
from .sessions import SessionStore, create_store
from .web.pages import Pages

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
    rules: Rules
    route_rules: RouteRules
    paths: PathRules
    bearer: BearerAuth
    headers: IdentityHeaders
    cookie_settings: cookies.CookieSettings
    login_sealer: Sealer
    #: Prometheus metrics of this app (metrics.py); record_refresh() is for the refresh path
    metrics: Metrics = field(default_factory=Metrics)
    refresher: Refresher = field(init=False)
    #: verified sessions by cookie value, a few seconds (session_cache.py)
    session_cache: SessionCache = field(init=False)
    #: the HTML pages (web/pages.py): templates compiled and checked once, here
    pages: Pages = field(init=False)

    def __post_init__(self) -> None:
        self.refresher = Refresher(self.settings, self.store, self.provider, self.clock)
        self.session_cache = SessionCache(self.settings.session_cache_ttl, self.store, self.clock)
        self.pages = Pages(self.settings)

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
        # the IdP's TLS: certifi, or provider_ca_files / the OS store (config/tls.py)
        http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(10.0), follow_redirects=False, verify=provider_verify(settings)
        )
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
            rules=Rules(settings, clock),
            route_rules=RouteRules(),
            paths=PathRules(
                settings.skip_auth_routes, settings.api_routes, settings.skip_auth_preflight
            ),
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

    async def load_session(self, cookie_header: str, host: str = "") -> Session | None:
        """The session behind the request's cookies, or None (bad cookies are 'no session')."""
        return (await self.open_session(cookie_header, host)).session

    async def open_session(self, cookie_header: str, host: str) -> Loaded:
        """The session (refreshed when due, see refresh.py) and the Set-Cookie to send, if any."""
        value = cookies.session_value(cookie_header, self.settings.cookie_name)
        if not value:
            return NO_SESSION
        session = self.session_cache.get(value)
        if session is None:
            generation = self.session_cache.generation
            try:
                session = await self.store.load(value)
            except InvalidSession as exc:
                log.warning("session cookie rejected: %s", exc.reason, extra={"reason": exc.reason})
                return NO_SESSION
            self.session_cache.put(value, session, generation)
        if session.expired(int(self.clock())):
            return NO_SESSION
        if not self.refresher.due(session):  # the usual case: no coroutine, no lock
            return Loaded(session)
        return await self.refresher.check(value, session, host)

    async def aclose(self) -> None:
        """Release network resources."""
        await self.store.close()
        await self.http.aclose()
