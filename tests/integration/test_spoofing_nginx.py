"""Issue 11 §1 through real nginx: no client header makes a protected path public.

authsvc runs with `skip_auth_routes = ["^/public/"]` and `skip_auth_preflight = true`. Behind
each configuration a client asks for /admin/secret without a session and adds every spoof of
tests/support/spoofs.py (each forwarded header, in every spelling, repeated, all at once): none
may reach the app. The configurations: examples/nginx (proxy_kind = "nginx"), the sidecar
example's nginx.conf (proxy_kind = "nginx"), and oauth2-proxy's documented auth_request config
(tests/support/oauth2_proxy_configs.py), which sets only X-Forwarded-Uri, under the default
proxy_kind and under "nginx". One nginx per configuration, started once for the module.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import pytest

from tests.integration.conftest import AuthsvcFactory
from tests.support.components import EXAMPLES, nginx_main, render_file, start_nginx
from tests.support.echo import EchoUpstream
from tests.support.k8s import SIDECAR
from tests.support.oauth2_proxy_configs import NGINX_SERVER
from tests.support.processes import HOST, free_port
from tests.support.spoofs import Site, SpoofingContract, strict_and_default

pytestmark = pytest.mark.integration


def _sidecar_conf(workdir: str, port: int, authsvc: int, upstream: int) -> str:
    """The sidecar example's nginx.conf, moved from its pod addresses to loopback ports."""
    text = SIDECAR.read_text()
    conf = re.search(r"  nginx\.conf: \|\n(.*?)\n---", text, re.S)
    assert conf is not None, "sidecar.yaml changed: no nginx.conf ConfigMap entry"
    body = "\n".join(line[4:] for line in conf.group(1).splitlines())
    body = body.replace("listen 8080;", f"listen {HOST}:{port};")
    body = body.replace("127.0.0.1:4180", f"{HOST}:{authsvc}").replace("127.0.0.1:5678", f"{HOST}:{upstream}")
    body = body.replace("/tmp/", f"{workdir}/").replace("access_log /dev/stdout;", "access_log off;")
    return "daemon off;\n" + body


@pytest.fixture(scope="module")
def sites(
    tmp_path_factory: pytest.TempPathFactory, start_authsvc_for: AuthsvcFactory, echo: EchoUpstream
) -> Iterator[dict[str, Site]]:
    strict, default = strict_and_default(start_authsvc_for, "nginx")
    with contextlib.ExitStack() as stack:
        def nginx(name: str, conf: str, port: int) -> None:
            proc = start_nginx(tmp_path_factory.mktemp(name), conf, port, name=name)
            stack.callback(proc.stop)

        sites: dict[str, Site] = {}
        port = free_port()
        nginx("nginx-example", render_file(EXAMPLES / "nginx" / "nginx.conf", {
            "LISTEN": f"{HOST}:{port}", "AUTHSVC": f"{HOST}:{strict.port}",
            "UPSTREAM": f"{HOST}:{echo.port}"}), port)
        sites["example, nginx"] = Site(f"http://{HOST}:{port}", vouches=True)

        port = free_port()
        workdir = tmp_path_factory.mktemp("sidecar-tmp")
        nginx("nginx-sidecar", _sidecar_conf(str(workdir), port, strict.port, echo.port), port)
        sites["sidecar, nginx"] = Site(f"http://{HOST}:{port}", vouches=True)

        # oauth2-proxy's documented config, one server per authsvc, in one nginx
        servers, o2p = [], {}
        for name, authsvc in (("oauth2-proxy docs, default kind", default),
                              ("oauth2-proxy docs, nginx", strict)):
            port = free_port()
            servers.append(NGINX_SERVER.format(
                listen=f"{HOST}:{port}", authsvc=f"{HOST}:{authsvc.port}",
                upstream=f"{HOST}:{echo.port}"))
            o2p[name] = Site(f"http://{HOST}:{port}", vouches=False)
        http = "access_log off;\nclient_body_temp_path tmp/client_body;\nproxy_temp_path tmp/proxy;\n"
        nginx("nginx-oauth2-proxy", nginx_main(http + "\n".join(servers)), port)
        sites.update(o2p)
        yield sites


class TestSpoofingNginx(SpoofingContract):
    """Issue 11 §1 through each site above."""

    SITES = ["example, nginx", "sidecar, nginx", "oauth2-proxy docs, default kind",
             "oauth2-proxy docs, nginx"]
