# ruff: noqa: E501  (the Envoy bootstrap below keeps its type URLs on one line)
"""A drop-in for oauth2-proxy behind Istio: `envoyExtAuthzHttp` without a path prefix.

The common Istio set-up for oauth2-proxy (an `extensionProviders` entry of type
`envoyExtAuthzHttp` and an `AuthorizationPolicy` with `action: CUSTOM`) points Envoy's ext_authz
at oauth2-proxy's port with no `pathPrefix`, so each check arrives at the *original* path, and
relies on oauth2-proxy's `upstreams = "static://200"` to answer 200 there. The Envoy
configuration below is what istiod generates for such a provider (MeshConfig
`EnvoyExternalAuthorizationHttpProvider`): `http_service.server_uri` at the service and port,
no `path_prefix`, `allowed_headers` from `includeRequestHeadersInCheck`,
`allowed_upstream_headers` from `headersToUpstreamOnAllow` and `allowed_client_headers` from
`headersToDownstreamOnDeny` (Envoy adds Location, WWW-Authenticate, Status and Content-Length to
that list itself), with the lists of oauth2-proxy's usual Istio recipe. `/oauth2/` is routed to
authsvc without the check, as a VirtualService would.

authsvc is configured only by an oauth2-proxy cfg, and run as the container runs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import contract
from tests.support.components import REPO, start_envoy, start_oidc_provider
from tests.support.echo import EchoUpstream
from tests.support.login import BROWSER_ACCEPT, browse
from tests.support.processes import HOST, Process, free_port, http_ready, python_argv, start_process

pytestmark = pytest.mark.integration

#: includeRequestHeadersInCheck, headersToUpstreamOnAllow, headersToDownstreamOnDeny
REQUEST_HEADERS = ("authorization", "cookie")
UPSTREAM_HEADERS = ("authorization", "path", "x-auth-request-user", "x-auth-request-email",
                    "x-auth-request-access-token")
DOWNSTREAM_ON_DENY = ("content-type", "set-cookie")


def _patterns(names: tuple[str, ...], indent: int) -> str:
    pad = " " * indent
    return "\n".join(f"{pad}- {{ exact: {name}, ignore_case: true }}" for name in names)


def istio_bootstrap(port: int, authsvc_port: int, app_port: int) -> str:
    return f"""
static_resources:
  listeners:
    - name: ingress
      address: {{ socket_address: {{ address: "{HOST}", port_value: {port} }} }}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: ingress
                use_remote_address: true
                route_config:
                  virtual_hosts:
                    - name: app
                      domains: ["*"]
                      routes:
                        - match: {{ prefix: "/oauth2/" }}
                          route: {{ cluster: oauth2-proxy }}
                          typed_per_filter_config:
                            envoy.filters.http.ext_authz:
                              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute
                              disabled: true
                        - match: {{ prefix: "/" }}
                          route: {{ cluster: app }}
                http_filters:
                  - name: envoy.filters.http.ext_authz
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
                      transport_api_version: V3
                      failure_mode_allow: false
                      status_on_error: {{ code: Forbidden }}
                      allowed_headers:
                        patterns:
{_patterns(REQUEST_HEADERS, 26)}
                      http_service:
                        server_uri:
                          uri: "http://oauth2-proxy.oauth2-proxy.svc.cluster.local:4180"
                          cluster: oauth2-proxy
                          timeout: 600s
                        authorization_response:
                          allowed_upstream_headers:
                            patterns:
{_patterns(UPSTREAM_HEADERS, 30)}
                          allowed_client_headers:
                            patterns:
{_patterns(DOWNSTREAM_ON_DENY, 30)}
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
    - name: oauth2-proxy
      type: STATIC
      load_assignment:
        cluster_name: oauth2-proxy
        endpoints: [{{ lb_endpoints: [{{ endpoint: {{ address: {{ socket_address: {{ address: "{HOST}", port_value: {authsvc_port} }} }} }} }}] }}]
    - name: app
      type: STATIC
      load_assignment:
        cluster_name: app
        endpoints: [{{ lb_endpoints: [{{ endpoint: {{ address: {{ socket_address: {{ address: "{HOST}", port_value: {app_port} }} }} }} }}] }}]
"""


def oauth2_proxy_cfg(issuer: str, client_id: str, secret: str, port: int, envoy_port: int) -> str:
    """An oauth2-proxy cfg as Istio users write it (static upstream, skip the button)."""
    return f"""
