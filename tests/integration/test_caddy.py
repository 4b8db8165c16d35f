"""Real Caddy running examples/caddy/Caddyfile (forward_auth) in front of authsvc and the OP.

Caddy shares Traefik's ForwardAuth semantics (GET with X-Forwarded-*, 2xx = allow with copied
headers, anything else relayed to the client), so this is also the Traefik flow with a real
proxy; tests/integration/test_traefik.py covers where Traefik differs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser

from tests.integration.conftest import AuthsvcFactory
from tests.support import contract
from tests.support.browser import fetch_status, fresh_page, idp_login
from tests.support.components import EXAMPLES, start_caddy
from tests.support.echo import Echoed, EchoUpstream
from tests.support.login import BROWSER_ACCEPT
from tests.support.processes import HOST, free_port
from tests.support.tap import Tap, start_tap

pytestmark = pytest.mark.integration

EXAMPLE = EXAMPLES / "caddy" / "Caddyfile"


@dataclass
class Stack:
    base: str
    tap: Tap


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    start_authsvc_for: AuthsvcFactory,
    echo: EchoUpstream,
) -> Iterator[Stack]:
    authsvc = start_authsvc_for(proxy_kind="caddy")
    tap = start_tap(authsvc.port)
    port = free_port()
    env = {
        "LISTEN": f"{HOST}:{port}",
        "AUTHSVC": f"{HOST}:{tap.port}",
        "UPSTREAM": f"{HOST}:{echo.port}",
    }
    try:
        caddy = start_caddy(tmp_path_factory.mktemp("caddy"), EXAMPLE, port, env)
        try:
            yield Stack(caddy.url, tap)
        finally:
            caddy.stop()
    finally:
        tap.stop()


def test_browser_login_round_trip(stack: Stack, browser: Browser) -> None:
    """1, in chromium: authsvc's 302 (relayed by Caddy) -> IdP -> back on the exact URL."""
    target = stack.base + contract.TRICKY_PATH
    with fresh_page(browser) as page:
        page.goto(target)
        idp_login(page, "alice@example.com")
        page.wait_for_url(target)
        assert page.url == target
        seen = Echoed.parse(page.evaluate("() => JSON.parse(document.body.innerText)"))
        assert seen.path == contract.TRICKY_PATH
        assert seen.get("X-Auth-Request-Email") == "alice@example.com"
        assert seen.get("X-Auth-Request-Groups") == "admins,devs"


def test_browser_fetch_without_session_gets_401(stack: Stack, browser: Browser) -> None:
    """5, in chromium: a fetch() from the page gets 401, not a redirect."""
    with fresh_page(browser) as page:
        assert fetch_status(page, stack.base, "/app/api") == 401


def test_login_round_trip(stack: Stack) -> None:
    contract.assert_login_round_trip(stack.base)


def test_browser_navigation_gets_an_absolute_302_from_authsvc(stack: Stack) -> None:
    r = httpx.get(stack.base + contract.TRICKY_PATH, headers={"Accept": BROWSER_ACCEPT})
    contract.assert_sign_in_redirect(stack.base, r)
    assert "x-auth-request-user" not in r.headers  # identity headers only on a 2xx


def test_spoofed_identity_headers_never_reach_the_app(stack: Stack) -> None:
    with contract.signed_in(stack.base, "alice@example.com") as client:
        contract.assert_spoofing_stopped(stack.base, client)
    contract.assert_anonymous_spoof_denied(stack.base)


def test_spoofed_forwarded_headers_are_replaced_by_caddy(stack: Stack) -> None:
    headers = {
        "Accept": BROWSER_ACCEPT,
        "X-Forwarded-Uri": "/public",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "https",
    }
    r = httpx.get(stack.base + contract.TRICKY_PATH, headers=headers)
    contract.assert_sign_in_redirect(stack.base, r)


def test_forbidden_domain_gets_403_not_a_loop(stack: Stack) -> None:
    contract.assert_forbidden_domain(stack.base)


def test_sign_out_sends_the_next_request_to_sign_in(stack: Stack) -> None:
    with contract.signed_in(stack.base, "alice@example.com") as client:
        contract.assert_sign_out(stack.base, client)


def test_websocket_upgrade_is_authorized(stack: Stack) -> None:
    with contract.signed_in(stack.base, "alice@example.com") as client:
        contract.assert_websocket(stack.base, client)


def test_xhr_without_session_gets_401(stack: Stack) -> None:
    contract.assert_xhr_gets_401(stack.base)


def test_session_over_4kb_passes(stack: Stack) -> None:
    contract.assert_big_session(stack.base)


def test_the_check_is_a_bodiless_get_with_x_forwarded_headers(stack: Stack) -> None:
    with contract.signed_in(stack.base, "alice@example.com") as client:
        stack.tap.clear()
        spoof = {"X-Forwarded-Uri": "/public", "X-Forwarded-Method": "GET"}
        target = "/app/form?a=1&b=%26&allowed_groups=nobody"
        r = client.post(stack.base + target, content=b"field=value", headers=spoof)
        assert contract.echoed(r).method == "POST"
    (check,) = stack.tap.auth_requests()
    # the client's query stays off the check (where authsvc reads per-route rules)
    assert (check.method, check.path, check.body) == ("GET", "/oauth2/auth", b"")
    assert check.get("X-Forwarded-Method") == "POST"
    assert check.get("X-Forwarded-Uri") == target
    assert check.get("X-Forwarded-Proto") == "http"
    assert check.get("Host") == stack.base.removeprefix("http://")  # Caddy keeps the Host
