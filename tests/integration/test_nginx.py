"""Real nginx running examples/nginx/nginx.conf in front of a real authsvc and the node OP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import AuthsvcFactory
from tests.support import contract
from tests.support.components import EXAMPLES, render_file, start_nginx
from tests.support.echo import EchoUpstream
from tests.support.login import BROWSER_ACCEPT
from tests.support.processes import HOST, Process, free_port
from tests.support.proxy_contract import ProxyContract, Stack, WebsocketContract, tapped
from tests.support.tap import Tap

pytestmark = pytest.mark.integration

EXAMPLE = EXAMPLES / "nginx" / "nginx.conf"


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    start_authsvc_for: AuthsvcFactory,
    echo: EchoUpstream,
) -> Iterator[Stack]:
    def nginx(tap: Tap) -> Process:
        port = free_port()
        conf = render_file(
            EXAMPLE,
            {"LISTEN": f"{HOST}:{port}", "AUTHSVC": f"{HOST}:{tap.port}", "UPSTREAM": f"{HOST}:{echo.port}"},
        )
        return start_nginx(tmp_path_factory.mktemp("nginx"), conf, port)

    with tapped(start_authsvc_for(proxy_kind="nginx").port, nginx) as stack:
        yield stack


class TestNginx(ProxyContract, WebsocketContract):
    """The shared scenarios through real nginx (its big session: the example's buffers)."""


def test_sign_in_redirect_escapes_the_original_url(stack: Stack) -> None:
    r = httpx.get(stack.base + contract.TRICKY_PATH, headers={"Accept": BROWSER_ACCEPT})
    contract.assert_sign_in_redirect(stack.base, r)
    # set_escape_uri: & and % of the original query are escaped inside rd=
    assert "rd=%2Fapp%2Fpage%3Fx%3D1%26y%3Da%2526b%26z%3D100%2525" in r.headers["location"]


def test_spoofed_original_url_headers_are_overwritten(stack: Stack) -> None:
    """The example overwrites every forwarded header authsvc reads: no spoofed /oauth2 path."""
    headers = {
        "Accept": "application/json",
        "X-Original-URI": "/public",
        "X-Original-URL": "http://evil.example/public",
        "X-Forwarded-Uri": "/public",
        "X-Forwarded-Host": "evil.example",
    }
    assert httpx.get(stack.base + "/app/secret", headers=headers).status_code == 401
    browser_headers = {**headers, "Accept": BROWSER_ACCEPT}
    r = httpx.get(stack.base + "/app/secret", headers=browser_headers)
    assert r.status_code == 302
    assert "evil.example" not in r.headers["location"]


def test_unverified_email_is_refused(stack: Stack) -> None:
    contract.assert_forbidden_domain(stack.base, login="unverified@example.com")


def test_the_check_is_a_bodiless_get_describing_the_original_request(stack: Stack) -> None:
    """What nginx sends to authsvc for a POST with a body (and spoofed URL headers)."""
    with contract.signed_in(stack.base, "alice@example.com") as client:
        stack.tap.clear()
        spoof = {"X-Original-URL": "http://evil.example/", "X-Forwarded-Uri": "/public"}
        r = client.post(stack.base + "/app/form?a=1&b=%26", content=b"field=value", headers=spoof)
        assert contract.echoed(r).method == "POST"
    (check,) = stack.tap.auth_requests()
    assert (check.method, check.path, check.body) == ("GET", "/oauth2/auth", b"")
    assert not check.has("Content-Length")
    assert check.get("X-Original-URI") == "/app/form?a=1&b=%26"
    assert check.get("X-Original-Method") == "POST"
    assert check.get("X-Forwarded-Host") == stack.base.removeprefix("http://")
    assert check.get("X-Forwarded-Proto") == "http"
    assert not check.has("X-Original-URL") and not check.has("X-Forwarded-Uri")
    assert (check.get("Cookie") or "").count("_authsvc") >= 1


def test_refreshed_session_cookie_reaches_the_browser(
    tmp_path_factory: pytest.TempPathFactory, start_authsvc_for: AuthsvcFactory, echo: EchoUpstream
) -> None:
    """auth_request_set $auth_cookie + add_header Set-Cookie: the one refreshed cookie."""
    authsvc = start_authsvc_for(proxy_kind="nginx", cookie_refresh="1s")
    port = free_port()
    values = {
        "LISTEN": f"{HOST}:{port}",
        "AUTHSVC": f"{HOST}:{authsvc.port}",
        "UPSTREAM": f"{HOST}:{echo.port}",
    }
    nginx = start_nginx(tmp_path_factory.mktemp("nginx-refresh"), render_file(EXAMPLE, values), port)
    try:
        contract.assert_refreshed_cookie_reaches_the_browser(nginx.url)
    finally:
        nginx.stop()
