"""create_app(context): the routes, one error handler, the process lifespan, and the fast path.

`/oauth2/auth` is the hot path (web/auth.py): `AuthsvcApp` answers it before any middleware.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, quote

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import cookies
from ..check.forwarded import DESCRIPTIONS, HEADERS_READ, Forwarded
from ..check.paths import canonical_path
from ..config import Settings
from ..config.apps import App, AppRouter
from ..context import Context
from ..errors import AuthsvcError, BodyTimeout, BodyTooLarge, InvalidSession
from ..login.flows import LoginFlows, posted_params
from ..login.state import LoginStates
from . import causes, logs
from .any_path import AnyPathCheck, AnyPathRoute, envoy_asks_everywhere, pass_through_warnings
from .auth import AuthEndpoint, _repeated
from .backchannel import BackchannelLogout
from .bodies import capped_receive
from .metrics import ByApp, Metrics, NowHandler
from .request_id import echo_request_id
from .responses import NO_CACHE, redirect

log = logging.getLogger("authsvc")

Handler = Callable[[Request], Awaitable[Response]]

ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def _on_error(request: Request, exc: Exception) -> Response:
    """Our errors become their status with a short text, or for a browser the error page of
    their cause; never a token in the body."""
    assert isinstance(exc, AuthsvcError)
    context: Context = request.app.state.context
    context.metrics.record_error(exc)
    level = logging.ERROR if exc.status >= 500 else logging.WARNING
    log.log(level, "%s %s: %s (status %d)", request.method, request.url.path, exc.reason, exc.status,
            extra={"code": exc.code})
    # the check's answers stay plain: nginx never shows them, and they must stay small
    check = isinstance(request.app, AuthsvcApp) and request.app.is_check(request.scope["path"])
    if not check and request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", ""):
        client = request.scope.get("client")
        _, host = context.forwarded.public_origin(
            request.url.scheme, request.headers, client[0] if client else None
        )
        # /oauth2/start failed (the IdP is unreachable): the same start is the retry
        retry = request.url.path + ("?" + request.url.query if request.url.query else "")
        return context.pages.error(
            causes.for_error(exc, context.pages.idp), host=host, request_id=logs.current_id(),
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
        self, auth_handler: NowHandler, auth_path: str, max_body: int, body_timeout: float,
        trusts: Callable[[str | None], bool], request_id_header: str = "X-Request-ID",
        raw_routing: bool = False, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        #: route on the path as sent (web/any_path.py envoy_asks_everywhere): the app behind
        #: Envoy gets `/oauth2%2fsign_in` or `/%70ing`, never authsvc's decoded endpoint path
        self._raw_routing = raw_routing
        self._auth_handler = auth_handler
        #: whether a peer's request id is believed: the proxy trust of check/forwarded.py
        #: (False for every peer with reverse_proxy = false)
        self._trusts = trusts
        #: request_id_header as ASGI spells header names (lower-case bytes)
        self._id_header = request_id_header.lower().encode("ascii")
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
            raw = scope.get("raw_path")
            if self._raw_routing and raw and b"%" in raw:
                # decoded, it would be one of our own 200s that Envoy lets through to the app
                scope = {**scope, "path": raw.decode("latin-1")}
        await super().__call__(scope, receive, send)

    def _begin(self, scope: Scope) -> logs.RequestContext:
        """The request's log context; its X-Request-ID is believed from trusted proxies only."""
        client = scope.get("client")
        return logs.begin_request(scope["headers"], self._trusts(client[0] if client else None),
                                  self._id_header)

    async def _auth(
        self, scope: Scope, receive: Receive, send: Send, path: str, ctx: logs.RequestContext
    ) -> None:
        got = self._check_now(scope, receive, path, ctx)
        response = got if isinstance(got, Response) else await got
        await response(scope, receive, send)

    def check_now(self, scope: Scope, receive: Receive) -> Response | Awaitable[Response]:
        """The answer to the check request `scope` (a path is_check accepts), not yet sent: what
        the ASGI call would send. When the check must wait (the store, a refresh, a token to
        verify), an awaitable of it. web/lean.py writes it itself, without the ASGI messages."""
        return self._check_now(scope, receive, scope["path"], self._begin(scope))

    def _check_now(
        self, scope: Scope, receive: Receive, path: str, ctx: logs.RequestContext
    ) -> Response | Awaitable[Response]:
        scope["app"] = self
        # Envoy's path_prefix mode: what the router would have put in path_params
        scope["path_params"] = {"rest": path[len(self._auth_prefix):]} if path != self._auth_path else {}
        request = Request(scope, receive)
        try:
            got = self._auth_handler(request)
        except Exception as exc:
            return self._failed(request, exc, path, ctx)
        if isinstance(got, Response):
            got.raw_headers.append((ctx.header, ctx.id.encode()))
            return got
        return self._checking(request, got, path, ctx)

    async def _checking(
        self, request: Request, pending: Awaitable[Response], path: str, ctx: logs.RequestContext
    ) -> Response:
        try:
            response = await pending
        except Exception as exc:
            return await self._failed(request, exc, path, ctx)
        response.raw_headers.append((ctx.header, ctx.id.encode()))
        return response

    async def _failed(
        self, request: Request, exc: Exception, path: str, ctx: logs.RequestContext
    ) -> Response:
        """Our errors through `_on_error`, anything else as a logged 500 (as the router's)."""
        if isinstance(exc, AuthsvcError):
            response = await _on_error(request, exc)
        else:
            log.error("%s %s: unexpected error", request.scope["method"], path, exc_info=exc)
            response = PlainTextResponse("internal error\n", 500, headers=NO_CACHE)
        response.raw_headers.append((ctx.header, ctx.id.encode()))
        return response


