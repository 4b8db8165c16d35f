"""create_app(settings): the routes, one error handler, and the process lifespan.

`/oauth2/auth` is the hot path: proxy headers -> session -> rules -> headers, no middleware.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from .config import Settings
from .errors import AuthsvcError
from .login import NO_CACHE, LoginFlows, redirect
from .models import OriginalRequest
from .services import Services

log = logging.getLogger("authsvc")

ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

UNAUTHORIZED = b"Unauthorized\n"
FORBIDDEN = b"Forbidden\n"


def is_browser_navigation(request: Request, original: OriginalRequest) -> bool:
    """A top-level page load in a browser (gets the sign-in redirect); API calls get 401."""
    headers = request.headers
    if original.method not in ("GET", "HEAD"):
        return False
    if headers.get("x-requested-with"):
        return False
    mode = headers.get("sec-fetch-mode")
    if mode and mode != "navigate":
        return False
    return "text/html" in headers.get("accept", "")


class AuthEndpoint:
    """GET (any method) /oauth2/auth: 2xx with identity headers, 401, or 403."""

    def __init__(self, services: Services) -> None:
        self.s = services
        self.success = services.settings.auth_success_status
        self.start = f"{services.settings.proxy_prefix}/start?rd="

    def original(self, request: Request) -> OriginalRequest:
        scope = request.scope
        raw = scope.get("raw_path") or scope["path"].encode()
        qs = scope.get("query_string", b"")
        path = raw.decode("latin-1") + ("?" + qs.decode("latin-1") if qs else "")
        return self.s.forwarded.original_request(
            request.headers,
            request.method,
            path,
            request.headers.get("host", ""),
            scope.get("scheme", "http"),
            self.s.peer(request),
        )

    async def handle(self, request: Request) -> Response:
        original = self.original(request)
        session = await self.s.load_session(request.headers.get("cookie", ""))
        if session is None:
            return self.unauthenticated(request, original)
        decision = self.s.rules.authorize(session.identity, original)
        if not decision.allowed:
            log.info(
                "auth: forbidden user=%s uri=%s reason=%s",
                session.identity.user, original.path, decision.reason,
            )
            return Response(FORBIDDEN, decision.status, media_type="text/plain")
        return Response(status_code=self.success, headers=self.s.headers.for_session(session))

    def unauthenticated(self, request: Request, original: OriginalRequest) -> Response:
        if self.s.settings.browser_redirects and is_browser_navigation(request, original):
            # absolute: Traefik resolves a relative Location against the auth address
            location = f"{original.scheme}://{original.host}{self.start}{quote(original.url, safe='')}"
            return redirect(location)
        return Response(UNAUTHORIZED, 401, media_type="text/plain")


async def _on_error(request: Request, exc: Exception) -> Response:
    """Our errors become their status with a short text; never a token in the body."""
    assert isinstance(exc, AuthsvcError)
    level = logging.ERROR if exc.status >= 500 else logging.WARNING
    log.log(level, "%s %s: %s (status %d)", request.method, request.url.path, exc.reason, exc.status)
    return PlainTextResponse(exc.public + "\n", exc.status, headers=NO_CACHE)


def create_app(
    settings: Settings, services: Services | None = None, extra_routes: list[BaseRoute] | None = None
) -> Starlette:
    """The ASGI application. `services` and `extra_routes` are for tests and the demo."""
    services = services or Services.build(settings)
    flows = LoginFlows(services)
    auth = AuthEndpoint(services)
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
        Route(f"{prefix}/userinfo", flows.userinfo, methods=["GET"]),
        Route("/ping", ping, methods=["GET", "HEAD"]),
        Route("/ready", ready, methods=["GET", "HEAD"]),
        Route("/robots.txt", robots, methods=["GET"]),
        *(extra_routes or []),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await services.aclose()

    app = Starlette(
        routes=routes,
        exception_handlers={AuthsvcError: _on_error},
        lifespan=lifespan,
    )
    app.state.services = services
    return app
