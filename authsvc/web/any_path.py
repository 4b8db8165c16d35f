"""The check at every path outside proxy_prefix (`any_path_auth_status`): oauth2-proxy's
"static upstream" set-up, forward-auth pointed at `/` (Traefik's documented "ForwardAuth with
static upstreams configuration", Istio and Caddy alike).

oauth2-proxy with `upstreams = static://202` answers every other path as its proxy
(oauthproxy.go `Proxy()`, pkg/upstream/static.go): signed in and allowed, the static code with
the response headers; no session, a JSON request (`Accept: application/json`) or an API route
gets 401, anything else the login started at once (`skip_provider_button`) or the sign-in page
with 403; signed in but denied, 403. The proxy relays any non-2xx answer to the browser, so
these are the pages themselves.

It is /oauth2/auth's own check (AuthEndpoint: the same original request, public routes,
session, bearer tokens, rules, identity headers, logs and metrics) with three answers changed:
the success status, what a caller without a session gets, and the forbidden page for every
caller but API ones. It runs on the router's path: /oauth2/auth's fast path is untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from ..check.route_rules import RouteCheck
from ..config import Settings
from ..context import Context
from ..login.flows import LoginFlows
from ..models import OriginalRequest
from .auth import AuthEndpoint
from .logs import note_outcome


class AnyPathCheck(AuthEndpoint):
    """The check answered at any path: `any_path_auth_status`, a sign-in, or 401/403."""

    def __init__(self, services: Context, flows: LoginFlows) -> None:
        super().__init__(services)
        self.success = services.settings.any_path_auth_status
        self.flows = flows

    def api_call(self, request: Request, original: OriginalRequest) -> bool:
        """A caller a sign-in page is no use to: JSON (oauth2-proxy's isAjax), XHR or fetch()
        (Fetch Metadata: not a navigation), a client with credentials of its own, or an
        `api_routes` path."""
        headers = request.headers
        mode = headers.get("sec-fetch-mode")
        return (
            "application/json" in headers.get("accept", "")
            or bool(headers.get("x-requested-with"))
            or bool(mode and mode != "navigate")
            or "authorization" in headers
            or self.s.access.api(original)
        )

    def shows_pages(self, request: Request, original: OriginalRequest) -> bool:
        """Every caller but an API one gets the forbidden page: the proxy relays it."""
        return not self.api_call(request, original)

    async def unauthenticated(self, request: Request, original: OriginalRequest) -> Response:
        """401 for API calls; else start the login (skip_provider_button) or the sign-in page,
        403, both returning to the original URL as the proxy described it."""
        if self.api_call(request, original):
            return self._unauthorized.copy()  # /oauth2/auth's own 401, encoded once
        note_outcome("unauthenticated")
        rd = self.flows.safe_rd(request, original.url)
        if self.s.settings.skip_provider_button:
            return await self.flows.start_at(request, rd)
        return self.flows.sign_in_page(request, rd, status=403)

    def route_rule(self, request: Request, headers: dict[str, str]) -> RouteCheck:
        """Per-route rules as at /oauth2/auth; under Envoy the query is the client's own URL's
        (no prefix form here), so only the rule headers count."""
        if self.s.forwarded.kind == "envoy":
            return self.s.route_rules.from_headers(headers)
        return super().route_rule(request, headers)


class AnyPathRoute(Route):
    """`/{path}` for every method, but never a path under `prefix` nor one of `reserved` (the
    other routes' own paths: /ping, /ready, /metrics...), so those keep their 404 and 405."""

    def __init__(self, prefix: str, reserved: Collection[str],
                 endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        super().__init__("/{path:path}", endpoint, include_in_schema=False)
        self.methods = None  # every method, as oauth2-proxy's proxy (Envoy asks with the original one)
        self._prefix = prefix
        self._reserved = frozenset(reserved)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path in self._reserved or path == self._prefix or path.startswith(self._prefix + "/"):
                return Match.NONE, {}
        return super().matches(scope)


def envoy_asks_everywhere(settings: Settings) -> bool:
    """Whether checks may arrive at the client's own paths (Envoy's ext_authz without
    path_prefix; `auto` too: the oauth2-proxy cfg of Istio's recipe names no kind): then every
    path authsvc answers 200 outside `proxy_prefix` is one Envoy lets through to the app
    unauthenticated (Envoy's HTTP ext_authz allows on 200 alone). The other kinds' proxies ask
    at the address configured, never at the client's path."""
    return bool(settings.any_path_auth_status) and settings.proxy_kind in ("envoy", "auto")


def pass_through_warnings(settings: Settings) -> list[str]:
    """One warning for the probe paths outside proxy_prefix that answer 200 under Envoy."""
    if not envoy_asks_everywhere(settings):
        return []
    prefix = settings.proxy_prefix
    paths = [p for p in (settings.ping_path, settings.ready_path) if not p.startswith(prefix + "/")]
    if settings.gcp_healthchecks:
        paths += ["/liveness_check", "/readiness_check"]
    if settings.metrics_on_main_port:
        paths.append("/metrics")
    if not paths:
        return []
    named = ", ".join(paths)
    return [f"any_path_auth_status under proxy_kind = \"{settings.proxy_kind}\": Envoy asks at "
            f"the client's own path and authsvc answers {named} itself with 200, so Envoy lets "
            f"the app's {named} through without a session; move them under proxy_prefix "
            f"(ping_path = \"{prefix}/ping\", ready_path = \"{prefix}/ready\", "
            "metrics_address) and point the probes there (docs/security.md)"]
