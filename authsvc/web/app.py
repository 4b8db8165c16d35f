"""create_app(context): the routes, one error handler, the process lifespan, and the fast path.

`/oauth2/auth` is the hot path (web/auth.py): `AuthsvcApp` answers it before any middleware.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from ..context import Context
from ..errors import AuthsvcError, BodyTimeout, BodyTooLarge
from ..login.flows import LoginFlows
from . import causes, logs
from .auth import AuthEndpoint
from .backchannel import BackchannelLogout
from .bodies import capped_receive
from .request_id import HEADER as REQUEST_ID
from .request_id import echo_request_id, nobody
from .responses import NO_CACHE

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
            context: Context = self.state.context
            trusts = context.forwarded.is_trusted if context.settings.reverse_proxy else nobody
            self._trusts = trusts
        client = scope.get("client")
        return logs.begin_request(scope["headers"], trusts(client[0]) if client else False)

    async def _auth(
        self, scope: Scope, receive: Receive, send: Send, path: str, ctx: logs.RequestContext
    ) -> None:
        response = await self._check(scope, receive, path, ctx)
        await response(scope, receive, send)

    async def check(self, scope: Scope, receive: Receive) -> Response:
        """The answer to the check request `scope` (a path is_check accepts), not yet sent: what
        the ASGI call would send. web/lean.py writes it itself, without the ASGI messages."""
        return await self._check(scope, receive, scope["path"], self._begin(scope))

    async def _check(self, scope: Scope, receive: Receive, path: str, ctx: logs.RequestContext) -> Response:
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
        return response


def create_app(context: Context, extra_routes: list[BaseRoute] | None = None) -> Starlette:
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
    routes = context.metrics.instrument_routes(routes, prefix, log_auth_requests=settings.log_requests)
    if settings.metrics_on_main_port:  # else `serve` exposes them on their own port (or, "-", nowhere)
        routes.append(Route("/metrics", context.metrics.endpoint(), methods=["GET"]))

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
        auth_handler,
        f"{prefix}/auth",
        settings.max_request_body_bytes,
        settings.request_body_timeout,
        routes=routes,
        exception_handlers={AuthsvcError: _on_error},
        lifespan=lifespan,
    )
    app.state.context = context
    return app
