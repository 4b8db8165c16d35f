"""Issue 11 §1 through real Caddy: no client header makes a protected path public.

As test_spoofing_nginx.py, behind examples/caddy/Caddyfile (proxy_kind = "caddy") and behind
oauth2-proxy's documented forward_auth Caddyfile (tests/support/oauth2_proxy_configs.py) under
the default proxy_kind and under "caddy". Caddy passes underscored and dotted header names on
(nginx drops them), so here those spellings do reach authsvc, which must not read them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from tests.integration.conftest import AuthsvcFactory
from tests.support.components import EXAMPLES, start_caddy
from tests.support.echo import EchoUpstream
from tests.support.oauth2_proxy_configs import CADDY_GLOBAL, CADDY_SITE
from tests.support.processes import HOST, free_port
from tests.support.spoofs import Site, SpoofingContract, strict_and_default

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sites(
    tmp_path_factory: pytest.TempPathFactory, start_authsvc_for: AuthsvcFactory, echo: EchoUpstream
) -> Iterator[dict[str, Site]]:
    strict, default = strict_and_default(start_authsvc_for, "caddy")
    with contextlib.ExitStack() as stack:
        sites: dict[str, Site] = {}
        port = free_port()
        env = {"LISTEN": f"{HOST}:{port}", "AUTHSVC": f"{HOST}:{strict.port}",
               "UPSTREAM": f"{HOST}:{echo.port}"}
        proc = start_caddy(tmp_path_factory.mktemp("caddy-example"), EXAMPLES / "caddy" / "Caddyfile",
                           port, env, name="caddy-example")
        stack.callback(proc.stop)
        sites["example, caddy"] = Site(f"http://{HOST}:{port}", vouches=True)

        workdir = tmp_path_factory.mktemp("caddy-oauth2-proxy")
        blocks, last = [CADDY_GLOBAL], 0
        for name, authsvc, vouches in (("oauth2-proxy docs, default kind", default, False),
                                       ("oauth2-proxy docs, caddy", strict, True)):
            last = free_port()
            blocks.append(CADDY_SITE.format(listen=f"{HOST}:{last}", authsvc=f"{HOST}:{authsvc.port}",
                                            upstream=f"{HOST}:{echo.port}"))
            sites[name] = Site(f"http://{HOST}:{last}", vouches=vouches)
        caddyfile = workdir / "Caddyfile"
        caddyfile.write_text("".join(blocks))
        proc = start_caddy(workdir, caddyfile, last, {}, name="caddy-oauth2-proxy")
        stack.callback(proc.stop)
        yield sites


class TestSpoofingCaddy(SpoofingContract):
    """Issue 11 §1 through each site above."""

    SITES = ["example, caddy", "oauth2-proxy docs, default kind", "oauth2-proxy docs, caddy"]
