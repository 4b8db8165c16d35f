"""Prometheus metrics: one registry per app (tests stay isolated), children bound at start-up.

    authsvc_requests_total{endpoint, outcome}   outcome: allowed | unauthenticated | forbidden
                                                | skipped | error
    authsvc_auth_request_seconds                 /oauth2/auth latency (sub-millisecond buckets)
    authsvc_logins_total{result}                 success | denied | failed
    authsvc_refreshes_total{result}              success | failed   (record_refresh)
    authsvc_session_store_errors_total           the session store could not be reached
    authsvc_idp_request_seconds{endpoint}        discovery | jwks | token | userinfo | other

The hot path pays two perf_counter() calls, one histogram observation and one counter
increment on children bound here; no `.labels()` lookups per request.

With several uvicorn workers, `serve` points PROMETHEUS_MULTIPROC_DIR at a fresh directory
before the workers start; each worker then writes its values there and any `/metrics` answer
sums all workers (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import bisect
import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..config.listen import ListenAddress, parse_listen
from ..errors import AuthsvcError, StoreUnavailable
from . import logs

access_log = logging.getLogger("authsvc.access")

OUTCOMES = ("allowed", "unauthenticated", "forbidden", "skipped", "error")
#: the endpoints counted in authsvc_requests_total (paths under proxy_prefix)
ENDPOINTS = ("auth", "start", "callback", "sign_out", "signed_out", "sign_in", "userinfo")
LOGIN_RESULTS = ("success", "denied", "failed")
REFRESH_RESULTS = ("success", "failed")
IDP_ENDPOINTS = ("discovery", "jwks", "token", "userinfo", "other")
#: /oauth2/auth answers in well under a millisecond when the session is in the cookie
AUTH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
IDP_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Handler = Callable[[Request], Awaitable[Response]]
#: a handler that answers at once when it can, else returns what to await (web/auth.py)
NowHandler = Callable[[Request], Response | Awaitable[Response]]

_START = "authsvc_started_at"


def outcome_of(status: int) -> str:
    """The outcome a status stands for: 2xx/3xx allowed (a 302 from /oauth2/auth is a sign-in
    redirect, counted by its caller), 401 unauthenticated, other 4xx forbidden, 5xx error."""
    if status < 400:
        return "allowed"
    if status == 401:
        return "unauthenticated"
    return "forbidden" if status < 500 else "error"


def idp_endpoint(url: httpx.URL) -> str:
    """A fixed label for an IdP URL (never the URL itself: labels must stay few)."""
    path = url.path.lower()
    if path.endswith("/.well-known/openid-configuration"):
        return "discovery"
    if "userinfo" in path or path.rstrip("/").endswith("/user"):
        return "userinfo"
    if "token" in path:
        return "token"
    if "jwks" in path or "certs" in path or path.endswith("/keys"):
        return "jwks"
    return "other"


class Metrics:
    """The metric objects of one app and their pre-bound children."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "authsvc_requests", "Requests by endpoint and outcome.", ["endpoint", "outcome"], registry=r
        )
        self.auth_seconds = Histogram(
            "authsvc_auth_request_seconds", "Time to answer /oauth2/auth.", buckets=AUTH_BUCKETS,
            registry=r,
        )
        self.logins = Counter("authsvc_logins", "Finished logins (callbacks) by result.", ["result"],
                              registry=r)
        self.refreshes = Counter("authsvc_refreshes", "Session refreshes at the IdP by result.",
                                 ["result"], registry=r)
        self.store_errors = Counter(
            "authsvc_session_store_errors", "Requests that found the session store unavailable.",
            registry=r,
        )
        self.idp_seconds = Histogram(
            "authsvc_idp_request_seconds", "Time to the IdP's response headers, by IdP endpoint.",
            ["endpoint"], buckets=IDP_BUCKETS, registry=r,
        )
        # children bound once; a label combination also shows as 0 before its first event
        self.outcomes = {e: {o: self.requests.labels(e, o) for o in OUTCOMES} for e in ENDPOINTS}
        self.login_results = {res: self.logins.labels(res) for res in LOGIN_RESULTS}
        self.refresh_results = {res: self.refreshes.labels(res) for res in REFRESH_RESULTS}
        self.idp_endpoints = {e: self.idp_seconds.labels(e) for e in IDP_ENDPOINTS}
        #: instrumented check handler -> its `now` form
        self._now: dict[Handler, NowHandler] = {}

    # --- what other modules call ---------------------------------------------------------
    def record_login(self, result: str) -> None:
        """A finished callback: success, denied (by the access rules) or failed."""
        self.login_results[result].inc()

    def record_refresh(self, success: bool) -> None:
        """A token refresh asked of the IdP (sessions/refresh.py, through the context)."""
        self.refresh_results["success" if success else "failed"].inc()

    def record_error(self, exc: Exception) -> None:
        """Count what an error that ended a request means (so far: store outages)."""
        if isinstance(exc, StoreUnavailable):
            self.store_errors.inc()

    # --- the shared httpx client -----------------------------------------------------------
    def instrument_client(self, client: httpx.AsyncClient) -> None:
        """Time every IdP call on `client` with event hooks (no change to the providers)."""
        children = self.idp_endpoints

        async def on_request(request: httpx.Request) -> None:
            request.extensions[_START] = time.perf_counter()

        async def on_response(response: httpx.Response) -> None:
            started = response.request.extensions.get(_START)
            if started is not None:
                children[idp_endpoint(response.request.url)].observe(time.perf_counter() - started)

        hooks = client.event_hooks
        hooks["request"] = [*hooks.get("request", []), on_request]
        hooks["response"] = [*hooks.get("response", []), on_response]
        client.event_hooks = hooks

    # --- the routes ------------------------------------------------------------------------
    def instrument_routes(
        self, routes: Iterable[BaseRoute], prefix: str, *, log_auth_requests: bool = False,
        exclude_logging_paths: Iterable[str] = (), check_now: NowHandler | None = None,
    ) -> list[BaseRoute]:
        """Wrap the endpoints under `prefix` that ENDPOINTS names: count, time, log context.

        Every request gets a log context (request id); the login endpoints log one access line
        per request, /oauth2/auth only with `log_auth_requests` (it is the busy one); none for
        a path in `exclude_logging_paths` (oauth2-proxy's option: exact paths). `check_now` is
        the check's sync-first handler (AuthEndpoint.handle_now) for the auth routes.
        """
        excluded = frozenset(exclude_logging_paths)
        out: list[BaseRoute] = []
        for route in routes:
            name = ""
            if isinstance(route, Route) and route.path.startswith(prefix + "/"):
                name = route.path.removeprefix(prefix + "/").split("/", 1)[0]
            if not isinstance(route, Route) or name not in ENDPOINTS:
                out.append(route)
                continue
            if name == "auth":
                handler = self._auth(check_now or route.endpoint, log_auth_requests, excluded)
            else:
                handler = self._endpoint(name, route.endpoint, excluded)
            methods = sorted(route.methods - {"HEAD"}) if route.methods else None
            out.append(Route(route.path, handler, methods=methods, name=route.name))
        return out

    def instrument_check(
        self, handle: NowHandler, *, log_auth_requests: bool = False,
        exclude_logging_paths: Iterable[str] = (),
    ) -> Handler:
        """A check answered elsewhere than /oauth2/auth (web/any_path.py), counted, timed and
        logged as /oauth2/auth is."""
        return self._auth(handle, log_auth_requests, frozenset(exclude_logging_paths))

    def _auth(self, handle: NowHandler, log_requests: bool, excluded: frozenset[str]) -> Handler:
        """The check's wrapper, twice: `now(request)` (the answer, or an awaitable when the
        handler must wait: web/lean.py answers without a task) and the async handler built on it."""
        children = {outcome: incrementer(child) for outcome, child in self.outcomes["auth"].items()}
        observe = observer(self.auth_seconds)
        clock = time.perf_counter
        begin = logs.request_for  # the context AuthsvcApp began

        def failed(started: float) -> None:
            observe(clock() - started)
            children["error"]()

        def finish(
            request: Request, response: Response, started: float, ctx: logs.RequestContext
        ) -> Response:
            elapsed = clock() - started
            observe(elapsed)
            status = response.status_code
            # a sign-in redirect is what /oauth2/auth does for a browser without a session
            outcome = ctx.outcome or ("unauthenticated" if status == 302 else outcome_of(status))
            children[outcome]()
            if log_requests and request.scope["path"] not in excluded:
                _access("auth", request, status, outcome, elapsed, ctx)
            return response

        async def finishing(
            request: Request, pending: Awaitable[Response], started: float, ctx: logs.RequestContext
        ) -> Response:
            try:
                response = await pending
            except Exception:
                failed(started)
                raise
            return finish(request, response, started, ctx)

        def now(request: Request) -> Response | Awaitable[Response]:
            ctx = begin(request.scope["headers"])
            started = clock()
            try:
                got = handle(request)
            except Exception:
                failed(started)
                raise
            if isinstance(got, Response):
                return finish(request, got, started, ctx)
            return finishing(request, got, started, ctx)

        async def auth(request: Request) -> Response:
            got = now(request)
            return got if isinstance(got, Response) else await got

        self._now[auth] = now
        return auth

    def now_handler(self, handler: Handler) -> NowHandler:
        """The `now` form of a check handler `instrument_routes` made (see `_auth`)."""
        return self._now[handler]

    def _endpoint(self, name: str, handle: Handler, excluded: frozenset[str]) -> Handler:
        children = self.outcomes[name]
        clock = time.perf_counter
        begin = logs.request_for  # the context AuthsvcApp began

        async def endpoint(request: Request) -> Response:
            ctx = begin(request.scope["headers"])
            started = clock()
            try:
                response = await handle(request)
            except Exception as exc:
                # our errors become their own status (app.py's handler): log that one, not 500
                status = exc.status if isinstance(exc, AuthsvcError) else 500
                outcome = outcome_of(status)
                children[outcome].inc()
                if request.scope["path"] not in excluded:
                    _access(name, request, status, outcome, clock() - started, ctx)
                raise
            outcome = ctx.outcome or outcome_of(response.status_code)
            children[outcome].inc()
            if request.scope["path"] not in excluded:
                _access(name, request, response.status_code, outcome, clock() - started, ctx)
            return response

        return endpoint

    # --- exposition ------------------------------------------------------------------------
    def collector(self) -> Collector:
        """What /metrics exposes: this registry, or all workers' values in multiprocess mode."""
        path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        return multiprocess_registry(path) if path else self.registry

    def endpoint(self) -> Handler:
        """The /metrics handler for the main port."""
        collector = self.collector()

        async def metrics(request: Request) -> Response:
            return Response(generate_latest(collector), media_type=CONTENT_TYPE_LATEST)

        return metrics