def create_app(context: Context, extra_routes: list[BaseRoute] | None = None) -> AuthsvcApp:
    """The ASGI application of one process context (`Context.build(settings)`); `extra_routes`
    are for the demo."""
    settings = context.settings
    flows = LoginFlows(context)
    auth = AuthEndpoint(context)
    backchannel = BackchannelLogout(context)
    prefix = settings.proxy_prefix

    async def ping(request: Request) -> Response:
        return PlainTextResponse("OK")

    async def ready(request: Request) -> Response:
        try:
            await context.provider.ready()
            await context.store.ping()
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
        # force_https: the login endpoints only, see LoginFlows.https_only
        Route(f"{prefix}/start", flows.https_only(flows.start), methods=["GET", "POST"]),
        # POST only when the IdP is asked to post its answer (form_post): fail closed otherwise
        Route(f"{prefix}/callback", flows.https_only(flows.callback),
              methods=["GET", "POST"] if settings.form_post else ["GET"]),
        Route(f"{prefix}/sign_out", flows.https_only(flows.sign_out), methods=["GET", "POST"]),
        Route(f"{prefix}/sign_in", flows.https_only(flows.sign_in), methods=["GET"]),
        Route(f"{prefix}/signed_out", flows.signed_out, methods=["GET"]),
        Route(f"{prefix}/userinfo", flows.userinfo, methods=["GET"]),
        Route(f"{prefix}/backchannel_logout", backchannel.handle, methods=["POST"]),
        Route(settings.ping_path, ping, methods=["GET", "HEAD"]),
        Route(settings.ready_path, ready, methods=["GET", "HEAD"]),
        # under Envoy without path_prefix /robots.txt is the app's: a 200 here would let it through
        *([] if envoy_asks_everywhere(settings) else [Route("/robots.txt", robots, methods=["GET"])]),
        *([Route("/liveness_check", ping, methods=["GET", "HEAD"]),
           Route("/readiness_check", ready, methods=["GET", "HEAD"])] if settings.gcp_healthchecks else []),
        *(extra_routes or []),
    ]
    # counted, timed and given a request id for the logs (metrics.py); no middleware
    routes = context.metrics.instrument_routes(
        routes, prefix, log_auth_requests=settings.log_requests,
        exclude_logging_paths=settings.exclude_logging_paths, check_now=auth.handle_now)
    if settings.metrics_on_main_port:  # else `serve` exposes them on their own port (or, "-", nowhere)
        routes.append(Route("/metrics", context.metrics.endpoint(), methods=["GET"]))
    for line in pass_through_warnings(settings):
        log.warning("%s", line)
    if settings.any_path_auth_status:
        # oauth2-proxy's static upstream: the check at every other path (web/any_path.py), last
        any_path = AnyPathCheck(context, flows)
        reserved = [r.path for r in routes if isinstance(r, Route) and "{" not in r.path]
        routes.append(AnyPathRoute(prefix, reserved, context.metrics.instrument_check(
            any_path.handle, log_auth_requests=settings.log_requests,
            exclude_logging_paths=settings.exclude_logging_paths)))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # the Redis store's cache invalidations (sessions/cache.py): the cache is off until
        # this subscription is confirmed, so an app run without its lifespan never caches
        async with context.session_cache.watching():
            yield
        await context.aclose()

    # the instrumented /oauth2/auth handler (metrics, log context) that the fast path calls
    auth_handler = next(r.endpoint for r in routes if isinstance(r, Route) and r.path == f"{prefix}/auth")
    app = AuthsvcApp(
        context.metrics.now_handler(auth_handler),
        f"{prefix}/auth",
        settings.max_request_body_bytes,
        settings.request_body_timeout,
        context.forwarded.is_trusted,
        settings.request_id_header,
        envoy_asks_everywhere(settings),
        routes=routes,
        exception_handlers={AuthsvcError: _on_error},
        lifespan=lifespan,
    )
    app.state.context = context
    return app


