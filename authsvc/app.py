"""create_app(settings): the routes, one error handler, and the process lifespan.

`/oauth2/auth` is the hot path: proxy headers -> session -> rules -> headers, no middleware.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from . import logs
from .backchannel import BackchannelLogout
from .bearer import bearer_token
from .bodies import BodyTimeout, BodyTooLarge, capped_receive
from .client_ip import TrustedIPs
from .config import Settings
from .errors import AuthsvcError, TokenError
from .forwarded import DESCRIPTIONS, HEADERS_READ
from .htpasswd import Htpasswd
from .login import NO_CACHE, LoginFlows, add_cookies, redirect
from .logs import note_outcome
from .models import OriginalRequest
from .route_rules import HEADERS as RULE_HEADERS
from .route_rules import RouteCheck, RouteRule
from .services import Services
from .web import causes
from .web.request_id import HEADER as REQUEST_ID
from .web.request_id import echo_request_id, nobody

log = logging.getLogger("authsvc")

Handler = Callable[[Request], Awaitable[Response]]

#: the headers AuthEndpoint.handle decodes: forwarded.py's, route_rules.py's and the credentials
_READ = frozenset(
    name.encode() for name in (*HEADERS_READ, *RULE_HEADERS, "cookie", "authorization")
)

#: a per-route rule header sent twice: which copy is the rule cannot be known, so nobody passes
REPEATED_RULE = RouteRule(broken="a rule header arrived more than once")

ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

UNAUTHORIZED = b"Unauthorized\n"
FORBIDDEN = b"Forbidden\n"
#: RFC 6750 §3.1; nginx's auth_request passes this header on with its 401
INVALID_TOKEN = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


_NO_REPEATS: frozenset[str] = frozenset()


def _repeated(read: list[tuple[str, str]]) -> frozenset[str]:
    """The header names that occur more than once."""
    seen: set[str] = set()
    twice: set[str] = set()
    for name, _ in read:
        (twice if name in seen else seen).add(name)
    return frozenset(twice)


def is_browser_navigation(request: Request, original: OriginalRequest) -> bool:
    """A top-level page load in a browser (gets the sign-in redirect); API calls get 401."""
    headers = request.headers
    if original.method not in ("GET", "HEAD"):
        return False
    # scripts and API clients: a redirect to an IdP page is no use to them
    if headers.get("x-requested-with") or "authorization" in headers:
        return False
    accept = headers.get("accept", "")
    if "application/json" in accept:
        return False
    mode = headers.get("sec-fetch-mode")
    if mode and mode != "navigate":
        return False
    return "text/html" in accept


class AuthEndpoint:
    """GET (any method) /oauth2/auth: 2xx with identity headers, 401, or 403."""

    def __init__(self, services: Services) -> None:
        self.s = services
        self.success = services.settings.auth_success_status
        self.start = f"{services.settings.proxy_prefix}/start?rd="
        settings = services.settings
        #: oauth2-proxy's trusted_ips and htpasswd_file (client_ip.py, htpasswd.py); None when unset
        self.trusted_ips = TrustedIPs(settings, services.forwarded) if settings.trusted_ips else None
        self.htpasswd = Htpasswd(settings, services.clock) if settings.htpasswd_file else None

    def original(self, request: Request, headers: dict[str, str], repeated: bool) -> OriginalRequest:
        scope = request.scope
        raw = scope.get("raw_path") or scope["path"].encode()
        qs = scope.get("query_string", b"")
        path = raw.decode("latin-1") + ("?" + qs.decode("latin-1") if qs else "")
        client = scope.get("client")
        return self.s.forwarded.original_request(
            headers,
            scope["method"],
            path,
            headers.get("host", ""),
            scope.get("scheme", "http"),
            client[0] if client else None,  # Services.peer without building request.client
            repeated,
        )

    async def handle(self, request: Request) -> Response:
        # one plain dict of the headers the check reads, first value of each name (what
        # Headers.get returns): Starlette's Headers scans the whole list on every lookup, and
        # a browser sends a dozen headers the check never looks at
        read = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"] if k in _READ]
        headers = dict(reversed(read))
        # a header sent twice: the proxy sets each of these once, so one copy is the client's
        # (forwarded.py); the common case costs one length comparison
        repeats = _repeated(read) if len(read) != len(headers) else _NO_REPEATS
        original = self.original(request, headers, not repeats.isdisjoint(DESCRIPTIONS))
        # public routes first: no session is read, every identity header is sent empty
        if self.s.paths.skipped(original) or (
            self.trusted_ips is not None and self.trusted_ips.admits(request)
        ):
            note_outcome("skipped")
            return Response(status_code=self.success, headers=self.s.headers.empty())
        loaded = await self.s.open_session(headers.get("cookie", ""), original.host)
        session = loaded.session
        if session is None:
            token = bearer_token(headers.get("authorization")) if self.s.bearer.enabled else None
            if token is None:
                basic = await self.htpasswd.session(headers.get("authorization")) if self.htpasswd else None
                if basic is None:
                    return self.unauthenticated(request, original)
                session = basic
            else:
                try:
                    session = await self.s.bearer.session(token)
                except TokenError as exc:
                    log.info("auth: bearer token refused: %s", exc.reason)
                    return Response(UNAUTHORIZED, 401, INVALID_TOKEN, media_type="text/plain")
        decision = self.s.rules.authorize(session.identity, original)
        if decision.allowed:
            rule = (
                self.route_rule(request, headers)
                if repeats.isdisjoint(RULE_HEADERS)
                # only the first copy is in `headers`: the other might be the proxy's rule
                else REPEATED_RULE
            )
            decision = rule.check(session.identity) or decision
        if not decision.allowed:
            log.info(
                "auth: forbidden user=%s uri=%s reason=%s",
                session.identity.user, original.path, decision.reason,
                extra={"user": session.identity.user, "outcome": "forbidden", "reason": decision.reason},
            )
            if decision.status == 403 and self.shows_pages(request, original):
                return self.forbidden_page(original, session.identity.email or session.identity.user)
            return Response(FORBIDDEN, decision.status, media_type="text/plain")
        raw = self.s.headers.raw_for_session(session)
        if raw is None:
            # no header value says exactly who this is (headers.py logged why): refuse, never
            # send one that names someone else
            note_outcome("forbidden", "identity cannot be sent as headers")
            return Response(FORBIDDEN, 403, media_type="text/plain")
        response = Response(status_code=self.success)
        response.raw_headers += raw
        # at most one Set-Cookie (a refreshed cookie session): nginx relays only one
        return add_cookies(response, [loaded.set_cookie] if loaded.set_cookie else [])

    def route_rule(self, request: Request, headers: dict[str, str]) -> RouteCheck:
        """Per-route rules: the auth URL's query and the X-Authsvc-Allowed-* headers, both.

        Rules only narrow, so one is honoured wherever it is found and from whoever sent it
        (issue 11 §3): only the query of Envoy's prefix form is skipped, being the client's
        own URL, never a rule. Under `auto` a prefix path may be Envoy's or an auth URL with a
        path (`/oauth2/auth/app?allowed_groups=admins`): its query is read as rules, so a
        malformed one denies rather than being dropped.
        """
        rules = self.s.route_rules
        by_headers = rules.from_headers(headers)
        if self.s.forwarded.kind == "envoy" and "rest" in request.path_params:
            return by_headers
        by_query = rules.from_query(request.scope.get("query_string", b"").decode("latin-1"))
        return rules.both(by_query, by_headers)

    def shows_pages(self, request: Request, original: OriginalRequest) -> bool:
        """A browser navigation behind a proxy that relays our answer to it (Traefik, Caddy,
        Envoy): it gets the redirect, or the page, itself. nginx shows its own pages."""
        return (
            self.s.settings.browser_redirects
            and not self.s.paths.is_api(original)
            and is_browser_navigation(request, original)
        )

    def forbidden_page(self, original: OriginalRequest, user: str) -> Response:
        """The 403 as a page: who is signed in, that a rule denies it (never which), ways out."""
        prefix = self.s.settings.proxy_prefix
        again = quote(f"{prefix}/sign_in?rd={quote(original.url, safe='')}", safe="")
        return self.s.pages.forbidden(
            host=original.host, request_id=logs.current_id(), user=user, signed_in=True,
            switch_url=f"{prefix}/sign_out?rd={again}", sign_out_url=f"{prefix}/sign_out",
        )

    def unauthenticated(self, request: Request, original: OriginalRequest) -> Response:
        if self.shows_pages(request, original):
            # absolute: Traefik resolves a relative Location against the auth address
            location = f"{original.scheme}://{original.host}{self.start}{quote(original.url, safe='')}"
            return redirect(location)
        return Response(UNAUTHORIZED, 401, media_type="text/plain")


async def _on_error(request: Request, exc: Exception) -> Response:
    """Our errors become their status with a short text, or for a browser the error page of
    their cause; never a token in the body."""
    assert isinstance(exc, AuthsvcError)
    services: Services = request.app.state.services
    services.metrics.record_error(exc)
    level = logging.ERROR if exc.status >= 500 else logging.WARNING
    log.log(level, "%s %s: %s (status %d)", request.method, request.url.path, exc.reason, exc.status)
    # the check's answers stay plain: nginx never shows them, and they must stay small
    check = isinstance(request.app, AuthsvcApp) and request.app.is_check(request.scope["path"])
    if not check and request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", ""):
        _, host = services.public_origin(request)
        # /oauth2/start failed (the IdP is unreachable): the same start is the retry
        retry = request.url.path + ("?" + request.url.query if request.url.query else "")
        return services.pages.error(
            causes.for_error(exc, services.pages.idp), host=host, request_id=logs.current_id(),
            retry_url=retry if request.url.path.endswith("/start") else "",
        )
    return _plain_error(exc)


def _plain_error(exc: AuthsvcError) -> Response:
    headers = NO_CACHE
    if isinstance(exc, BodyTooLarge | BodyTimeout):  # the rest of the body is not worth reading
        headers = {**NO_CACHE, "Connection": "close"}
    return PlainTextResponse(exc.public + "\n", exc.status, headers=headers)


class AuthsvcApp(Starlette):
    """Starlette, with /oauth2/auth answered before its middleware stack and router.

    The check runs on every request of every protected site, so it skips the two exception
    middlewares, the route scan and the endpoint wrapper (bench/: about a fifth of a check's
    in-process cost). Its own handler is the same, instrumented one the router would call, and
    errors end the same way: our errors through `_on_error`, anything else as a logged 500.
    The check never reads a body; every other route reads at most `max_body` bytes, within
    `body_timeout` seconds (bodies.py).
    """

    def __init__(
        self, auth_handler: Handler, auth_path: str, max_body: int, body_timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._auth_handler = auth_handler
        self._auth_path = auth_path
        self._auth_prefix = auth_path + "/"
        self._max_body = max_body
        self._body_timeout = body_timeout

    def is_check(self, path: str) -> bool:
        """Whether `path` is /oauth2/auth (or under it, for Envoy)."""
        return path == self._auth_path or path.startswith(self._auth_prefix)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            ctx = self._begin(scope)
            path = scope["path"]
            if path == self._auth_path or path.startswith(self._auth_prefix):  # is_check, inline
                await self._auth(scope, receive, send, path, ctx)
                return
            receive = capped_receive(scope, receive, self._max_body, self._body_timeout)
            send = echo_request_id(send, ctx)
        await super().__call__(scope, receive, send)

    #: whether a peer's X-Request-ID is believed (Forwarded.is_trusted), set on first use
    _trusts: Callable[[str | None], bool] | None = None

    def _begin(self, scope: Scope) -> logs.RequestContext:
        """The request's log context; its X-Request-ID is believed from trusted proxies only."""
        trusts = self._trusts
        if trusts is None:
            services: Services = self.state.services
            trusts = services.forwarded.is_trusted if services.settings.reverse_proxy else nobody
            self._trusts = trusts
        client = scope.get("client")
        return logs.begin_request(scope["headers"], trusts(client[0]) if client else False)

    async def _auth(
        self, scope: Scope, receive: Receive, send: Send, path: str, ctx: logs.RequestContext
    ) -> None:
        scope["app"] = self
        # Envoy's path_prefix mode: what the router would have put in path_params
        scope["path_params"] = {"rest": path[len(self._auth_prefix):]} if path != self._auth_path else {}
        request = Request(scope, receive)
        try:
            response = await self._auth_handler(request)
        except AuthsvcError as exc:
            response = await _on_error(request, exc)
        except Exception:
            log.exception("%s %s: unexpected error", scope["method"], path)
            response = PlainTextResponse("internal error\n", 500, headers=NO_CACHE)
        response.raw_headers.append((REQUEST_ID, ctx.id.encode()))
        await response(scope, receive, send)


