"""Per-route rules under real Envoy: `headers_to_add` carries them, the client's query does not.

examples/envoy/envoy.yaml with one addition, `authorization_request.headers_to_add`
(`X-Authsvc-Allowed-Groups`), as README "Per-route rules" describes. Envoy's path_prefix mode puts
the client's query on the check request, so a client's `?allowed_groups=` must change nothing; and
a client's own `X-Authsvc-Allowed-*` header never reaches authsvc (not in `allowed_headers`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.integration.conftest import AuthsvcFactory
from tests.support import contract
from tests.support.components import EXAMPLES, render_file, start_envoy
from tests.support.echo import EchoUpstream
from tests.support.processes import HOST, Process, free_port

pytestmark = pytest.mark.integration

_PREFIX = "                        path_prefix: /oauth2/auth\n"
_RULES = (
    "                        authorization_request:\n"
    "                          headers_to_add:\n"
    '                            - {{ key: x-authsvc-allowed-groups, value: "{groups}" }}\n'
)


@dataclass
class Stacks:
    admins: str
    ops: str
    plain: str


def _envoy(tmp: pytest.TempPathFactory, authsvc_port: int, echo: EchoUpstream, groups: str | None) -> Process:
    port = free_port()
    bootstrap = render_file(
        EXAMPLES / "envoy" / "envoy.yaml",
        {"LISTEN_ADDRESS": HOST, "LISTEN_PORT": port, "AUTHSVC_ADDRESS": HOST,
         "AUTHSVC_PORT": authsvc_port, "UPSTREAM_ADDRESS": HOST, "UPSTREAM_PORT": echo.port},
    )
    assert bootstrap.count(_PREFIX) == 1, "examples/envoy/envoy.yaml changed: update this test"
    if groups is not None:
        bootstrap = bootstrap.replace(_PREFIX, _PREFIX + _RULES.format(groups=groups))
    return start_envoy(tmp.mktemp("envoy-authz"), bootstrap, port)


@pytest.fixture(scope="module")
def stacks(
    tmp_path_factory: pytest.TempPathFactory, start_authsvc_for: AuthsvcFactory, echo: EchoUpstream
) -> Iterator[Stacks]:
    authsvc = start_authsvc_for(proxy_kind="envoy", auth_success_status=200)
    started = [_envoy(tmp_path_factory, authsvc.port, echo, g) for g in ("admins", "ops,sre", None)]
    try:
        yield Stacks(*(p.url for p in started))
    finally:
        for proc in started:
            proc.stop()


def test_rules_come_from_headers_to_add(stacks: Stacks) -> None:
    # alice@example.com is in admins and devs; cookies ignore the port, so one login serves all
    with contract.signed_in(stacks.admins, "alice@example.com") as client:
        assert client.get(stacks.admins + "/app/x").status_code == 200
        assert client.get(stacks.ops + "/app/x").status_code == 403
        assert client.get(stacks.plain + "/app/x").status_code == 200
        # the client's query is its own, never a rule (nor a way around one)
        assert client.get(stacks.admins + "/app/x?allowed_groups=nobody").status_code == 200
        assert client.get(stacks.ops + "/app/x?allowed_groups=admins").status_code == 403
        # a client's own rule header never reaches authsvc
        own = {"X-Authsvc-Allowed-Groups": "nobody"}
        assert client.get(stacks.plain + "/app/x", headers=own).status_code == 200
        widen = {"X-Authsvc-Allowed-Groups": "admins"}
        assert client.get(stacks.ops + "/app/x", headers=widen).status_code == 403


def test_without_a_session_still_401(stacks: Stacks) -> None:
    r = httpx.get(stacks.ops + "/app/x", headers={"Accept": "application/json"})
    assert r.status_code == 401