#: the headers that describe the original request's host or path (check/forwarded.py)
_HOST_DESCRIBERS = frozenset((*DESCRIPTIONS, "x-forwarded-host", "x-auth-request-redirect"))


class AppDispatcher:
    """Several apps in one process (config/apps.py): each request goes to its app's whole
    single-app ASGI application, selected by the request's public host and path.

    The check reads the original request as the app will (check/forwarded.py: X-Original-URI,
    X-Forwarded-Host, ... from trusted proxies only); the login endpoints read Host or a trusted
    X-Forwarded-Host, as they do for their redirect URIs. No app is fail-closed: 403 at the
    check (a 401 would send the browser to a sign-in page no app serves), 421 Misdirected
    Request (RFC 9110 §15.5.20) elsewhere. /ping, /ready (every app) and /metrics are the
    process's, whatever the host.
    """

    def __init__(
        self, apps: list[tuple[App, ASGIApp]], members: list[AuthsvcApp], settings: Settings,
        collector: Collector,
    ) -> None:
        #: every app's metrics, labelled by app (web/metrics.ByApp)
        self.collector = collector
        self._metrics = settings.metrics_on_main_port
        self._router: AppRouter[ASGIApp] = AppRouter(apps)
        self._prefixed = any(app.path_prefix for app, _ in apps)
        #: every single-app application (one per app, or per provider of an app)
        self._apps = members
        self._forwarded = Forwarded(settings)
        self._auth_path = settings.proxy_prefix + "/auth"
        self._auth_prefix = self._auth_path + "/"
        self._ready = {settings.ready_path, *(["/readiness_check"] if settings.gcp_healthchecks else [])}
        self._process = {settings.ping_path, "/robots.txt", "/liveness_check"}
        self._backchannel = settings.proxy_prefix + "/backchannel_logout"
        self._max_body = settings.max_request_body_bytes
        self._body_timeout = settings.request_body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path in self._ready:
            await self._all_ready()(scope, receive, send)
            return
        if path == "/metrics" and self._metrics:
            body = generate_latest(self.collector)
            await Response(body, media_type=CONTENT_TYPE_LATEST)(scope, receive, send)
            return
        if path in self._process:  # the same in every app
            await self._apps[0](scope, receive, send)
            return
        if path == self._backchannel and scope["method"] == "POST":
            await self._backchannel_logout(scope, receive, send)
            return
        check = path == self._auth_path or path.startswith(self._auth_prefix)
        chosen = self._select_check(scope) if check else self._select_login(scope)
        if chosen is None:
            if check:
                log.warning("auth: no app for this host; forbidden", extra={"outcome": "forbidden",
                            "reason": "no app for this host"})  # fmt: skip
                response: Response = PlainTextResponse("Forbidden\n", 403, headers=NO_CACHE)
            else:
                response = PlainTextResponse("no app is configured for this host\n", 421, headers=NO_CACHE)
            await response(scope, receive, send)
            return
        app, handler = chosen
        if check and app.path_prefix:
            # the app's endpoints live under its prefix (/grafana/oauth2/auth); nginx asks /oauth2/auth
            scope = dict(scope)
            scope["path"] = app.settings.proxy_prefix + path[len(self._auth_path) - len("/auth"):]
            scope["raw_path"] = scope["path"].encode()
        await handler(scope, receive, send)

    async def _backchannel_logout(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The IdP posts to one address for every app: the logout token's `iss` and `aud`
        select the apps (and providers) it is for, each of which verifies it in full (OIDC
        Back-Channel Logout 1.0 §2.6); a token that names none goes by host like the rest."""
        try:
            body = await read_body(scope, receive, self._max_body, self._body_timeout)
        except AuthsvcError as exc:  # too large or too slow (web/bodies.py)
            await _plain_error(exc)(scope, receive, send)
            return
        members: list[ASGIApp] = [m for m in self._apps if _logout_token_for(body, m.state.context.settings)]
        if not members:
            chosen = self._select_login(scope)
            if chosen is None:
                await PlainTextResponse("no app is configured for this host\n", 421, headers=NO_CACHE)(
                    scope, receive, send)
                return
            members = [chosen[1]]
        answers = [await _captured(member, scope, body) for member in members]
        # 200 only when every app ended its sessions; else the first failure (the IdP retries)
        answer = next((a for a in answers if a[0]["status"] != 200), answers[0])
        for message in answer:
            await send(message)

    def _select_check(self, scope: Scope) -> tuple[App, ASGIApp] | None:
        read = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"] if k in _CHECK_READ]
        headers = dict(reversed(read))
        repeated = len(read) != len(headers) and not _repeated(read).isdisjoint(DESCRIPTIONS)
        raw = scope.get("raw_path") or scope["path"].encode()
        qs = scope.get("query_string", b"")
        client = scope.get("client")
        original = self._forwarded.original_request(
            headers, scope["method"], raw.decode("latin-1") + ("?" + qs.decode("latin-1") if qs else ""),
            headers.get("host", ""), scope.get("scheme", "http"), client[0] if client else None, repeated,
        )
        if not original.verified and not _HOST_DESCRIBERS.isdisjoint(headers):
            # choosing the app is a decision like a public route: a host (or path) from headers
            # the proxy did not vouch for is the client's word, and would let a session of another
            # app answer for this one (check/forwarded.py: auto and incomplete descriptions). A
            # check that describes nothing is judged as itself (its own Host), like Envoy's.
            log.warning("auth: the original request is not vouched for by proxy_kind %r: no app",
                        self._forwarded.kind, extra={"outcome": "forbidden", "reason": "unverified host"})
            return None
        if not self._prefixed:  # the usual case: the host alone selects, no path is decoded
            return self._router.select(original.host, "/")
        try:
            path = canonical_path(original.uri.split("?", 1)[0])
        except UnicodeDecodeError:
            path = None
        return self._router.select(original.host, path)

    def _select_login(self, scope: Scope) -> tuple[App, ASGIApp] | None:
        headers = Headers(scope=scope)
        client = scope.get("client")
        _, host = self._forwarded.public_origin(scope.get("scheme", "http"), headers,
                                                client[0] if client else None)
        return self._router.select(host, scope["path"])

    def _all_ready(self) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        async def ready(scope: Scope, receive: Receive, send: Send) -> None:
            for app in self._apps:
                context: Context = app.state.context
                try:
                    await context.provider.ready()
                    await context.store.ping()
                except AuthsvcError as exc:
                    log.warning("not ready: app %s: %s", context.app, exc.reason)
                    await PlainTextResponse(f"not ready: app {context.app}: {exc.public}\n", 503)(
                        scope, receive, send)
                    return
            await PlainTextResponse("OK")(scope, receive, send)
        return ready

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        async with contextlib.AsyncExitStack() as stack:
            try:
                for app in self._apps:
                    await stack.enter_async_context(app.router.lifespan_context(app))
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                raise
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
        await send({"type": "lifespan.shutdown.complete"})


def _logout_token_for(body: bytes, settings: Settings) -> bool:
    """Whether the (not yet verified) logout token in a form body names this issuer and client.
    Only a routing hint: the app it selects verifies the token's signature and claims."""
    try:
        token = parse_qs(body.decode("ascii"), max_num_fields=20).get("logout_token", [""])[0]
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, IndexError, UnicodeDecodeError, RecursionError):
        return False
    if not isinstance(claims, dict) or not settings.oidc_issuer_url:
        return False
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    return claims.get("iss") == settings.oidc_issuer_url and (
        settings.client_id in auds or any(a in auds for a in settings.oidc_extra_audiences))