def observer(histogram: Histogram) -> Callable[[float], None]:
    """`histogram.observe` (no labels, no exemplar) without its per-call checks and bucket
    scan: the sum, then the first bucket whose bound is >= the amount (what `observe` finds by
    a loop, here by bisection). The same values land in the same places, in multiprocess mode
    too (the values are prometheus_client's own); if this prometheus_client lays its histogram
    out otherwise, plain `observe`."""
    try:
        bounds = list(histogram._upper_bounds)
        buckets = [bucket.inc for bucket in histogram._buckets]
        add = histogram._sum.inc
    except AttributeError:
        return histogram.observe
    if len(bounds) != len(buckets) or bounds[-1] != float("inf"):
        return histogram.observe
    first = bisect.bisect_left

    def observe(amount: float) -> None:
        add(amount)
        buckets[first(bounds, amount)](1)

    return observe


def incrementer(counter: Counter) -> Callable[[], None]:
    """`counter.inc()` (by one, no exemplar) without its per-call checks: its value's own inc,
    so the same number lands in the same place (in multiprocess mode too); if this
    prometheus_client lays its counter out otherwise, plain `inc`."""
    value = getattr(counter, "_value", None)
    add = getattr(value, "inc", None)
    if add is None:
        return counter.inc
    return functools.partial(add, 1)


