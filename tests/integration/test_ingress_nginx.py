"""examples/ingress-nginx/ingress.yaml, rendered as ingress-nginx's template would, in real nginx.

The Ingress host (app.example.com) is reached through a client-side host map, so cookies, Host
and the absolute sign-in URL behave as in a cluster; only the connection goes to loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.conftest import INGRESS_HOST, AuthsvcFactory
from tests.support import contract
from tests.support.components import EXAMPLES, OpenIDProvider, start_nginx
from tests.support.echo import EchoUpstream
from tests.support.ingress_nginx import load_configmap, load_paths, render
from tests.support.login import BROWSER_ACCEPT, HostMap, browse
from tests.support.processes import HOST, Process, free_port
from tests.support.proxy_contract import NamedStack, tapped_by_name
from tests.support.tap import Tap

pytestmark = pytest.mark.integration

MANIFEST = EXAMPLES / "ingress-nginx" / "ingress.yaml"
CONFIGMAP = load_configmap(EXAMPLES / "ingress-nginx" / "controller-configmap.yaml")
BASE = f"http://{INGRESS_HOST}"


def _nginx(workdir: Path, manifest: Path, authsvc: Process | Tap, echo: EchoUpstream) -> Process:
    """nginx running what ingress-nginx generates for `manifest` and the example ConfigMap."""
    port = free_port()
    endpoints = {  # what kube DNS and the Service endpoints would give
        "app:8080": f"{HOST}:{echo.port}",
        "authsvc:4180": f"{HOST}:{authsvc.port}",
        "authsvc.default.svc.cluster.local:4180": f"{HOST}:{authsvc.port}",
    }
    conf = render(manifest, f"{HOST}:{port}", endpoints, CONFIGMAP)
    return start_nginx(workdir, conf, port)


@pytest.fixture(scope="module")
def authsvc(start_authsvc_for: AuthsvcFactory, oidc_provider: OpenIDProvider) -> Process:
    return start_authsvc_for(
        proxy_kind="ingress-nginx",
        client_id=oidc_provider.web_client_id,
        whitelist_domains=[INGRESS_HOST],
    )


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, authsvc: Process, echo: EchoUpstream
) -> Iterator[NamedStack]:
    workdir = tmp_path_factory.mktemp("ingress-nginx")
    with tapped_by_name(authsvc.port, BASE, lambda tap: _nginx(workdir, MANIFEST, tap, echo)) as stack:
        yield stack


def test_the_manifest_has_what_the_docs_promise() -> None:
    paths = {p.path: p for p in load_paths(MANIFEST)}
    app, api, oauth2 = paths["/"], paths["/api"], paths["/oauth2"]
    assert app.annotation("auth-url").endswith("/oauth2/auth")
    assert app.annotation("auth-signin")
    assert set(contract.IDENTITY) <= set(app.annotation("auth-response-headers").split(","))
    assert not oauth2.annotation("auth-url")  # the second Ingress: no auth, no loop
    assert api.annotation("auth-url") and not api.annotation("auth-signin")
    for p in (app, api, oauth2):
        assert p.annotation("proxy-buffer-size") in ("16k", "32k", "64k")


def test_login_round_trip(stack: NamedStack) -> None:
    contract.assert_login_round_trip(BASE, transport=stack.transport())


def test_sign_in_redirect_carries_the_escaped_absolute_url(stack: NamedStack) -> None:
    with stack.client() as client:
        r = client.get(BASE + contract.TRICKY_PATH, headers={"Accept": BROWSER_ACCEPT})
    assert r.status_code == 302
    location = r.headers["location"]
    # rd=$pass_access_scheme://$http_host$escaped_request_uri: scheme and host raw, the request
    # URI escaped (its own %xx escaped again); authsvc decodes it exactly once
    assert location == (
        f"https://{INGRESS_HOST}/oauth2/start?rd=http://{INGRESS_HOST}"
        "%2Fapp%2Fpage%3Fx%3D1%26y%3Da%2526b%26z%3D100%2525%26q%3Dc%2Bd%2520e"
    )
    assert parse_qs(urlsplit(location).query)["rd"] == [BASE + contract.TRICKY_PATH]


def test_the_check_is_what_the_ingress_nginx_template_sends(stack: NamedStack) -> None:
    with contract.signed_in(BASE, "alice@example.com", transport=stack.transport()) as client:
        stack.tap.clear()
        headers = {"X-Original-URL": "http://evil.example/", "X-Forwarded-Proto": "https"}
        r = client.post(BASE + "/app/form?a=1&b=%26", content=b"field=value", headers=headers)
        assert contract.echoed(r).method == "POST"
    (check,) = stack.tap.auth_requests()
    assert (check.method, check.path, check.body) == ("GET", "/oauth2/auth", b"")
    assert check.get("Host") == "authsvc.default.svc.cluster.local"
    assert check.get("X-Original-URL") == f"{BASE}/app/form?a=1&b=%26"
    assert check.get("X-Original-Method") == "POST"
    assert check.get("X-Auth-Request-Redirect") == "/app/form?a=1&b=%26"
    assert check.get("X-Sent-From") == "nginx-ingress-controller"
    assert not check.has("X-Forwarded-Proto")  # blanked
    assert not check.has("Content-Length")


def test_spoofed_identity_headers_never_reach_the_app(stack: NamedStack) -> None:
    with contract.signed_in(BASE, "alice@example.com", transport=stack.transport()) as client:
        contract.assert_spoofing_stopped(BASE, client)


def test_spoofed_original_url_cannot_open_a_path(stack: NamedStack) -> None:
    """ingress-nginx overwrites X-Original-URL; a client's copy does not reach authsvc."""
    with stack.client() as client:
        r = client.get(
            BASE + "/app/secret",
            headers={"X-Original-URL": f"{BASE}/oauth2/sign_in", "Accept": BROWSER_ACCEPT},
        )
    assert r.status_code == 302
    assert "%2Fapp%2Fsecret" in r.headers["location"]