async def read_body(scope: Scope, receive: Receive, limit: int, timeout: float) -> bytes:
    """The whole request body, within `limit` bytes and `timeout` seconds (web/bodies.py), for
    a request the dispatcher must read before it knows its app; b"" if the client left."""
    capped = capped_receive(scope, receive, limit, timeout)
    body = b""
    while True:
        message = await capped()
        if message["type"] != "http.request":
            return b""
        chunk: bytes = message.get("body", b"")
        body += chunk
        if not message.get("more_body", False):
            return body


def _replayed(body: bytes) -> Receive:
    """A receive that hands over a body already read, once, then a disconnect."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _captured(app: ASGIApp, scope: Scope, body: bytes) -> list[Message]:
    """Run `app` on a request whose body was already read; its response messages."""
    out: list[Message] = []

    async def send(message: Message) -> None:
        out.append(message)

    await app(dict(scope), _replayed(body), send)
    return out



async def _opens(ctx: Context, cookie_header: str) -> bool:
    """Whether the request's session cookie of `ctx` holds a live session of its own (the
    loader's test, without the refresh; the loader itself answers the request)."""
    value = cookies.session_value(cookie_header, ctx.settings.cookie_name)
    if not value:
        return False
    session = ctx.session_cache.get(value)
    if session is None:
        try:
            session = await ctx.store.load(value)
        except InvalidSession:
            return False
        except AuthsvcError:
            return True  # the store is down: that provider answers it (fail closed, 5xx)
    return session.app == ctx.app and not session.expired(int(ctx.clock()))


