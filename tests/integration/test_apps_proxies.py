"""Apps in one authsvc behind each real proxy, each app with its own real IdP (two oidc-provider
instances), and one app with both IdPs as its two providers; the apps told apart by host. One
proxy process per parameter, each running its example:

- nginx (examples/nginx/nginx.conf) and Caddy (examples/caddy/Caddyfile): unchanged, they pass
  Host on and serve every host;
- Envoy (examples/envoy/envoy.yaml): unchanged, its one virtual host has `domains: ["*"]`;
- Traefik (examples/traefik/dynamic.yml): a router names one host, so the example's routers are
  rendered once per host (`APP_HOST`), sharing its middleware and services;
- ingress-nginx (examples/ingress-nginx/ingress.yaml, rendered by tests/support/ingress_nginx.py):
  the example's Ingresses once per host; the check's Host is authsvc's Service name, so the
  app comes from X-Original-URL. Its `auth-signin` is `https://$host/...` (no port): the client
  maps the names to the loopback port, so the URLs here carry no port.

Each proxy runs with the cookie store; nginx once more with every app on one Redis (each app's
keys under its own cookie name).

A cookie of one app is no session at the other, sign-out of one leaves the other, each app's
own rules apply, and a host no app serves is refused (docs/apps.md).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import SECRET_A
from tests.support import contract
from tests.support.browser import chromium, fresh_page, idp_login
from tests.support.components import (
    EXAMPLES,
    OpenIDProvider,
    render,
    render_file,
    render_traefik_template,
    start_authsvc,
    start_caddy,
    start_envoy,
    start_nginx,
    start_oidc_provider,
    start_traefik,
)
from tests.support.echo import EchoUpstream
from tests.support.ingress_nginx import load_configmap
from tests.support.ingress_nginx import render as render_ingress
from tests.support.login import HostMap, browse
from tests.support.processes import HOST, Process, free_port
from tests.support.redis_servers import RedisServer, start_standalone

pytestmark = pytest.mark.integration

# API calls go to /api/: the ingress-nginx example's /api Ingress has no auth-signin, so a call
# without a session gets the 401 (its other Ingress turns every 401 into a sign-in redirect)
API = {"Accept": "application/json"}
PROXIES = ["nginx", "caddy", "traefik", "envoy", "ingress-nginx"]
# (proxy, session store): every proxy on the cookie store, and nginx on one Redis for all apps
STACKS = [(proxy, "cookie") for proxy in PROXIES] + [("nginx", "redis")]
# c.test is routed by the proxy but served by no app (authsvc refuses it)
PROXIED_HOSTS = [f"{name}.test" for name in ("a", "b", "c", "m")]


@dataclass
class TwoApps:
    proxy: str
    store: str
    port: int
    ops: dict[str, OpenIDProvider]
    authsvc: Process

    def url(self, app: str, path: str) -> str:
        if self.proxy == "ingress-nginx":  # its sign-in URL is https://$host/...: no port
            return f"http://{app}.test{path}"
        return f"http://{app}.test:{self.port}{path}"

    @property
    def allowed(self) -> int:
        """What the check answers for an allowed request (Envoy allows on 200 only)."""
        return 200 if self.proxy == "envoy" else 202

    def client(self) -> httpx.Client:
        hosts = {f"{name}.test": self.port for name in ("a", "b", "c", "m")}
        return httpx.Client(transport=HostMap(hosts), timeout=15)


def _traefik(workdir: Path, port: int, authsvc: Process, echo: EchoUpstream) -> Process:
    """Traefik with the example's routers once per app host (a router's Host() names one)."""
    example = EXAMPLES / "traefik"
    dynamic: dict[str, Any] = {"routers": {}}
    for host in PROXIED_HOSTS:
        env = {"APP_HOST": host, "AUTHSVC_URL": authsvc.url, "APP_URL": echo.url}
        http = yaml.safe_load(render_traefik_template((example / "dynamic.yml").read_text(), env))["http"]
        dynamic["routers"] |= {f"{host.split('.')[0]}-{n}": r for n, r in http["routers"].items()}
        dynamic |= {"middlewares": http["middlewares"], "services": http["services"]}
    (workdir / "dynamic").mkdir()
    (workdir / "dynamic" / "dynamic.yml").write_text(yaml.safe_dump({"http": dynamic}))
    static = yaml.safe_load((example / "traefik.yml").read_text())
    static["entryPoints"]["web"]["address"] = f"{HOST}:{port}"
    static["providers"]["file"] = {"directory": str(workdir / "dynamic")}
    return start_traefik(workdir, static, port, [f"{r}@file" for r in dynamic["routers"]])


def _ingress_nginx(workdir: Path, port: int, authsvc: Process, echo: EchoUpstream) -> Process:
    """What ingress-nginx generates for the example's Ingresses once per app host."""
    example = EXAMPLES / "ingress-nginx"
    text = (example / "ingress.yaml").read_text()
    manifest = workdir / "ingress.yaml"
    manifest.write_text("\n---\n".join(text.replace("app.example.com", host) for host in PROXIED_HOSTS))
    endpoints = {"app:8080": f"{HOST}:{echo.port}",
                 "authsvc:4180": f"{HOST}:{authsvc.port}",
                 "authsvc.default.svc.cluster.local:4180": f"{HOST}:{authsvc.port}"}
    conf = render_ingress(manifest, f"{HOST}:{port}", endpoints,
                          load_configmap(example / "controller-configmap.yaml"))
    return start_nginx(workdir, conf, port)