def create_app(
    settings: Settings, services: Services | None = None, extra_routes: list[BaseRoute] | None = None
) -> Starlette:
    """The ASGI application. `services` and `extra_routes` are for tests and the demo."""
    services = services or Services.build(settings)
    flows = LoginFlows(services)
    auth = AuthEndpoint(services)
    backchannel = BackchannelLogout(services)
    prefix = settings.proxy_prefix

    async def ping(request: Request) -> Response:
        return PlainTextResponse("OK")

    async def ready(request: Request) -> Response:
        try:
            await services.provider.ready()
            await services.store.ping()
        except AuthsvcError as exc:
            log.warning("not ready: %s", exc.reason)
            return PlainTextResponse(f"not ready: {exc.public}\n", 503)
        return PlainTextResponse("OK")

    async def robots(request: Request) -> Response:
        return PlainTextResponse("User-agent: *\nDisallow: /\n")

    routes: list[BaseRoute] = [
        Route(f"{prefix}/auth", auth.handle, methods=ANY_METHOD),
        # Envoy's path_prefix mode: /oauth2/auth/<original path>
        Route(f"{prefix}/auth/{{rest:path}}", auth.handle, methods=ANY_METHOD),
        Route(f"{prefix}/start", flows.start, methods=["GET", "POST"]),
        Route(f"{prefix}/callback", flows.callback, methods=["GET"]),
        Route(f"{prefix}/sign_out", flows.sign_out, methods=["GET", "POST"]),
        Route(f"{prefix}/sign_in", flows.sign_in, methods=["GET"]),
        Route(f"{prefix}/signed_out", flows.signed_out, methods=["GET"]),
        Route(f"{prefix}/userinfo", flows.userinfo, methods=["GET"]),
        Route(f"{prefix}/backchannel_logout", backchannel.handle, methods=["POST"]),
        Route(settings.ping_path, ping, methods=["GET", "HEAD"]),
        Route(settings.ready_path, ready, methods=["GET", "HEAD"]),
        Route("/robots.txt", robots, methods=["GET"]),
        *([Route("/liveness_check", ping, methods=["GET", "HEAD"]),
           Route("/readiness_check", ready, methods=["GET", "HEAD"])] if settings.gcp_healthchecks else []),
        *(extra_routes or []),
    ]
    # counted, timed and given a request id for the logs (metrics.py); no middleware
    routes = services.metrics.instrument_routes(routes, prefix, log_auth_requests=settings.log_requests)
    if settings.metrics_on_main_port:  # else `serve` exposes them on their own port (or, "-", nowhere)
        routes.append(Route("/metrics", services.metrics.endpoint(), methods=["GET"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # the Redis store's cache invalidations (session_cache.py): the cache is off until
        # this subscription is confirmed, so an app run without its lifespan never caches
        async with services.session_cache.watching():
            yield
        await services.aclose()

    # the instrumented /oauth2/auth handler (metrics, log context) that the fast path calls
    auth_handler = next(r.endpoint for r in routes if isinstance(r, Route) and r.path == f"{prefix}/auth")
    app = AuthsvcApp(
        auth_handler,
        f"{prefix}/auth",
        settings.max_request_body_bytes,
        settings.request_body_timeout,
        routes=routes,
        exception_handlers={AuthsvcError: _on_error},
        lifespan=lifespan,
    )
    app.state.services = services
    return app