#: what the dispatcher reads to find the original request (the check's own set, less credentials)
_CHECK_READ = frozenset(name.encode() for name in HEADERS_READ)


class ProviderChooser:
    """One app with several providers (`[[apps.providers]]`): each provider is a whole
    single-app application with its own cookie (`<cookie_name>_<id>`), and this picks one.

    - the check, /userinfo and /sign_out: the provider whose session cookie the request has
      (with several, the first whose session is live; else the first, which answers "no
      session"); /sign_out with several cookies ends each provider's session;
    - /start?provider=<id>: that one; /start without it: the sign-in page offering each;
    - /callback: the provider whose login-state cookie opens this `state` (each seals its own);
    - /sign_in: a button per provider.
    """

    def __init__(self, app: App, members: list[tuple[str, AuthsvcApp]]) -> None:
        self._members = members
        self._by_id = dict(members)
        self._prefix = app.settings.proxy_prefix
        first: Context = members[0][1].state.context
        self._first = first
        self._cookies = [(m, m.state.context.settings.cookie_name) for _, m in members]
        self._states = [
            (m, LoginStates(c.login_sealer, c.settings.cookie_name, c.settings.cookie_csrf_expire, c.clock))
            for _, m in members for c in [m.state.context]
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        sub = path[len(self._prefix):] if path.startswith(self._prefix + "/") else ""
        request = Request(scope)
        if sub == "/start":
            pid = request.query_params.get("provider")
            if pid is None:
                target = f"{self._prefix}/sign_in" + (f"?{scope['query_string'].decode('latin-1')}"
                                                       if scope.get("query_string") else "")
                await redirect(target)(scope, receive, send)
                return
            member = self._by_id.get(pid)
            if member is None:
                await PlainTextResponse("unknown provider\n", 400, headers=NO_CACHE)(scope, receive, send)
                return
            await member(scope, receive, send)
            return
        if sub == "/sign_in":
            await self._sign_in(request)(scope, receive, send)
            return
        if sub == "/callback":
            state = request.query_params.get("state", "")
            if scope["method"] == "POST":
                # form_post: the state is in the IdP's form body, so the body is read here
                # (within the first provider's cap) and handed on to the provider whose login it is
                body = await self._capped_body(scope, receive, send)
                if body is None:
                    return
                state = posted_params(request.headers.get("content-type", ""), body).get("state", "")
                receive = _replayed(body)
            await self._callback_member(request, state)(scope, receive, send)
            return
        header = request.headers.get("cookie", "")
        present = [m for m, name in self._cookies if header and cookies.session_value(header, name)]
        if sub == "/sign_out" and len(present) > 1:
            await self._sign_out_all(present, scope, receive, send)
            return
        if len(present) > 1:
            # a cookie can outlive its session (back-channel logout, expiry, a rotated secret):
            # the first provider whose session opens answers, or the user who signed in with
            # another provider since would be sent to sign in again, and again
            present = [m for m in present if await _opens(m.state.context, header)] or present
        await (present[0] if present else self._members[0][1])(scope, receive, send)

    def _callback_member(self, request: Request, state: str) -> AuthsvcApp:
        """The provider whose login-state cookie opens `state`; else the first, which explains
        the failed login."""
        jar = cookies.parse_cookie_header(request.headers.get("cookie", ""))
        for member, states in self._states:
            name = states.name(state)
            if name and name in jar:
                try:
                    states.open(jar, state)
                except AuthsvcError:
                    continue
                return member
        return self._members[0][1]

    async def _capped_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The request body within the first provider's cap, or None once a 413/408 was sent
        (too large or too slow, web/bodies.py)."""
        settings = self._first.settings
        try:
            return await read_body(scope, receive, settings.max_request_body_bytes,
                                   settings.request_body_timeout)
        except AuthsvcError as exc:
            await _plain_error(exc)(scope, receive, send)
            return None

    async def _sign_out_all(
        self, present: list[AuthsvcApp], scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Sign-out with sessions of several of the app's providers: each ends its own; the
        answer is the first's (a failure, 503, wins) with every provider's cookies expired."""
        body = await self._capped_body(scope, receive, send)
        if body is None:
            return
        answers = [await _captured(member, scope, body) for member in present]
        answer = next((a for a in answers if a[0]["status"] >= 500), answers[0])
        start = dict(answer[0])
        extra = [(k, v) for a in answers if a is not answer for k, v in a[0].get("headers", [])
                 if k.lower() == b"set-cookie"]
        start["headers"] = [*answer[0].get("headers", []), *extra]
        await send(start)
        for message in answer[1:]:
            await send(message)

    def _sign_in(self, request: Request) -> Response:
        first = self._first
        client = request.client
        _, host = first.forwarded.public_origin(request.url.scheme, request.headers,
                                                client.host if client else None)
        # the start of each provider validates rd itself (login/redirects.py)
        rd = quote(request.query_params.get("rd", "/")[:2048], safe="")
        providers = [
            {"id": pid, "name": member.state.context.pages.provider_name,
             "url": f"{self._prefix}/start?provider={pid}&rd={rd}"}
            for pid, member in self._members
        ]
        return first.pages.sign_in(host=host, request_id=logs.current_id(),
                                   start_url=providers[0]["url"], providers=providers)


def create_apps_app(apps: list[App]) -> AppDispatcher:
    """The ASGI application of several apps: one single-app application per app (or per
    provider of an app), each on its own Context (the merged settings) and metrics registry,
    exposed together labelled by app (web/metrics.ByApp). With several workers (prometheus'
    multiprocess mode keys values by metric and labels, not by registry) they share one, and
    the apps' series are summed."""
    shared = Metrics() if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else None
    routes: list[tuple[App, ASGIApp]] = []
    members: list[AuthsvcApp] = []
    for app in apps:
        if not app.providers:
            single = create_app(Context.build(app.settings, app=app.name, metrics=shared))
            routes.append((app, single))
            members.append(single)
            continue
        # the session records "<app>/<provider>": another provider's is no session either
        each = [(p.id, create_app(Context.build(p.settings, app=f"{app.name}/{p.id}", metrics=shared)))
                for p in app.providers]
        routes.append((app, ProviderChooser(app, each)))
        members += [m for _, m in each]
    collector: Collector = (shared.collector() if shared is not None else
                            ByApp([(m.state.context.app, m.state.context.metrics.registry) for m in members]))
    return AppDispatcher(routes, members, apps[0].settings, collector)