http_address = "{HOST}:{port}"
provider = "oidc"
oidc_issuer_url = "{issuer}"
client_id = "{client_id}"
client_secret = "{secret}"
cookie_secret = "OQINaROshtE9TcZkNAm-5Zs2Pv3xaWytBmc5W7sPX7w="
cookie_secure = false
email_domains = ["*"]
redirect_url = "http://{HOST}:{envoy_port}/oauth2/callback"
reverse_proxy = true
upstreams = ["static://200"]
skip_provider_button = true
set_xauthrequest = true
pass_access_token = true
"""


@dataclass
class Mesh:
    envoy: Process
    authsvc: Process

    @property
    def base(self) -> str:
        return self.envoy.url


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, echo: EchoUpstream) -> Iterator[Mesh]:
    work: Path = tmp_path_factory.mktemp("istio")
    envoy_port, port = free_port(), free_port()
    op = start_oidc_provider(work, redirect_uris=(f"http://{HOST}:{envoy_port}/oauth2/callback",))
    authsvc: Process | None = None
    envoy: Process | None = None
    try:
        cfg = work / "oauth2_proxy.cfg"
        cfg.write_text(oauth2_proxy_cfg(op.issuer, op.client_id, op.client_secret, port, envoy_port))
        authsvc = start_process("authsvc", python_argv("-m", "authsvc", f"--config={cfg}"), port=port,
                                log_dir=work, cwd=REPO, ready=http_ready("/ping"))
        envoy = start_envoy(work, istio_bootstrap(envoy_port, port, echo.port), envoy_port)
        yield Mesh(envoy, authsvc)
    finally:
        for proc in (envoy, authsvc, op.process):
            if proc is not None:
                proc.stop()


def test_a_browser_is_sent_to_the_idp_and_comes_back_to_the_page(mesh: Mesh) -> None:
    with httpx.Client(timeout=15) as client:
        first = client.get(f"{mesh.base}/app/page?x=1", headers={"Accept": BROWSER_ACCEPT})
        # skip_provider_button: the check itself starts the login; Envoy passes on its 302
        assert first.status_code == 302, first.text[:300]
        assert first.headers["location"].startswith(f"http://{HOST}:"), first.headers
        assert "set-cookie" in first.headers  # the login state, through headersToDownstreamOnDeny
        walk = browse(client, f"{mesh.base}/app/page?x=1", login="alice@example.com")
        assert walk.final.url == httpx.URL(f"{mesh.base}/app/page?x=1"), walk.hops
        seen = contract.echoed(walk.final)
        assert seen.path == "/app/page?x=1"
        assert seen.get("x-auth-request-email") == "alice@example.com"
        assert seen.get("x-auth-request-user")
        assert len(seen.get("x-auth-request-access-token") or "") >= 20  # pass_access_token
        # signed in: every path is answered 200 by the check, the app is reached
        again = client.get(f"{mesh.base}/other/path", headers={"Accept": BROWSER_ACCEPT})
        assert contract.echoed(again).path == "/other/path"


def test_an_api_caller_with_a_bad_token_gets_401_and_no_login(mesh: Mesh) -> None:
    # Istio sends only includeRequestHeadersInCheck (no Accept): Authorization tells an API caller
    r = httpx.get(f"{mesh.base}/api/items", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    assert "location" not in r.headers and "set-cookie" not in r.headers


def test_identity_headers_sent_by_the_client_do_not_reach_the_app(mesh: Mesh) -> None:
    with httpx.Client(timeout=15) as client:
        walk = browse(client, f"{mesh.base}/app/signed-in", login="nogroups@example.com")
        assert walk.final.status_code == 200, walk.hops
        r = client.get(f"{mesh.base}/app/x", headers={"X-Auth-Request-Email": "admin@example.com"})
        # Envoy replaces an allowed upstream header with the check's answer
        assert contract.echoed(r).all("x-auth-request-email") == ["nogroups@example.com"]


def test_the_apps_robots_txt_is_not_let_through_without_a_session(mesh: Mesh) -> None:
    # Envoy asks at the client's own path and allows on 200: authsvc's own /robots.txt (a 200)
    # opened the app's /robots.txt to anyone; now the check answers it
    r = httpx.get(f"{mesh.base}/robots.txt", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    assert "User-agent" not in r.text  # neither the app (Envoy allowed) nor authsvc's own


@pytest.mark.parametrize("path", ["/oauth2%2fsign_in", "/%70ing"])
def test_an_encoded_path_of_ours_does_not_let_the_apps_through(mesh: Mesh, path: str) -> None:
    # Envoy routes /oauth2%2fsign_in to the app (not the /oauth2/ prefix) and asks the check
    # with it; decoded, authsvc answered with its own 200 (the sign-in page, /ping)
    r = httpx.get(f"{mesh.base}{path}", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401, r.text[:200]
