"""Each way a sign-in can fail reaches its own page: status, code, words, actions, request id;
and the access line records the status the browser got."""

from __future__ import annotations

import inspect
import io
import re
import time

import httpx
import pytest

from authsvc.context import Context
from authsvc.login import flows, state
from authsvc.web.app import create_app
from authsvc.web.causes import STATE_REASONS
from tests.conftest import make_settings
from tests.support.app_driver import asgi_client, browser_on, fake_idp_settings
from tests.support.fake_idp import FakeIdP, ManualClock
from tests.support.login import BROWSER_ACCEPT
from tests.support.processes import free_port
from tests.unit.test_logs import captured, lines  # noqa: F401 (a fixture)

pytestmark = pytest.mark.anyio
PAGE = {"Accept": BROWSER_ACCEPT}


async def test_idp_unreachable_at_start_is_logged_with_the_status_sent(captured: io.StringIO) -> None:  # noqa: F811
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app = create_app(Context.build(make_settings(oidc_issuer_url=dead)))
    async with asgi_client(app) as client:
        answer = await client.get("/oauth2/start", params={"rd": "/app"}, headers=PAGE)
    assert answer.status_code == 502
    (access,) = [r for r in lines(captured) if r["event"] == "request"]
    assert (access["endpoint"], access["status"], access["outcome"]) == ("start", 502, "error")


