"""Apps in one authsvc behind real nginx and real Caddy, each with its own real IdP (two
oidc-provider instances), and one app with both IdPs as its two providers: examples/nginx/nginx.conf
and examples/caddy/Caddyfile unchanged (they pass Host on), the apps told apart by host.

A cookie of one app is no session at the other, sign-out of one leaves the other, each app's
own rules apply, and a host no app serves is refused (docs/apps.md).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import SECRET_A
from tests.support import contract
from tests.support.browser import chromium, fresh_page, idp_login
from tests.support.components import (
    EXAMPLES,
    OpenIDProvider,
    render_file,
    start_authsvc,
    start_caddy,
    start_nginx,
    start_oidc_provider,
)
from tests.support.echo import EchoUpstream
from tests.support.login import HostMap, browse
from tests.support.processes import HOST, Process, free_port

pytestmark = pytest.mark.integration

API = {"Accept": "application/json"}


@dataclass
class TwoApps:
    port: int
    ops: dict[str, OpenIDProvider]
    authsvc: Process

    def url(self, app: str, path: str) -> str:
        return f"http://{app}.test:{self.port}{path}"

    def client(self) -> httpx.Client:
        hosts = {f"{name}.test": self.port for name in ("a", "b", "c", "m")}
        return httpx.Client(transport=HostMap(hosts), timeout=15)


@pytest.fixture(scope="module", params=["nginx", "caddy"])
def apps(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, echo: EchoUpstream
) -> Iterator[TwoApps]:
    proxy: str = request.param
    port = free_port()
    ops: dict[str, OpenIDProvider] = {}
    procs: list[Process] = []
    try:
        for name in ("a", "b"):
            ops[name] = start_oidc_provider(
                tmp_path_factory.mktemp(f"op-{name}"), env={"CLIENT_ID": f"app-{name}"},
                web_redirect_uris=(f"http://{name}.test:{port}/oauth2/callback",
                                   f"http://m.test:{port}/oauth2/callback"),
                post_logout_redirect_uris=(f"http://{name}.test:{port}/",),
            )
        app_tables: list[dict[str, Any]] = [
            {"name": name, "hosts": [f"{name}.test"], "cookie_name": f"_app_{name}",
             "oidc_issuer_url": op.issuer, "client_id": op.web_client_id, "client_secret": op.client_secret,
             "email_domains": ["example.com"] if name == "a" else ["evil.example"],
             # RP-initiated logout at app a only: its sign-out ends at IdP a, never at IdP b
             "oidc_end_session": name == "a"}
            for name, op in ops.items()
        ]
        # app m: one app, two providers (each of the two IdPs), one cookie each
        app_tables.append({
            "name": "m", "hosts": ["m.test"], "cookie_name": "_app_m",
            "email_domains": ["example.com", "evil.example"],
            "providers": [
                {"id": name, "oidc_issuer_url": op.issuer, "client_id": op.web_client_id,
                 "client_secret": op.client_secret, "provider_display_name": f"IdP {name.upper()}"}
                for name, op in ops.items()
            ],
        })
        authsvc = start_authsvc(tmp_path_factory.mktemp("authsvc"), {
            "provider": "oidc", "cookie_secret": [SECRET_A], "cookie_secure": False,
            "proxy_kind": proxy, "apps": app_tables,
            # each app accepts its own IdP's JWTs; the check hands out the session's ID token
            "skip_jwt_bearer_tokens": True, "set_authorization_header": True,
        })
        procs.append(authsvc)
        if proxy == "nginx":
            conf = render_file(EXAMPLES / "nginx" / "nginx.conf", {
                "LISTEN": f"{HOST}:{port}", "AUTHSVC": f"{HOST}:{authsvc.port}",
                "UPSTREAM": f"{HOST}:{echo.port}",
            })
            procs.append(start_nginx(tmp_path_factory.mktemp("nginx"), conf, port))
        else:
            # the example as is; its site address without a host name serves every Host
            env = {"LISTEN": f":{port}", "AUTHSVC": f"{HOST}:{authsvc.port}",
                   "UPSTREAM": f"{HOST}:{echo.port}"}
            caddyfile = EXAMPLES / "caddy" / "Caddyfile"
            procs.append(start_caddy(tmp_path_factory.mktemp("caddy"), caddyfile, port, env))
        yield TwoApps(port, ops, authsvc)
    finally:
        for proc in reversed(procs):
            proc.stop()
        for op in ops.values():
            op.stop()


def _sign_in(apps: TwoApps, client: httpx.Client, app: str, login: str) -> None:
    walk = browse(client, apps.url(app, "/app/page"), login=login)
    assert walk.final.status_code == 200, walk.hops
    # each app signs in at its own IdP, never the other's
    assert walk.visited(apps.ops[app].issuer)
    assert not walk.visited(apps.ops["b" if app == "a" else "a"].issuer)


def test_each_app_signs_in_at_its_own_idp_and_its_cookie_is_no_session_at_the_other(apps: TwoApps) -> None:
    with apps.client() as client:
        _sign_in(apps, client, "a", "alice@example.com")
        assert client.get(apps.url("a", "/app/x"), headers=API).status_code == 200
        # the session is app a's only: b has no session for this browser
        assert client.get(apps.url("b", "/app/x"), headers=API).status_code == 401
        value = client.cookies.get("_app_a", domain="a.test")
        assert value
    # a's cookie copied to b's host, under a's name and under b's: no session either way
    with apps.client() as other:
        for name in ("_app_a", "_app_b"):
            r = other.get(apps.url("b", "/app/x"), headers={**API, "Cookie": f"{name}={value}"})
            assert r.status_code == 401, name
        ok = other.get(apps.url("a", "/app/x"), headers={**API, "Cookie": f"_app_a={value}"})
        assert ok.status_code == 200


def test_a_bearer_token_of_one_app_is_refused_by_the_other(apps: TwoApps) -> None:
    with apps.client() as client:
        _sign_in(apps, client, "a", "alice@example.com")
        cookie = client.cookies.get("_app_a", domain="a.test")
    # the check's answer (authsvc asked directly, as nginx does) carries app a's ID token
    answer = httpx.get(f"{apps.authsvc.url}/oauth2/auth",
                       headers={"Host": "a.test", "Cookie": f"_app_a={cookie}"})
    assert answer.status_code == 202
    token = answer.headers["authorization"].removeprefix("Bearer ")
    with apps.client() as api:
        bearer = {**API, "Authorization": f"Bearer {token}"}
        assert api.get(apps.url("a", "/app/x"), headers=bearer).status_code == 200
        # issued by IdP a for app a's client: app b trusts neither
        assert api.get(apps.url("b", "/app/x"), headers=bearer).status_code == 401


def test_each_app_applies_its_own_rules(apps: TwoApps) -> None:
    with apps.client() as client:
        # b admits evil.example only: alice@example.com is refused there, not at a
        walk = browse(client, apps.url("b", "/app/page"), login="alice@example.com")
        assert walk.final.status_code == 403
    with apps.client() as client:  # a new browser: the IdP's own session is alice's
        _sign_in(apps, client, "b", "mallory@evil.example")
        seen = contract.echoed(client.get(apps.url("b", "/app/x"), headers=API))
        assert seen.get("x-auth-request-email") == "mallory@evil.example"


def test_sign_out_of_one_app_leaves_the_other(apps: TwoApps) -> None:
    with apps.client() as client:
        _sign_in(apps, client, "a", "alice@example.com")
        _sign_in(apps, client, "b", "mallory@evil.example")
        out = client.get(apps.url("a", "/oauth2/sign_out"))
        assert out.status_code == 302
        assert out.headers["location"].startswith(apps.ops["a"].issuer + "/"), out.headers["location"]
        assert "id_token_hint=" in out.headers["location"]
        assert client.get(apps.url("a", "/app/x"), headers=API).status_code == 401
        assert client.get(apps.url("b", "/app/x"), headers=API).status_code == 200


def test_a_host_no_app_serves_is_refused(apps: TwoApps) -> None:
    with apps.client() as client:
        # the check fails closed with 403 (a 401 would send the browser to a sign-in no app serves)
        assert client.get(apps.url("c", "/app/x"), headers=API).status_code == 403
        assert client.get(apps.url("c", "/app/x")).status_code == 403
        start = client.get(apps.url("c", "/oauth2/start"))
        assert start.status_code == 421
        # the process's own endpoints answer on any host; /ready checks every app's IdP
        assert client.get(f"http://127.0.0.1:{apps.authsvc.port}/ready").text == "OK"


def test_chromium_round_trip_on_both_hosts(apps: TwoApps) -> None:
    rules = ",".join(f"MAP {name}.test 127.0.0.1" for name in ("a", "b"))
    with chromium([f"--host-resolver-rules={rules}"]) as browser, fresh_page(browser) as page:
        for app, login in (("a", "alice@example.com"), ("b", "mallory@evil.example")):
            page.goto(apps.url(app, "/app/page"))
            assert page.url.startswith(apps.ops[app].issuer)
            idp_login(page, login)
            page.wait_for_url(apps.url(app, "/app/page"))
            assert login in page.content()  # the echo app shows the identity headers it got
        names = {c["name"]: c["domain"] for c in page.context.cookies()}
        assert names.get("_app_a") == "a.test" and names.get("_app_b") == "b.test"



def test_one_app_with_two_providers_offers_each_and_keeps_them_apart(apps: TwoApps) -> None:
    with apps.client() as client:
        page = browse(client, apps.url("m", "/app/page"))
        assert page.final.status_code == 200 and page.visited(apps.url("m", "/oauth2/sign_in"))
        buttons = dict(re.findall(r'id="sign-in-(\w+)" href="([^"]+)"', page.final.text))
        assert set(buttons) == {"a", "b"}
        assert "Sign in with IdP A" in page.final.text and "Sign in with IdP B" in page.final.text
        walk = browse(client, apps.url("m", html.unescape(buttons["b"])), login="mallory@evil.example")
        assert walk.final.status_code == 200, walk.hops
        assert walk.visited(apps.ops["b"].issuer) and not walk.visited(apps.ops["a"].issuer)
        seen = contract.echoed(client.get(apps.url("m", "/app/x"), headers=API))
        assert seen.get("x-auth-request-email") == "mallory@evil.example"
        value = client.cookies.get("_app_m_b", domain="m.test")
        assert value and client.cookies.get("_app_m_a", domain="m.test") is None
        # provider b's session under provider a's cookie name is no session
        with apps.client() as other:
            r = other.get(apps.url("m", "/app/x"), headers={**API, "Cookie": f"_app_m_a={value}"})
            assert r.status_code == 401
        assert client.get(apps.url("m", "/oauth2/start?provider=nope")).status_code == 400
        # signed in with both providers: sign-out ends both sessions and expires both cookies
        walk = browse(client, apps.url("m", html.unescape(buttons["a"])), login="alice@example.com")
        assert walk.final.status_code == 200, walk.hops
        assert client.cookies.get("_app_m_a", domain="m.test")
        out = client.get(apps.url("m", "/oauth2/sign_out"))
        assert out.status_code == 302
        assert {c.split("=", 1)[0] for c in out.headers.get_list("set-cookie") if "Max-Age=0" in c} >= {
            "_app_m_a", "_app_m_b"}
        assert client.get(apps.url("m", "/app/x"), headers=API).status_code == 401