def _proxy(proxy: str, workdir: Path, port: int, authsvc: Process, echo: EchoUpstream) -> Process:
    if proxy == "nginx":
        conf = render_file(EXAMPLES / "nginx" / "nginx.conf", {
            "LISTEN": f"{HOST}:{port}", "AUTHSVC": f"{HOST}:{authsvc.port}",
            "UPSTREAM": f"{HOST}:{echo.port}",
        })
        return start_nginx(workdir, conf, port)
    if proxy == "caddy":
        # the example as is; its site address without a host name serves every Host
        env = {"LISTEN": f":{port}", "AUTHSVC": f"{HOST}:{authsvc.port}",
               "UPSTREAM": f"{HOST}:{echo.port}"}
        return start_caddy(workdir, EXAMPLES / "caddy" / "Caddyfile", port, env)
    if proxy == "envoy":
        bootstrap = render((EXAMPLES / "envoy" / "envoy.yaml").read_text(), {
            "LISTEN_ADDRESS": HOST, "LISTEN_PORT": port, "AUTHSVC_ADDRESS": HOST,
            "AUTHSVC_PORT": authsvc.port, "UPSTREAM_ADDRESS": HOST, "UPSTREAM_PORT": echo.port,
        })
        return start_envoy(workdir, bootstrap, port)
    if proxy == "traefik":
        return _traefik(workdir, port, authsvc, echo)
    return _ingress_nginx(workdir, port, authsvc, echo)


@pytest.fixture(scope="module", params=STACKS, ids=lambda s: s[0] if s[1] == "cookie" else "-".join(s))
def apps(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, echo: EchoUpstream
) -> Iterator[TwoApps]:
    proxy, store = request.param
    port = free_port()
    ops: dict[str, OpenIDProvider] = {}
    procs: list[Process] = []
    redis: RedisServer | None = None
    try:
        stored: dict[str, Any] = {"session_store_type": "cookie"}
        if store == "redis":
            redis = start_standalone(tmp_path_factory.mktemp("redis"))
            stored = {"session_store_type": "redis", "redis_connection_url": redis.url}
        for name in ("a", "b"):
            ops[name] = start_oidc_provider(
                tmp_path_factory.mktemp(f"op-{name}"), env={"CLIENT_ID": f"app-{name}"},
                web_redirect_uris=tuple(f"http://{host}/oauth2/callback"
                                        for host in (f"{name}.test", "m.test")
                                        for host in (f"{host}:{port}", host)),
                post_logout_redirect_uris=(f"http://{name}.test:{port}/", f"http://{name}.test/"),
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
            **({"auth_success_status": 200} if proxy == "envoy" else {}), **stored,
        })
        procs.append(authsvc)
        procs.append(_proxy(proxy, tmp_path_factory.mktemp(proxy), port, authsvc, echo))
        yield TwoApps(proxy, store, port, ops, authsvc)
    finally:
        for proc in reversed(procs):
            proc.stop()
        for op in ops.values():
            op.stop()
        if redis is not None:
            redis.stop()


def _sign_in(apps: TwoApps, client: httpx.Client, app: str, login: str) -> None:
    walk = browse(client, apps.url(app, "/app/page"), login=login)
    assert walk.final.status_code == 200, walk.hops
    # each app signs in at its own IdP, never the other's
    assert walk.visited(apps.ops[app].issuer)
    assert not walk.visited(apps.ops["b" if app == "a" else "a"].issuer)


def test_each_app_signs_in_at_its_own_idp_and_its_cookie_is_no_session_at_the_other(apps: TwoApps) -> None:
    with apps.client() as client:
        _sign_in(apps, client, "a", "alice@example.com")
        assert client.get(apps.url("a", "/api/x"), headers=API).status_code == 200
        # the session is app a's only: b has no session for this browser
        assert client.get(apps.url("b", "/api/x"), headers=API).status_code == 401
        value = client.cookies.get("_app_a", domain="a.test")
        assert value
    # a's cookie copied to b's host, under a's name and under b's: no session either way
    with apps.client() as other:
        for name in ("_app_a", "_app_b"):
            r = other.get(apps.url("b", "/api/x"), headers={**API, "Cookie": f"{name}={value}"})
            assert r.status_code == 401, name
        ok = other.get(apps.url("a", "/api/x"), headers={**API, "Cookie": f"_app_a={value}"})
        assert ok.status_code == 200