def multiprocess_registry(path: str) -> CollectorRegistry:
    """A registry that sums every worker's values found in `path` at scrape time."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return registry


def _access(
    endpoint: str, request: Request, status: int, outcome: str, elapsed: float,
    ctx: logs.RequestContext,
) -> None:
    """One access line; the path only (a query may hold a code, a state or an rd)."""
    fields: dict[str, Any] = {
        "endpoint": endpoint,
        "method": request.method,
        "path": request.scope["path"],
        "status": status,
        "outcome": outcome,
        "duration_ms": round(elapsed * 1000, 3),
    }
    if ctx.user:
        fields["user"] = ctx.user
    if outcome in ("unauthenticated", "forbidden"):
        fields["reason"] = ctx.reason or ("no valid session" if outcome == "unauthenticated" else "denied")
    access_log.info("request", extra=fields)


def serve_separately(address: str, collector: Collector, certfile: str = "", keyfile: str = "") -> None:
    """Expose `collector` on its own host:port (metrics_address), in a daemon thread; over
    HTTPS with a certificate (metrics_secure_address)."""
    from prometheus_client import start_http_server

    where = parse_listen(address)
    if where.kind != "tcp" and not certfile:  # unix:// or fd: (web/listen.py), plain HTTP
        _serve_on_socket(where, collector)
        return
    start_http_server(where.port, where.host or "0.0.0.0", registry=collector,  # noqa: S104
                      certfile=certfile or None, keyfile=keyfile or None)


def _serve_on_socket(where: ListenAddress, collector: Collector) -> None:
    """prometheus_client's own handler on a socket made by web/listen.py, in a daemon thread."""
    import atexit
    import threading
    from http.server import ThreadingHTTPServer

    from prometheus_client.exposition import MetricsHandler

    from . import listen

    sock = listen.bind(where, "metrics_address")
    server = ThreadingHTTPServer(("127.0.0.1", 0), MetricsHandler.factory(collector),
                                 bind_and_activate=False)
    server.socket.close()
    server.socket = sock  # accept() on it; a unix peer's address is "" (MetricsHandler logs none)
    server.daemon_threads = True
    if where.kind == "unix":
        atexit.register(listen.remove_socket_file, where.path, listen.file_id(where.path))
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()


class ByApp(Collector):
    """Several apps' registries (config/apps.py) as one, each sample labelled `app="<name>"`:
    one family per metric name, as the exposition format requires."""

    def __init__(self, registries: list[tuple[str, Collector]]) -> None:
        self._registries = registries

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for app, registry in self._registries:
            for family in registry.collect():
                merged = families.get(family.name)
                if merged is None:
                    merged = families[family.name] = Metric(family.name, family.documentation,
                                                            family.type, family.unit)
                merged.samples += [s._replace(labels={**s.labels, "app": app}) for s in family.samples]
        yield from families.values()
