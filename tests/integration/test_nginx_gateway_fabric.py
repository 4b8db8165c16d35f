"""examples/gateway-api/nginx-gateway-fabric.yaml as NGINX Gateway Fabric would run it, in real nginx.

No cluster here: tests/support/gateway_api.py renders the nginx configuration NGF generates for
the manifest (read from nginx/nginx-gateway-fabric at e55bfe33969f313b210d3497b3ae56b923175d69:
internal/controller/nginx/config/servers.go, servers_template.go, upstreams_template.go,
base_http_config_template.go, includes.go, policies/proxysettings/generator.go and
internal/controller/state/dataplane/convert.go), and the shared contract runs through it. The
listener's host (app.example.com, port 80) is reached through a client-side host map, and
Chromium uses the nginx port as its HTTP proxy: NGF's `X-Forwarded-Host $host` carries no port,
so the public URL must be on the default port, as in a cluster.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import INGRESS_HOST, AuthsvcFactory
from tests.support import contract
from tests.support.components import EXAMPLES, OpenIDProvider, start_nginx
from tests.support.echo import EchoUpstream
from tests.support.gateway_api import load, named, render_nginx_gateway_fabric, serving
from tests.support.login import BROWSER_ACCEPT
from tests.support.proxy_contract import NamedStack, ProxyContract, WebsocketContract

pytestmark = pytest.mark.integration

MANIFEST = EXAMPLES / "gateway-api" / "nginx-gateway-fabric.yaml"
BASE = f"http://{INGRESS_HOST}"


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    start_authsvc_for: AuthsvcFactory,
    oidc_provider: OpenIDProvider,
    echo: EchoUpstream,
) -> Iterator[NamedStack]:
    authsvc = start_authsvc_for(
        proxy_kind="nginx",
        auth_success_status=200,
        client_id=oidc_provider.web_client_id,
        whitelist_domains=[INGRESS_HOST],
    )
    workdir = tmp_path_factory.mktemp("nginx-gateway-fabric")
    with serving(
        MANIFEST, render_nginx_gateway_fabric, start_nginx, workdir, authsvc.port, echo.port
    ) as stack:
        yield stack


def test_the_manifest_protects_the_app_and_not_oauth2() -> None:
    docs = load(MANIFEST)
    app = named(docs, "HTTPRoute", "app")["spec"]["rules"][0]
    (auth,) = [f["externalAuth"] for f in app["filters"] if f["type"] == "ExternalAuth"]
    assert auth["http"]["path"] == "/oauth2/auth"
    assert "Cookie" in auth["http"]["allowedHeaders"]  # NGF sends no other client header
    assert set(contract.IDENTITY) <= set(auth["http"]["allowedResponseHeaders"])
    forbidden = {"x-forwarded-uri", "x-forwarded-host", "x-original-uri", "x-original-url"}
    assert not forbidden & {h.lower() for h in auth["http"]["allowedHeaders"]}
    oauth2 = named(docs, "HTTPRoute", "authsvc")["spec"]["rules"][0]
    assert oauth2["matches"][0]["path"]["value"] == "/oauth2/" and "filters" not in oauth2


class TestNginxGatewayFabric(ProxyContract, WebsocketContract):
    """The shared scenarios through NGF's generated configuration in real nginx."""

    def test_login_round_trip(self, stack: NamedStack) -> None:  # type: ignore[override]
        """Where NGF differs: no /oauth2/start hop. The error_page serves authsvc's answer for
        /oauth2/start in place, so the app's own URL answers with the 302 to the IdP."""
        walk = contract.assert_login_round_trip(stack.base, transport=stack.transport())
        assert walk.hops[0] == (302, stack.base + contract.TRICKY_PATH), walk.hops
        assert not walk.visited(f"{stack.base}/oauth2/start")


def test_browser_navigation_goes_to_sign_in_with_the_exact_url(
    stack: NamedStack, oidc_provider: OpenIDProvider
) -> None:
    """The SnippetsFilter's error_page: authsvc's 401 becomes authsvc's own 302 to the IdP,
    the original URL carried in X-Auth-Request-Redirect (no escaping by nginx needed)."""
    with stack.client() as client:
        stack.tap.clear()
        r = client.get(BASE + contract.TRICKY_PATH, headers={"Accept": BROWSER_ACCEPT})
    assert r.status_code == 302, (r.status_code, r.text[:200])
    assert r.headers["location"].startswith(oidc_provider.issuer + "/")  # straight to the IdP
    (start,) = stack.tap.auth_requests("/oauth2/start")
    assert start.get("X-Auth-Request-Redirect") == contract.TRICKY_PATH
    assert start.path == "/oauth2/start"  # the app's query stays out of /oauth2/start


def test_the_check_is_what_ngf_sends(stack: NamedStack) -> None:
    """Only Host, Path, Method, Authorization and the allowedHeaders (Cookie): the client's
    X-Forwarded-* and X-Original-* never reach authsvc (proxy_pass_request_headers off)."""
    with contract.signed_in(BASE, "alice@example.com", transport=stack.transport()) as client:
        stack.tap.clear()
        spoof = {"X-Original-URI": "/public/", "X-Forwarded-Host": "evil.example", "X-Forwarded-Uri": "/p"}
        r = client.post(BASE + "/app/form?a=1", content=b"field=value", headers=spoof)
        assert contract.echoed(r).method == "POST"
    (check,) = stack.tap.auth_requests()
    assert (check.method, check.path, check.body) == ("GET", "/oauth2/auth", b"")
    assert check.get("Host") == INGRESS_HOST
    assert (check.get("Path"), check.get("Method")) == ("/app/form?a=1", "POST")
    assert "_authsvc" in (check.get("Cookie") or "")
    sent = {k.lower() for k, _ in check.headers}
    assert not sent & {"x-original-uri", "x-forwarded-host", "x-forwarded-uri", "user-agent"}


def test_an_api_call_keeps_the_401(stack: NamedStack) -> None:
    with stack.client() as client:
        r = client.get(BASE + "/app/api", headers={"Accept": "application/json"})
    assert r.status_code == 401 and "location" not in r.headers
