"""any_path_auth_status: the check at every path, as oauth2-proxy's `upstreams = static://202`
answers forward-auth pointed at `/` (oauthproxy.go Proxy(), pkg/upstream/static.go)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from authsvc.config import Settings
from authsvc.login.state import LoginStates
from authsvc.models import Tokens
from tests.support.app_driver import fake_idp_settings
from tests.support.auth_app import STRANGER, AuthApp
from tests.support.fake_idp import FakeIdP

pytestmark = pytest.mark.anyio

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
#: what Traefik's forwardAuth sends to `address: http://authsvc:4180` (forward.go)
TRAEFIK = {"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https",
           "X-Forwarded-Host": "app.example.test", "X-Forwarded-Uri": "/reports?a=1",
           "X-Forwarded-For": "198.51.100.7"}
ORIGINAL_URL = "https://app.example.test/reports?a=1"


def _settings(fake: FakeIdP, **overrides: Any) -> Settings:
    return fake_idp_settings(fake, **{"any_path_auth_status": 202, **overrides})


async def test_signed_in_gets_the_static_code_with_the_identity_headers(fake_idp: FakeIdP) -> None:
    settings = _settings(fake_idp, pass_access_token=True, set_authorization_header=True)
    async with AuthApp.start(settings) as app:
        cookie = await app.cookie(user="ada", email="ada@example.com", groups=("admins", "dev"),
                                  preferred_username="Ada",
                                  tokens=Tokens(access_token="at-1", id_token="idt-1"))
        at_root = await app.auth("/", cookie=cookie, headers=TRAEFIK)
        at_auth = await app.auth(cookie=cookie, headers=TRAEFIK)
        metrics = await app.client().get("/metrics")
    assert at_root.status_code == 202 and at_auth.status_code == 202
    identity = {k: v for k, v in at_root.headers.items()
                if k.startswith("x-auth-request") or k == "authorization"}
    assert identity == {k: v for k, v in at_auth.headers.items() if k in identity}
    assert identity == {
        "x-auth-request-user": "ada", "x-auth-request-email": "ada@example.com",
        "x-auth-request-groups": "admins,dev", "x-auth-request-preferred-username": "Ada",
        "x-auth-request-access-token": "at-1", "authorization": "Bearer idt-1",
    }
    assert "x-request-id" in at_root.headers
    # counted as checks: both allowed answers under endpoint="auth"
    assert 'authsvc_requests_total{endpoint="auth",outcome="allowed"} 2.0' in metrics.text


async def test_any_path_and_method_and_200(fake_idp: FakeIdP) -> None:
    async with AuthApp.start(_settings(fake_idp, any_path_auth_status=200, email_domains=["*"])) as app:
        cookie = await app.cookie()
        got = [(await app.auth(path, cookie=cookie, headers=TRAEFIK, method=method)).status_code
               for path, method in (("/", "GET"), ("/any/where", "POST"), ("/favicon.ico", "HEAD"),
                                       ("/x", "PROPFIND"))]
    assert got == [200, 200, 200, 200]


async def test_no_session_with_skip_provider_button_starts_the_login(fake_idp: FakeIdP) -> None:
    settings = _settings(fake_idp, skip_provider_button=True, login_url_parameters_allowed=["login_hint=.*"])
    async with AuthApp.start(settings) as app:
        response = await app.auth("/?login_hint=x", headers={**TRAEFIK, "Accept": HTML})
        name, _, rest = response.headers["set-cookie"].partition("=")
        query = parse_qs(urlsplit(response.headers["location"]).query)
        # the same login /oauth2/start begins: its state returns to the original URL
        states = LoginStates(app.services.login_sealer, settings.cookie_name,
                             settings.cookie_csrf_expire, app.services.clock)
        state = states.open({name: rest.split(";", 1)[0]}, query["state"][0])
    assert response.status_code == 302
    assert response.headers["location"].startswith(fake_idp.url("authorize"))
    assert "login_hint" not in query  # the app's own query is not login parameters
    assert state.rd == ORIGINAL_URL
    assert query["redirect_uri"] == ["https://app.example.test/oauth2/callback"]


async def test_no_session_shows_the_sign_in_page_with_403(fake_idp: FakeIdP) -> None:
    async with AuthApp.start(_settings(fake_idp)) as app:
        response = await app.auth("/", headers={**TRAEFIK, "Accept": HTML})
        metrics = await app.client().get("/metrics")
    assert response.status_code == 403
    assert 'href="/oauth2/start?rd=https%3A%2F%2Fapp.example.test%2Freports%3Fa%3D1"' in response.text
    assert "set-cookie" not in response.headers
    assert 'authsvc_requests_total{endpoint="auth",outcome="unauthenticated"} 1.0' in metrics.text


@pytest.mark.parametrize("headers", [
    {"Accept": "application/json"},
    {"Accept": "application/json, text/plain, */*"},
    {"Accept": HTML, "X-Requested-With": "XMLHttpRequest"},
    {"Accept": HTML, "Authorization": "Basic eDp5"},
    {"Accept": "*/*", "Sec-Fetch-Mode": "cors"},
], ids=["json", "json-among-others", "xhr", "credentials", "fetch"])
@pytest.mark.parametrize("skip", [False, True])
async def test_no_session_json_and_ajax_get_401(
    fake_idp: FakeIdP, headers: dict[str, str], skip: bool
) -> None:
    async with AuthApp.start(_settings(fake_idp, skip_provider_button=skip)) as app:
        response = await app.auth("/", headers={**TRAEFIK, **headers})
    assert response.status_code == 401 and "set-cookie" not in response.headers


async def test_api_routes_get_401(fake_idp: FakeIdP) -> None:
    async with AuthApp.start(_settings(fake_idp, api_routes=["^/api/"], skip_provider_button=True)) as app:
        response = await app.auth("/", headers={**TRAEFIK, "X-Forwarded-Uri": "/api/x", "Accept": HTML})
    assert response.status_code == 401


async def test_signed_in_but_denied_gets_the_forbidden_page(fake_idp: FakeIdP) -> None:
    async with AuthApp.start(_settings(fake_idp, allowed_groups=["admins"])) as app:
        cookie = await app.cookie(email="bob@example.com", groups=("dev",))
        page = await app.auth("/", cookie=cookie, headers={**TRAEFIK, "Accept": HTML})
        api = await app.auth("/", cookie=cookie, headers={**TRAEFIK, "Accept": "application/json"})
    assert page.status_code == 403 and "bob@example.com" in page.text and "<html" in page.text
    assert "x-auth-request-user" not in page.headers
    assert (api.status_code, api.text) == (403, "Forbidden\n")


async def test_route_rules_in_the_address_query_apply(fake_idp: FakeIdP) -> None:
    async with AuthApp.start(_settings(fake_idp, proxy_kind="traefik")) as app:
        cookie = await app.cookie(groups=("dev",))
        denied = await app.auth("/?allowed_groups=admins", cookie=cookie, headers=TRAEFIK)
        allowed = await app.auth("/?allowed_groups=dev", cookie=cookie, headers=TRAEFIK)
    assert (denied.status_code, allowed.status_code) == (403, 202)


async def test_the_login_endpoints_and_probes_are_still_theirs(fake_idp: FakeIdP) -> None:
    async with AuthApp.start(_settings(fake_idp)) as app:
        client = app.client()
        ping = await client.get("/ping")
        ready_post = await client.post("/ready")
        sign_in = await client.get("/oauth2/sign_in")
        unknown = await client.get("/oauth2/nothing")
        bare_prefix = await client.get("/oauth2")
        wrong_method = await client.delete("/oauth2/sign_in")
        start = await client.get("/oauth2/start", params={"rd": "/x"})
    assert (ping.status_code, ping.text) == (200, "OK")
    assert ready_post.status_code == 405
    assert sign_in.status_code == 200 and "Sign in" in sign_in.text
    assert unknown.status_code == 404 and bare_prefix.status_code == 404
    assert wrong_method.status_code == 405
    assert start.status_code == 302 and start.headers["location"].startswith(fake_idp.url("authorize"))


async def test_off_by_default_every_other_path_is_404(fake_idp: FakeIdP) -> None:
    async with AuthApp.start(fake_idp_settings(fake_idp)) as app:
        response = await app.auth("/", headers=TRAEFIK)
    assert response.status_code == 404


async def test_an_untrusted_peer_is_judged_by_its_own_request(fake_idp: FakeIdP) -> None:
    async with AuthApp.start(_settings(fake_idp)) as app:
        response = await app.auth("/here", headers={**TRAEFIK, "Accept": HTML}, peer=STRANGER)
    # X-Forwarded-* of a stranger are not read: rd is the request itself, on its own host
    assert response.status_code == 403
    assert "rd=http%3A%2F%2Fauth.internal%2Fhere" in response.text


@pytest.mark.parametrize(("kind", "public"), [("envoy", True), ("auto", False), ("traefik", False)])
async def test_the_request_line_is_evidence_only_where_the_proxy_writes_it(
    fake_idp: FakeIdP, kind: str, public: bool
) -> None:
    # ext_authz without path_prefix (Istio's documented set-up): the check's own request line,
    # evidence where the kind says Envoy wrote it; under auto a bare path could be any config's
    settings = _settings(fake_idp, proxy_kind=kind, skip_auth_routes=["^/public/"])
    async with AuthApp.start(settings) as app:
        response = await app.auth("/public/x", headers={"Host": "app.example.test",
                                                        "Accept": "application/json"})
    assert response.status_code == (202 if public else 401)


async def test_under_envoy_the_query_is_the_clients_and_rules_come_by_header(fake_idp: FakeIdP) -> None:
    async with AuthApp.start(_settings(fake_idp, proxy_kind="envoy")) as app:
        cookie = await app.cookie(groups=("dev",))
        own_query = await app.auth("/page?allowed_groups=admins", cookie=cookie)
        by_header = await app.auth("/page", cookie=cookie, headers={"X-Authsvc-Allowed-Groups": "admins"})
    assert (own_query.status_code, by_header.status_code) == (202, 403)


@pytest.mark.parametrize("kind", ["envoy", "auto"])
async def test_under_envoy_no_probe_outside_the_prefix_lets_the_apps_path_through(
    fake_idp: FakeIdP, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    # Istio's envoyExtAuthzHttp without pathPrefix: GET https://app/robots.txt arrives as
    # GET /robots.txt, and a 200 lets the request through to the app without a session
    settings = _settings(fake_idp, any_path_auth_status=200, proxy_kind=kind)
    async with AuthApp.start(settings) as app:
        robots = await app.auth("/robots.txt", headers={"Host": "app.example.test", "Accept": HTML})
        ping = await app.client().get("/ping")
    assert robots.status_code == 403 and ping.status_code == 200
    assert "lets the app's /ping, /ready, /metrics through" in caplog.text
    caplog.clear()
    moved = _settings(fake_idp, any_path_auth_status=200, proxy_kind=kind, ping_path="/oauth2/ping",
                      ready_path="/oauth2/ready", metrics_address="-")
    async with AuthApp.start(moved) as app:
        at_app_ping = await app.auth("/ping", headers={"Host": "app.example.test", "Accept": HTML})
        probe = await app.client().get("/oauth2/ping")
    assert at_app_ping.status_code == 403 and probe.status_code == 200
    assert "Envoy asks" not in caplog.text


async def test_behind_traefik_robots_txt_stays_authsvcs(fake_idp: FakeIdP) -> None:
    # Traefik asks at its address, never at the client's path: /robots.txt is authsvc's own
    async with AuthApp.start(_settings(fake_idp, proxy_kind="traefik")) as app:
        robots = await app.client().get("/robots.txt")
    assert robots.text.startswith("User-agent")


@pytest.mark.parametrize("kind", ["envoy", "auto"])
@pytest.mark.parametrize("path", ["/oauth2%2fsign_in", "/oauth2%2Fsigned_out", "/%70ing", "/p%69ng",
                                  "/oauth2/sign%5fin"])
async def test_under_envoy_an_encoded_path_is_the_apps_not_ours(
    fake_idp: FakeIdP, kind: str, path: str
) -> None:
    # Envoy hands on the path as sent and the app gets it so: decoded here, it was our own 200
    # (the sign-in page, /ping), which let the app's path through without a session
    settings = _settings(fake_idp, any_path_auth_status=200, proxy_kind=kind)
    async with AuthApp.start(settings) as app:
        r = await app.auth(path, headers={"Host": "app.example.test", "Accept": HTML})
    if path.startswith("/oauth2/"):  # under proxy_prefix: no endpoint of ours, never the check
        assert r.status_code == 404
    else:
        assert r.status_code == 403 and "Sign in" in r.text