# --- every cause of a failed callback, through the app --------------------------------------
async def page_of(response: httpx.Response) -> tuple[int, str, str]:
    """(status, error code, text) of an error page; its request id is the response's."""
    assert "text/html" in response.headers["content-type"], response.text
    body = response.text
    code = re.search(r'data-error-code="([a-z_]+)"', body)
    rid = re.search(r'<code id="request-id">([^<]+)</code>', body)
    assert rid and rid.group(1) == response.headers["x-request-id"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    return response.status_code, code.group(1) if code else "", body


def actions(body: str) -> set[str]:
    return set(re.findall(r'<a class="button[^"]*" id="([a-z-]+)"', body))


async def test_cancelled_at_the_idp_quotes_its_words_for_this_browsers_login(
    fake_idp: FakeIdP, captured: io.StringIO  # noqa: F811
) -> None:
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as b:
        start = await b.start("/reports")
        state = dict(httpx.URL(start.headers["location"]).params)["state"]
        back = await b.client.get("/oauth2/callback", params={
            "error": "access_denied", "error_description": "End-User <b>aborted</b> interaction",
            "state": state})  # fmt: skip
        status, code, body = await page_of(back)
        assert (status, code) == (403, "access_denied")
        assert "End-User &lt;b&gt;aborted&lt;/b&gt; interaction" in body
        assert actions(body) == {"retry", "back"}
        assert 'href="/oauth2/start?rd=%2Freports"' in body and 'href="/reports"' in body
    failed = [r for r in lines(captured) if r["event"].startswith("login failed")]
    assert failed[-1]["code"] == "access_denied"
    assert failed[-1]["request_id"] == back.headers["x-request-id"]


async def test_an_error_description_in_a_link_not_begun_here_is_not_shown(fake_idp: FakeIdP) -> None:
    # anyone can mail a victim such a link: its words must not appear on our origin
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as b:
        crafted = await b.client.get("/oauth2/callback", params={
            "error": "access_denied", "error_description": "Call +1 555 0100 to restore access",
            "state": "A" * 43})  # fmt: skip
    status, code, body = await page_of(crafted)
    assert (status, code) == (403, "access_denied") and "555" not in body


@pytest.mark.parametrize(
    ("error", "status", "code", "retry"),
    [("temporarily_unavailable", 503, "idp_unavailable", True),
     ("server_error", 503, "idp_unavailable", True),
     ("invalid_scope", 502, "idp_rejected_request", False),
     ("login_required", 403, "idp_error", True)],
)  # fmt: skip
async def test_other_idp_errors(fake_idp: FakeIdP, error: str, status: int, code: str, retry: bool) -> None:
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as b:
        start = await b.start("/")
        state = dict(httpx.URL(start.headers["location"]).params)["state"]
        back = await b.client.get("/oauth2/callback", params={"error": error, "state": state})
    got_status, got_code, body = await page_of(back)
    assert (got_status, got_code) == (status, code)
    assert ("retry" in actions(body)) is retry


async def test_a_login_cookie_that_never_came_back(fake_idp: FakeIdP) -> None:
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as b:
        start = await b.start("/x")
        url = fake_idp.callback_url(start.headers["location"])
        b.client.cookies.clear()
        status, code, body = await page_of(await b.client.get(url))
    assert (status, code) == (403, "login_cookie_missing")
    assert "longer than 15 minutes" in body and actions(body) == {"retry"}


async def test_a_secure_cookie_over_plain_http_is_named(fake_idp: FakeIdP) -> None:
    # cookie_secure (the default) and an http address: the browser keeps the cookie to itself
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as b:
        start = await b.client.get("http://app.example.test/oauth2/start", params={"rd": "/x"})
        url = httpx.URL(fake_idp.callback_url(start.headers["location"])).copy_with(scheme="http")
        b.client.cookies.clear()  # what a browser does with a Secure cookie from http
        status, code, body = await page_of(await b.client.get(url))
    assert (status, code) == (403, "insecure_cookie")
    assert "cookie_secure" in body and "retry" not in actions(body)


async def test_a_login_that_took_too_long(fake_idp: FakeIdP) -> None:
    clock = ManualClock(time.time())
    settings = fake_idp_settings(fake_idp, cookie_csrf_expire="2m")
    async with browser_on(settings, fake_idp, clock=clock) as b:
        start = await b.start("/x")
        clock.advance(121)
        url = fake_idp.callback_url(start.headers["location"])
        status, code, body = await page_of(await b.client.get(url))
    assert (status, code) == (403, "login_expired") and "longer than 2 minutes" in body


@pytest.mark.parametrize("keep_login_cookie", [False, True])
async def test_the_idps_answer_sent_again(fake_idp: FakeIdP, keep_login_cookie: bool) -> None:
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as b:
        start = await b.start("/x")
        jar = dict(b.client.cookies)
        url = fake_idp.callback_url(start.headers["location"])
        assert (await b.client.get(url)).status_code == 302
        headers = {"cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if keep_login_cookie else {}
        status, code, body = await page_of(await b.client.get(url, headers=headers))
    assert (status, code) == (403, "state_used") and "back" in actions(body)


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [({"code": "c"}, 400, "callback_invalid"),
     ({"state": "A" * 43, "code": "c"}, 403, "login_cookie_missing")],
)
async def test_malformed_callbacks(fake_idp: FakeIdP, params: dict[str, str], status: int, code: str) -> None:
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as b:
        got = await page_of(await b.client.get("/oauth2/callback", params=params))
    assert got[:2] == (status, code)


async def test_a_wrong_client_secret_is_the_operators_problem(
    fake_idp: FakeIdP, captured: io.StringIO  # noqa: F811
) -> None:
    fake_idp.strict = False
    settings = fake_idp_settings(fake_idp, client_secret="not-the-secret")
    async with browser_on(settings, fake_idp) as b:
        status, code, body = await page_of(await b.login("/x"))
    assert (status, code) == (502, "client_rejected")
    assert actions(body) == {"back"}  # no "Sign in again": it would fail the same way
    assert "problem in how this site is set up" in body
    (line,) = [r for r in lines(captured) if r["event"].startswith("login failed")]
    assert "invalid_client" in line["event"] and line["code"] == "client_rejected"


@pytest.mark.parametrize("failure", [503, 0])
async def test_the_idp_unreachable_at_the_callback(fake_idp: FakeIdP, failure: int) -> None:
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as b:
        start = await b.start("/x")
        url = fake_idp.callback_url(start.headers["location"])
        fake_idp.fail_next(status=failure, endpoint="token")
        status, code, body = await page_of(await b.client.get(url))
    assert (status, code) == (502, "idp_unreachable") and "retry" in actions(body)


async def test_the_idp_unreachable_at_start_is_a_page_with_a_retry() -> None:
    app = create_app(Context.build(make_settings(oidc_issuer_url=f"http://127.0.0.1:{free_port()}")))
    async with asgi_client(app) as client:
        status, code, body = await page_of(await client.get("/oauth2/start?rd=%2Fapp", headers=PAGE))
        api = await client.get("/oauth2/start?rd=%2Fapp", headers={"Accept": "application/json"})
    assert (status, code) == (502, "idp_unreachable")
    assert 'href="/oauth2/start?rd=%2Fapp"' in body
    assert api.status_code == 502 and api.text == "identity provider unavailable\n"


def test_every_state_check_of_the_callback_has_a_cause() -> None:
    # a new or reworded LoginError in the flows must get its own cause, not the generic one
    source = inspect.getsource(flows) + inspect.getsource(state)
    reasons = set(re.findall(r'Login(?:State)?Error\("([^"{]+)"', source))
    assert reasons, "no LoginError found in the login flow"
    assert reasons <= set(STATE_REASONS), sorted(reasons - set(STATE_REASONS))


# --- refused, forbidden, signed out ----------------------------------------------------------
async def test_a_refused_login_says_so_and_writes_no_session(fake_idp: FakeIdP) -> None:
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as b:
        refused = await b.login("/x", email="eve@elsewhere.org")
        status, code, body = await page_of(refused)
        assert (status, code) == (403, "login_denied")
        assert "eve@elsewhere.org" in body and "no session was kept" in body
        assert "You are signed in" not in body
        written = [c for c in refused.headers.get_list("set-cookie") if c.startswith("_authsvc=")]
        assert all("Max-Age=0" in c for c in written)
        assert actions(body) == {"switch-account"}
        assert (await b.auth()).status_code == 401


@pytest.mark.parametrize("kind", ["caddy", "traefik", "envoy"])
async def test_a_denied_browser_navigation_gets_the_forbidden_page_where_relayed(
    fake_idp: FakeIdP, kind: str
) -> None:
    async with browser_on(fake_idp_settings(fake_idp, proxy_kind=kind), fake_idp) as b:
        await b.login("/x", email="ada@example.com")
        # the rule: in the auth URL's query, or (Envoy) in a header its filter adds
        check = "/oauth2/auth/admin" if kind == "envoy" else "/oauth2/auth?allowed_groups=admins"
        rule = {"X-Authsvc-Allowed-Groups": "admins"}
        denied = await b.client.get(check, headers={
            **PAGE, **rule, "X-Forwarded-Uri": "/admin", "X-Forwarded-Host": "app.example.test",
            "X-Forwarded-Proto": "https", "X-Forwarded-Method": "GET"})  # fmt: skip
        status, code, body = await page_of(denied)
        api = await b.client.get(check, headers={"Accept": "application/json", **rule})
    assert (status, code) == (403, "denied")
    assert "You are signed in as <strong>ada@example.com</strong>" in body and "admins" not in body
    assert actions(body) == {"switch-account", "sign-out"}
    assert (api.status_code, api.text) == (403, "Forbidden\n")


async def test_nginx_gets_a_plain_403(fake_idp: FakeIdP) -> None:
    async with browser_on(fake_idp_settings(fake_idp, proxy_kind="nginx"), fake_idp) as b:
        await b.login("/x", email="ada@example.com")
        denied = await b.client.get("/oauth2/auth?allowed_groups=admins", headers=PAGE)
    assert (denied.status_code, denied.text) == (403, "Forbidden\n")


async def test_sign_out_without_rd_ends_on_the_signed_out_page(fake_idp: FakeIdP) -> None:
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as b:
        await b.login("/x", email="ada@example.com")
        out = await b.client.get("/oauth2/sign_out")
        assert (out.status_code, out.headers["location"]) == (302, "/oauth2/signed_out")
        page = await b.client.get(out.headers["location"])
        assert (await b.auth()).status_code == 401
    assert page.status_code == 200 and "<h1>Signed out</h1>" in page.text
    assert page.headers["x-request-id"] in page.text and 'href="/oauth2/sign_in"' in page.text


async def test_the_sign_in_page(fake_idp: FakeIdP) -> None:
    settings = fake_idp_settings(fake_idp, provider_display_name="ACME SSO")
    async with browser_on(settings, fake_idp) as b:
        page = await b.client.get("/oauth2/sign_in", params={"rd": "/reports?a=1"})
    assert page.status_code == 200
    button = 'id="sign-in" href="/oauth2/start?rd=%2Freports%3Fa%3D1">Sign in with ACME SSO</a>'
    assert button in page.text
    assert "<strong>app.example.test</strong>" in page.text and page.headers["x-request-id"] in page.text