def test_forbidden_domain_gets_403_not_a_loop(stack: NamedStack) -> None:
    contract.assert_forbidden_domain(BASE, transport=stack.transport())


def test_sign_out_sends_the_next_request_to_sign_in(stack: NamedStack) -> None:
    with contract.signed_in(BASE, "alice@example.com", transport=stack.transport()) as client:
        r = client.get(BASE + "/oauth2/sign_out?rd=%2Fapp%2Fafter")
        assert r.status_code == 302
        r = client.get(BASE + "/app/after", headers={"Accept": BROWSER_ACCEPT})
        assert r.status_code == 302
        assert "/oauth2/start" in r.headers["location"]


def test_xhr_is_redirected_by_the_auth_signin_annotation(stack: NamedStack) -> None:
    """A known ingress-nginx limit: with auth-signin, EVERY 401 becomes a 302 (the template's
    error_page has no condition, and snippets are disabled by default). README explains the
    alternative: API paths in an Ingress without auth-signin get authsvc's 401 as is."""
    with stack.client() as client:
        r = client.get(BASE + "/app/api", headers={"Accept": "application/json"})
    assert r.status_code == 302
    assert "x-auth-request-user" not in r.headers


def test_api_paths_without_auth_signin_get_401(stack: NamedStack) -> None:
    """5 under ingress-nginx: the example's API Ingress has no auth-signin."""
    for headers in ({"Accept": "application/json"}, {"X-Requested-With": "XMLHttpRequest"}):
        with stack.client() as client:
            r = client.get(BASE + "/api/items", headers=headers)
        assert r.status_code == 401, (headers, r.status_code)
        assert "location" not in r.headers
    with contract.signed_in(BASE, "alice@example.com", transport=stack.transport()) as client:
        seen = contract.echoed(client.get(BASE + "/api/items", headers=contract.SPOOFED))
        assert seen.all("X-Auth-Request-Email") == ["alice@example.com"]


def test_session_over_4kb_passes_with_the_example_buffers(stack: NamedStack) -> None:
    contract.assert_big_session(BASE, transport=stack.transport())


def test_default_4k_buffers_break_big_sessions(
    tmp_path_factory: pytest.TempPathFactory, authsvc: Process, echo: EchoUpstream
) -> None:
    """Why the example sets proxy-buffer-size: the same manifest at the 4k default fails."""
    manifest = tmp_path_factory.mktemp("manifest") / "ingress.yaml"
    manifest.write_text(MANIFEST.read_text().replace('proxy-buffer-size: "32k"', 'proxy-buffer-size: "4k"'))
    nginx = _nginx(tmp_path_factory.mktemp("ingress-nginx-4k"), manifest, authsvc, echo)
    try:
        with contract.new_client(HostMap({INGRESS_HOST: nginx.port})) as client:
            walk = browse(client, BASE + "/app/big", login="many@example.com")
            assert walk.final.status_code in (500, 502), walk.hops
        assert "too big header" in nginx.log()
    finally:
        nginx.stop()
