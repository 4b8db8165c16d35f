"""The process context: everything built once per app from settings, shared by all requests.

A frozen value, wired in one place (`Context.build`): handlers read their collaborators from
it and never replace one. Nothing here is created per request (no clients, ciphers or regexes
on the hot path), and nothing here knows about HTTP requests: the forwarded headers are read in
`check/forwarded.py`, responses are made in `web/`.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from . import cookies
from .check.decide import Access
from .check.forwarded import Forwarded
from .check.headers import IdentityHeaders
from .check.paths import PathRules
from .check.route_rules import RouteRules
from .check.rules import Rules
from .clock import Clock, Random, system_clock, system_random
from .config import Settings
from .config.tls import provider_verify
from .crypto import Sealer
from .login.redirects import RedirectPolicy
from .providers import create_provider
from .providers.base import Provider
from .providers.bearer import BearerAuth
from .sessions import SessionStore, create_store
from .sessions.cache import SessionCache, SharedStore
from .sessions.cache_key import CacheKeys
from .sessions.loader import SessionLoader
from .sessions.purge import CachePurge
from .sessions.refresh import Refresher
from .web.metrics import Metrics
from .web.pages import Pages


@dataclass(frozen=True, slots=True)
class Context:
    """Shared, long-lived collaborators of the request handlers (build with `Context.build`)."""

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
    #: Prometheus metrics of this app (web/metrics.py)
    metrics: Metrics
    refresher: Refresher
    #: verified sessions by cookie value, a few seconds (sessions/cache.py)
    session_cache: SessionCache
    #: cookie header -> session (sessions/loader.py)
    loader: SessionLoader
    #: the HTML pages (web/pages.py): templates compiled and checked once, here
    pages: Pages
    #: nginx's decision cache, purged on sign-out, refresh and back-channel logout (sessions/purge.py)
    purge: CachePurge
    #: the app's name ("" = the implicit single app; config/apps.py), recorded in its sessions
    app: str = ""

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
        app: str = "",
        metrics: Metrics | None = None,
    ) -> Context:
        """Wire everything from settings; tests inject the clock, randomness and fakes."""
        # the IdP's TLS: certifi, or provider_ca_files / the OS store (config/tls.py)
        http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(10.0), follow_redirects=False, verify=provider_verify(settings)
        )
        metrics = metrics or Metrics()  # apps share the process's (not labelled by app)
        metrics.instrument_client(http)  # authsvc_idp_request_seconds, by event hooks
        store = store or create_store(settings, clock)
        provider = provider or create_provider(settings, http, clock)
        purge = CachePurge(settings.nginx_cache_purge_url, CacheKeys(settings.cache_key_secret), http)
        refresher = Refresher(
            settings.cookie_refresh, store, provider, clock, record=metrics.record_refresh,
            purge=purge.purge,
        )
        shared = store if isinstance(store, SharedStore) else None
        cache = SessionCache(settings.session_cache_ttl, shared, clock)
        if shared is not None and cache.ttl > 0:
            # the store tells this process's cache at once, before it PUBLISHes to the others
            shared.on_change(cache.drop)
        return cls(
            settings=settings,
            clock=clock,
            random=random,
            http=http,
            store=store,
            provider=provider,
            forwarded=Forwarded(settings),
            redirects=RedirectPolicy(settings.whitelist_domains),
            access=Access(
                PathRules(settings.skip_auth_routes, settings.api_routes, settings.skip_auth_preflight),
                Rules(settings, clock),
            ),
            route_rules=RouteRules(),
            bearer=BearerAuth(settings, http, clock),
            headers=IdentityHeaders(
                settings, machines=bool(settings.allowed_clients or settings.allowed_subjects)),
            cookie_settings=cookies.CookieSettings.from_settings(settings, form_post=settings.form_post),
            login_sealer=Sealer(settings.secret_keys, "login-state"),
            metrics=metrics,
            refresher=refresher,
            session_cache=cache,
            loader=SessionLoader(settings.cookie_name, store, cache, refresher, clock, app),
            pages=Pages(settings),
            purge=purge,
            app=app,
        )

    async def aclose(self) -> None:
        """Release network resources."""
        await self.store.close()
        await self.http.aclose()