def test_a_bearer_token_of_one_app_is_refused_by_the_other(apps: TwoApps) -> None:
    with apps.client() as client:
        _sign_in(apps, client, "a", "alice@example.com")
        cookie = client.cookies.get("_app_a", domain="a.test")
    # the check's answer (authsvc asked directly, as nginx does) carries app a's ID token
    answer = httpx.get(f"{apps.authsvc.url}/oauth2/auth",
                       headers={"Host": "a.test", "Cookie": f"_app_a={cookie}"})
    assert answer.status_code == apps.allowed
    token = answer.headers["authorization"].removeprefix("Bearer ")
    with apps.client() as api:
        bearer = {**API, "Authorization": f"Bearer {token}"}
        assert api.get(apps.url("a", "/api/x"), headers=bearer).status_code == 200
        # issued by IdP a for app a's client: app b trusts neither
        assert api.get(apps.url("b", "/api/x"), headers=bearer).status_code == 401


def test_each_app_applies_its_own_rules(apps: TwoApps) -> None:
    with apps.client() as client:
        # b admits evil.example only: alice@example.com is refused there, not at a
        walk = browse(client, apps.url("b", "/app/page"), login="alice@example.com")
        assert walk.final.status_code == 403
    with apps.client() as client:  # a new browser: the IdP's own session is alice's
        _sign_in(apps, client, "b", "mallory@evil.example")
        seen = contract.echoed(client.get(apps.url("b", "/api/x"), headers=API))
        assert seen.get("x-auth-request-email") == "mallory@evil.example"


def test_sign_out_of_one_app_leaves_the_other(apps: TwoApps) -> None:
    with apps.client() as client:
        _sign_in(apps, client, "a", "alice@example.com")
        _sign_in(apps, client, "b", "mallory@evil.example")
        out = client.get(apps.url("a", "/oauth2/sign_out"))
        assert out.status_code == 302
        assert out.headers["location"].startswith(apps.ops["a"].issuer + "/"), out.headers["location"]
        assert "id_token_hint=" in out.headers["location"]
        assert client.get(apps.url("a", "/api/x"), headers=API).status_code == 401
        assert client.get(apps.url("b", "/api/x"), headers=API).status_code == 200


def test_a_host_no_app_serves_is_refused(apps: TwoApps) -> None:
    with apps.client() as client:
        # the check fails closed with 403 (a 401 would send the browser to a sign-in no app serves)
        assert client.get(apps.url("c", "/api/x"), headers=API).status_code == 403
        assert client.get(apps.url("c", "/api/x")).status_code == 403
        start = client.get(apps.url("c", "/oauth2/start"))
        assert start.status_code == 421
        # the process's own endpoints answer on any host; /ready checks every app's IdP
        assert client.get(f"http://127.0.0.1:{apps.authsvc.port}/ready").text == "OK"


def test_chromium_round_trip_on_both_hosts(apps: TwoApps) -> None:
    if apps.proxy == "ingress-nginx":
        pytest.skip("the example's auth-signin is https://$host/...: Chromium would need TLS on 443")
    if apps.store != "cookie":
        pytest.skip("the store changes nothing Chromium sees (run once per proxy)")
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
        # (behind ingress-nginx over https://$host, the client's scheme: see the module doc)
        assert page.final.status_code == 200
        assert (page.final.url.host, page.final.url.path) == ("m.test", "/oauth2/sign_in")
        buttons = dict(re.findall(r'id="sign-in-(\w+)" href="([^"]+)"', page.final.text))
        assert set(buttons) == {"a", "b"}
        assert "Sign in with IdP A" in page.final.text and "Sign in with IdP B" in page.final.text
        walk = browse(client, apps.url("m", html.unescape(buttons["b"])), login="mallory@evil.example")
        assert walk.final.status_code == 200, walk.hops
        assert walk.visited(apps.ops["b"].issuer) and not walk.visited(apps.ops["a"].issuer)
        seen = contract.echoed(client.get(apps.url("m", "/api/x"), headers=API))
        assert seen.get("x-auth-request-email") == "mallory@evil.example"
        value = client.cookies.get("_app_m_b", domain="m.test")
        assert value and client.cookies.get("_app_m_a", domain="m.test") is None
        # provider b's session under provider a's cookie name is no session
        with apps.client() as other:
            r = other.get(apps.url("m", "/api/x"), headers={**API, "Cookie": f"_app_m_a={value}"})
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
        assert client.get(apps.url("m", "/api/x"), headers=API).status_code == 401
