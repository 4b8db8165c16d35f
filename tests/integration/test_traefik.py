"""examples/traefik/dynamic.yml through a double that follows Traefik's forward.go.

Traefik is not installable here; test_caddy.py runs the shared ForwardAuth flow through real
Caddy. This module runs the example's own routers and middlewares through the double, to prove
what differs under Traefik: the auth request's Host is authsvc's address, a relative Location
would be resolved against that address, and authResponseHeaders are deleted, then copied.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import yaml

from authsvc.config import load_settings
from tests.integration.conftest import AuthsvcFactory
from tests.support import contract
from tests.support.components import EXAMPLES
from tests.support.echo import EchoUpstream
from tests.support.login import BROWSER_ACCEPT
from tests.support.processes import HOST
from tests.support.proxy_contract import ProxyContract, Stack, tapped
from tests.support.tap import Tap
from tests.support.traefik_double import Config, RunningDouble, start_traefik_double

pytestmark = pytest.mark.integration

DYNAMIC = EXAMPLES / "traefik" / "dynamic.yml"


@pytest.fixture(scope="module")
def stack(start_authsvc_for: AuthsvcFactory, echo: EchoUpstream) -> Iterator[Stack]:
    """The double's authsvc address is the tap's (stack.tap.url)."""

    def double(tap: Tap) -> RunningDouble:
        return start_traefik_double(DYNAMIC, {"APP_HOST": HOST, "AUTHSVC_URL": tap.url, "APP_URL": echo.url})

    with tapped(start_authsvc_for(proxy_kind="traefik").port, double) as stack:
        yield stack


def test_the_example_is_what_the_double_runs() -> None:
    config = Config.load(DYNAMIC, {})
    assert [r.name for r in config.routers] == ["authsvc", "app"]  # /oauth2/ first
    fa = config.middlewares["authsvc"]["forwardAuth"]
    assert fa["address"] == "http://authsvc:4180/oauth2/auth"
    assert fa["trustForwardHeader"] is False
    assert set(contract.IDENTITY) <= set(fa["authResponseHeaders"])
    assert config.routers[1].middlewares[-1] == "authsvc"


def test_the_compose_file_matches_the_example_and_authsvc(monkeypatch: pytest.MonkeyPatch) -> None:
    """docker-compose.yml: mounts the two files, sets every env the template reads, and gives
    authsvc options that load."""
    compose = yaml.safe_load((DYNAMIC.parent / "docker-compose.yml").read_text())
    traefik, authsvc = compose["services"]["traefik"], compose["services"]["authsvc"]
    mounted = {v.split(":")[0] for v in traefik["volumes"]}
    assert mounted == {"./traefik.yml", "./dynamic.yml"}
    used = set(re.findall(r'env "([A-Z_]+)"', DYNAMIC.read_text()))
    assert used <= set(traefik["environment"])
    for name in list(os.environ):
        if name.startswith("AUTHSVC_"):
            monkeypatch.delenv(name)
    for name, value in authsvc["environment"].items():
        monkeypatch.setenv(name, str(value))
    settings = load_settings()
    assert settings.proxy_kind == "traefik"
    assert settings.redirect_url == f"http://{traefik['environment']['APP_HOST']}/oauth2/callback"


class TestTraefik(ProxyContract):
    """The shared scenarios through the double (it does not pass websocket upgrades)."""


def test_location_is_absolute_on_the_public_host_not_the_auth_address(stack: Stack) -> None:
    """Traefik sends Host = authsvc's address; authsvc builds Location from X-Forwarded-*."""
    r = httpx.get(stack.base + contract.TRICKY_PATH, headers={"Accept": BROWSER_ACCEPT})
    contract.assert_sign_in_redirect(stack.base, r)
    assert not r.headers["location"].startswith(stack.tap.url)


def test_the_check_goes_to_the_auth_address_with_x_forwarded_headers(stack: Stack) -> None:
    with contract.signed_in(stack.base, "alice@example.com") as client:
        stack.tap.clear()
        r = client.post(
            stack.base + "/app/form?a=1", content=b"field=value", headers={"X-Forwarded-Uri": "/x"}
        )
        assert contract.echoed(r).method == "POST"
    (check,) = stack.tap.auth_requests()
    assert (check.method, check.path, check.body) == ("GET", "/oauth2/auth", b"")
    assert check.get("Host") == stack.tap.url.removeprefix("http://")  # not the public host
    assert check.get("X-Forwarded-Host") == stack.base.removeprefix("http://")
    assert check.get("X-Forwarded-Uri") == "/app/form?a=1"  # the client's copy was dropped
    assert check.get("X-Forwarded-Method") == "POST"


def test_refreshed_session_cookie_reaches_the_browser(
    start_authsvc_for: AuthsvcFactory, echo: EchoUpstream
) -> None:
    """addAuthCookiesToResponse: [_authsvc]."""
    authsvc = start_authsvc_for(proxy_kind="traefik", cookie_refresh="1s")
    env = {"APP_HOST": HOST, "AUTHSVC_URL": authsvc.url, "APP_URL": echo.url}
    double = start_traefik_double(DYNAMIC, env)
    try:
        contract.assert_refreshed_cookie_reaches_the_browser(double.url)
    finally:
        double.stop()


class _RelativeRedirect(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", "/oauth2/start?rd=%2F")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_double_resolves_a_relative_location_against_the_auth_address(
    echo: EchoUpstream,
) -> None:
    """Why authsvc must answer with an absolute Location under Traefik."""
    auth = ThreadingHTTPServer((HOST, 0), _RelativeRedirect)
    thread = threading.Thread(target=auth.serve_forever, daemon=True)
    thread.start()
    auth_url = f"http://{HOST}:{auth.server_address[1]}"
    double = start_traefik_double(
        DYNAMIC, {"APP_HOST": HOST, "AUTHSVC_URL": auth_url, "APP_URL": echo.url}
    )
    try:
        r = httpx.get(double.url + "/app", headers={"Accept": BROWSER_ACCEPT})
        assert r.status_code == 302
        assert r.headers["location"] == f"{auth_url}/oauth2/start?rd=%2F"
    finally:
        double.stop()
        auth.shutdown()
        auth.server_close()
        thread.join(5)
