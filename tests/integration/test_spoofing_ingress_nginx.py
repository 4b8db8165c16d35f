"""Issue 11 §1 through ingress-nginx's generated config (tests/support/ingress_nginx.py) in
real nginx: no client header makes a protected path public.

Three hosts in one nginx: examples/ingress-nginx (proxy_kind = "ingress-nginx"), and an Ingress
with only the annotations oauth2-proxy documents (auth-url, auth-signin) in front of authsvc
under the default proxy_kind and under "ingress-nginx". ingress-nginx overwrites X-Original-URL
and X-Original-Method, but passes a client's X-Forwarded-Uri, -Method, -Host and X-Original-URI
to the auth service.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from tests.integration.conftest import INGRESS_HOST, AuthsvcFactory
from tests.support.components import EXAMPLES, OpenIDProvider, start_nginx
from tests.support.echo import EchoUpstream
from tests.support.ingress_nginx import load_configmap, render
from tests.support.login import HostMap
from tests.support.oauth2_proxy_configs import INGRESS_ANNOTATIONS
from tests.support.processes import HOST, free_port
from tests.support.spoofs import Site, SpoofingContract, strict_and_default

pytestmark = pytest.mark.integration

MANIFEST = EXAMPLES / "ingress-nginx" / "ingress.yaml"
CONFIGMAP = load_configmap(EXAMPLES / "ingress-nginx" / "controller-configmap.yaml")
#: the oauth2-proxy-documented Ingresses: host -> the authsvc Service it names
DOCUMENTED = {
    "default.example.com": "authsvc-default.default.svc.cluster.local:4180",
    "strict.example.com": "authsvc-strict.default.svc.cluster.local:4180",
}


def _documented_ingress(host: str, service: str) -> dict[str, object]:
    annotations = {k: v.format(authsvc=service) for k, v in INGRESS_ANNOTATIONS.items()}
    backend = {"service": {"name": "app", "port": {"number": 8080}}}
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": host.split(".")[0], "annotations": annotations},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": backend}]}}]},
    }


@pytest.fixture(scope="module")
def sites(
    tmp_path_factory: pytest.TempPathFactory,
    start_authsvc_for: AuthsvcFactory,
    oidc_provider: OpenIDProvider,
    echo: EchoUpstream,
) -> Iterator[dict[str, Site]]:
    strict, default = strict_and_default(start_authsvc_for, "ingress-nginx")
    workdir = tmp_path_factory.mktemp("ingress-spoofing")
    manifest = workdir / "ingress.yaml"
    extra = [_documented_ingress(host, svc) for host, svc in DOCUMENTED.items()]
    manifest.write_text(MANIFEST.read_text() + "\n---\n" + yaml.safe_dump_all(extra))
    port = free_port()
    endpoints = {
        "app:8080": f"{HOST}:{echo.port}",
        "authsvc:4180": f"{HOST}:{strict.port}",
        "authsvc.default.svc.cluster.local:4180": f"{HOST}:{strict.port}",
        DOCUMENTED["default.example.com"]: f"{HOST}:{default.port}",
        DOCUMENTED["strict.example.com"]: f"{HOST}:{strict.port}",
    }
    nginx = start_nginx(workdir, render(manifest, f"{HOST}:{port}", endpoints, CONFIGMAP), port)
    transport = HostMap({INGRESS_HOST: port, **{host: port for host in DOCUMENTED}})
    try:
        yield {
            "example, ingress-nginx": Site(f"http://{INGRESS_HOST}", True, transport),
            "oauth2-proxy docs, default kind": Site("http://default.example.com", False, transport),
            "oauth2-proxy docs, ingress-nginx": Site("http://strict.example.com", True, transport),
        }
    finally:
        nginx.stop()


class TestSpoofingIngressNginx(SpoofingContract):
    """Issue 11 §1 through each site above."""

    SITES = ["example, ingress-nginx", "oauth2-proxy docs, default kind",
             "oauth2-proxy docs, ingress-nginx"]
