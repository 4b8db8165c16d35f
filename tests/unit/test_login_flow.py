"""The whole login through the ASGI app against the respx FakeIdP, and what must fail closed."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from authsvc.context import Context
from authsvc.web.app import create_app
from tests.conftest import SECRET_A, SECRET_B
from tests.support.app_driver import (
    ORIGIN,
    Browser,
    asgi_client,
    browser_on,
    cookie_header,
    fake_idp_settings,
)
from tests.support.fake_idp import FakeIdP, ManualClock

pytestmark = pytest.mark.anyio


@pytest.fixture
async def browser(fake_idp: FakeIdP) -> AsyncIterator[Browser]:
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as b:
        yield b


def session_cookie_set(response: httpx.Response) -> bool:
    return any(
        c.startswith("_authsvc=") and not c.startswith("_authsvc=;")
        for c in response.headers.get_list("set-cookie")
    )


async def test_whole_login_then_sign_out(browser: Browser, fake_idp: FakeIdP) -> None:
    assert (await browser.auth()).status_code == 401

    rd = "/dash/board?a=1&b=%25x&c=%26"
    start = await browser.start(rd)
    authorize = urlsplit(start.headers["location"])
    query = parse_qs(authorize.query)
    assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == fake_idp.url("authorize")
    assert query["redirect_uri"] == [f"{ORIGIN}/oauth2/callback"]
    assert query["code_challenge_method"] == ["S256"]
    assert start.headers["cache-control"].startswith("no-cache")

    callback = await browser.client.get(
        fake_idp.callback_url(start.headers["location"], email="ada@example.com",
                              groups=["admins", "devs"], preferred_username="ada")
    )
    assert callback.status_code == 302, callback.text
    assert callback.headers["location"] == rd
    assert session_cookie_set(callback)
    assert fake_idp.calls["token"] == 1  # the token request passed FakeIdP's PKCE/client checks

    ok = await browser.auth()
    assert ok.status_code == 202
    assert ok.headers["x-auth-request-user"] == "user-1"
    assert ok.headers["x-auth-request-email"] == "ada@example.com"
    assert ok.headers["x-auth-request-groups"] == "admins,devs"
    assert ok.headers["x-auth-request-preferred-username"] == "ada"
    assert ok.content == b""

    info = await browser.client.get("/oauth2/userinfo")
    assert info.json() == {"user": "user-1", "email": "ada@example.com",
                           "groups": ["admins", "devs"], "preferredUsername": "ada"}

    out = await browser.client.get("/oauth2/sign_out", params={"rd": "/bye"})
    assert out.status_code == 302 and out.headers["location"] == "/bye"
    assert any(c.startswith("_authsvc=;") and "Max-Age=0" in c for c in out.headers.get_list("set-cookie"))
    assert (await browser.auth()).status_code == 401


async def test_two_tabs_logging_in_at_once_both_succeed(browser: Browser, fake_idp: FakeIdP) -> None:
    first = await browser.start("/one")
    second = await browser.start("/two")
    done_second = await browser.client.get(fake_idp.callback_url(second.headers["location"]))
    done_first = await browser.client.get(fake_idp.callback_url(first.headers["location"]))
    assert (done_second.status_code, done_second.headers["location"]) == (302, "/two")
    assert (done_first.status_code, done_first.headers["location"]) == (302, "/one")


async def test_replayed_callback_is_refused(browser: Browser, fake_idp: FakeIdP) -> None:
    start = await browser.start("/x")
    url = fake_idp.callback_url(start.headers["location"])
    cookies = dict(browser.client.cookies)
    assert (await browser.client.get(url)).status_code == 302
    browser.client.cookies.clear()
    replay = await browser.client.get(url, headers=cookie_header(cookies))  # login cookie kept
    assert replay.status_code == 403
    assert not session_cookie_set(replay)


@pytest.mark.parametrize(
    ("tamper", "status", "code"),
    [
        # the page's cause (web/causes.py, docs/troubleshooting.md), not only the error class
        ("missing_state", 400, "callback_invalid"),
        ("forged_state", 403, "login_cookie_missing"),
        ("other_browser", 403, "login_cookie_missing"),
        ("idp_error", 403, "access_denied"),
        ("missing_code", 400, "callback_invalid"),
        ("huge_state", 400, "callback_invalid"),  # past any state we issue: none given
    ],
)
async def test_callback_state_problems_fail_closed(
    browser: Browser, fake_idp: FakeIdP, tamper: str, status: int, code: str
) -> None:
    start = await browser.start("/x")
    url = httpx.URL(fake_idp.callback_url(start.headers["location"]))
    params = dict(url.params)
    if tamper == "missing_state":
        params.pop("state")
    elif tamper == "forged_state":
        params["state"] = "A" * 43
    elif tamper == "other_browser":
        browser.client.cookies.clear()
    elif tamper == "idp_error":
        params = {"error": "access_denied", "state": params["state"]}
    elif tamper == "missing_code":
        params.pop("code")
    elif tamper == "huge_state":
        params["state"] = "s" * 5000
    response = await browser.client.get(url.copy_with(params=params))
    assert response.status_code == status
    assert f'<code id="error-code">{code}</code>' in response.text
    assert not session_cookie_set(response)
    assert "text/html" in response.headers["content-type"]
    assert (await browser.auth()).status_code == 401
    assert fake_idp.calls["token"] == 0  # refused before any code exchange


async def test_login_that_took_too_long_is_refused(fake_idp: FakeIdP) -> None:
    clock = ManualClock(time.time())
    async with browser_on(fake_idp_settings(fake_idp), fake_idp, clock=clock) as browser:
        start = await browser.start("/x")
        clock.advance(16 * 60)  # cookie_csrf_expire is 15m
        response = await browser.client.get(fake_idp.callback_url(start.headers["location"]))
        assert response.status_code == 403
        assert not session_cookie_set(response)


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "https://evil.example"},
        {"aud": "someone-else"},
        {"nonce": "not-the-nonce"},
        {"exp": 1_000_000},
        {"signing": "bad_signature"},
        {"signing": "none"},
        {"signing": "hs_public"},
        {"kid": "unknown-kid"},
        {"jose_typ": "at+jwt"},
        {"jose_typ": "logout+jwt"},
        {"events": {"http://schemas.openid.net/event/backchannel-logout": {}}},
        {"email_verified": "0"},
        {"email_verified": "no"},
    ],
    ids=["wrong_iss", "wrong_aud", "wrong_nonce", "expired", "bad_signature", "alg_none",
         "hs256_public_key", "unknown_kid", "typ_access_token", "typ_logout_token",
         "events_claim", "email_verified_0", "email_verified_no"],
)
async def test_bad_id_token_is_refused(
    browser: Browser, fake_idp: FakeIdP, overrides: dict[str, Any]
) -> None:
    fake_idp.id_token_overrides = overrides
    response = await browser.login("/x")
    assert response.status_code == 403, response.text
    assert not session_cookie_set(response)
    assert (await browser.auth()).status_code == 401


@pytest.mark.parametrize(
    "email", ["eve@evil.example", "attacker@evil.com@example.com", "noatsign", "a@sub.example.com"]
)
async def test_email_outside_email_domains_gets_403(
    browser: Browser, fake_idp: FakeIdP, email: str
) -> None:
    response = await browser.login("/x", email=email)
    assert response.status_code == 403
    assert not session_cookie_set(response)


async def test_signed_in_but_denied_is_403_not_401(fake_idp: FakeIdP) -> None:
    """A session made under looser rules, judged by stricter ones: 403 (a 401 would loop)."""
    async with browser_on(fake_idp_settings(fake_idp, email_domains=["*"]), fake_idp) as loose:
        await loose.login("/", email="eve@other.example")
        jar = dict(loose.client.cookies)
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as strict:
        response = await strict.client.get("/oauth2/auth", headers=cookie_header(jar))
        assert response.status_code == 403
        assert "x-auth-request-email" not in response.headers


def _flip(value: str, index: int) -> str:
    chars = list(value)
    chars[index] = "A" if chars[index] != "A" else "B"
    return "".join(chars)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda v: _flip(v, 10),
        lambda v: _flip(v, len(v) // 2),
        lambda v: _flip(v, -1),
        lambda v: v[: len(v) // 2],
        lambda v: v + "AAAA",
        lambda v: "",
        lambda v: "%%%%not-base64%%%%",
        lambda v: base64.urlsafe_b64encode(b"\x00" * 64).decode(),
        lambda v: v * 3,
    ],
    ids=["flip_start", "flip_middle", "flip_end", "truncated", "extended", "empty",
         "not_base64", "zeros", "tripled"],
)
async def test_tampered_session_cookie_is_no_session(
    browser: Browser, fake_idp: FakeIdP, mangle: Any
) -> None:
    await browser.login("/")
    value = browser.client.cookies["_authsvc"]
    browser.client.cookies.clear()
    response = await browser.client.get("/oauth2/auth", headers={"cookie": f"_authsvc={mangle(value)}"})
    assert response.status_code == 401
    assert "x-auth-request-user" not in response.headers


async def test_cookie_secret_rotation(fake_idp: FakeIdP) -> None:
    async with browser_on(fake_idp_settings(fake_idp, cookie_secret=[SECRET_A]), fake_idp) as old:
        await old.login("/")
        jar = dict(old.client.cookies)
    rotated = fake_idp_settings(fake_idp, cookie_secret=[SECRET_B, SECRET_A])
    async with browser_on(rotated, fake_idp) as new:
        assert (await new.client.get("/oauth2/auth", headers=cookie_header(jar))).status_code == 202
    retired = fake_idp_settings(fake_idp, cookie_secret=[SECRET_B])
    async with browser_on(retired, fake_idp) as new:
        assert (await new.client.get("/oauth2/auth", headers=cookie_header(jar))).status_code == 401


@pytest.mark.parametrize(
    "rd", ["//evil.example/x", "/\\evil.example", "https://evil.example/", "javascript:alert(1)",
           "/\t/evil.example", "https://app.example.test@evil.example/"],
)
async def test_hostile_rd_falls_back_to_root(browser: Browser, fake_idp: FakeIdP, rd: str) -> None:
    response = await browser.login(rd)
    assert response.status_code == 302
    assert response.headers["location"] == "/"


async def test_same_host_absolute_rd_is_kept(browser: Browser) -> None:
    response = await browser.login(f"{ORIGIN}/deep/link?q=1")
    assert response.headers["location"] == f"{ORIGIN}/deep/link?q=1"


async def test_forwarded_headers_from_untrusted_peer_are_ignored(fake_idp: FakeIdP) -> None:
    settings = fake_idp_settings(fake_idp, proxy_kind="traefik")
    async with asgi_client(create_app(Context.build(settings)), peer="203.0.113.9") as client:
        response = await client.get(
            "/oauth2/start",
            params={"rd": "https://evil.example/"},
            headers={"x-forwarded-host": "evil.example", "x-forwarded-proto": "http"},
        )
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["redirect_uri"] == [f"{ORIGIN}/oauth2/callback"]


async def test_browser_navigation_gets_absolute_redirect_only_where_relayed(fake_idp: FakeIdP) -> None:
    nav = {"accept": "text/html,application/xhtml+xml", "x-forwarded-proto": "https",
           "x-forwarded-host": "shop.example.com", "x-forwarded-uri": "/cart?id=1&x=%25",
           "x-forwarded-method": "GET"}
    async with browser_on(fake_idp_settings(fake_idp, proxy_kind="caddy"), fake_idp) as b:
        response = await b.auth(**nav)
        assert response.status_code == 302
        location = httpx.URL(response.headers["location"])
        assert (location.scheme, location.host) == ("https", "shop.example.com")
        assert location.path == "/oauth2/start"
        assert location.params["rd"] == "https://shop.example.com/cart?id=1&x=%25"
        xhr = await b.auth(**{**nav, "x-requested-with": "XMLHttpRequest"})
        assert xhr.status_code == 401
        api = await b.auth(**{**nav, "accept": "application/json"})
        assert api.status_code == 401
    async with browser_on(fake_idp_settings(fake_idp, proxy_kind="nginx"), fake_idp) as b:
        assert (await b.auth(**nav)).status_code == 401  # nginx turns a 3xx into a 500


async def test_success_status_for_envoy(fake_idp: FakeIdP) -> None:
    async with browser_on(fake_idp_settings(fake_idp, auth_success_status=200), fake_idp) as b:
        await b.login("/")
        assert (await b.auth()).status_code == 200


async def test_ping_and_ready(browser: Browser, fake_idp: FakeIdP) -> None:
    assert (await browser.client.get("/ping")).text == "OK"
    assert (await browser.client.get("/ready")).status_code == 200
    fake_idp.fail_next(10, status=503)
    assert (await browser.client.get("/ping")).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "kept"),
    [
        ({}, set()),
        ({"pass_access_token": True}, {"access"}),
        ({"set_authorization_header": True}, {"id"}),
        ({"oidc_end_session": True}, {"id"}),
        ({"cookie_refresh": "1m"}, {"access", "id", "refresh"}),
    ],
)
async def test_session_keeps_only_the_tokens_a_feature_uses(
    fake_idp: FakeIdP, overrides: dict[str, Any], kept: set[str]
) -> None:
    """Smaller cookies (the ID token repeats every claim) and nothing unused to leak."""
    settings = fake_idp_settings(fake_idp, **overrides)
    async with browser_on(settings, fake_idp) as b:
        await b.login("/", groups=[f"group-{i:03}" for i in range(100)])
        services = Context.build(settings)
        session = await services.store.load(b.client.cookies["_authsvc"])
        tokens = session.tokens
        present = {name for name, value in (("access", tokens.access_token), ("id", tokens.id_token),
                                            ("refresh", tokens.refresh_token)) if value}
        assert present == kept
        assert len(session.identity.groups) == 100
        ok = await b.auth()
        assert ok.status_code == 202
        if "id" in kept and overrides.get("set_authorization_header"):
            assert ok.headers["authorization"] == f"Bearer {tokens.id_token}"
        await services.aclose()


async def test_sign_out_clears_the_session_the_checks_serve(fake_idp: FakeIdP) -> None:
    """Two cookies of one name (e.g. one planted from a parent domain): /oauth2/auth and
    /oauth2/sign_out read the same one, so sign-out never forgets another session."""
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as b:
        await b.login("/", email="ada@example.com")
        served = b.client.cookies["_authsvc"]
        await b.login("/", email="eve@example.com")
        other = b.client.cookies["_authsvc"]
        b.client.cookies.clear()
        both = {"cookie": f"_authsvc={served}; _authsvc={other}"}
        ok = await b.client.get("/oauth2/auth", headers=both)
        assert ok.headers["x-auth-request-email"] == "ada@example.com"
        cleared: list[str] = []
        clear = b.services.store.clear

        async def recording_clear(value: str) -> None:
            cleared.append(value)
            await clear(value)

        b.services.store.clear = recording_clear  # type: ignore[method-assign]
        await b.client.get("/oauth2/sign_out", headers=both)
        assert cleared == [served]


# --- RFC 9207: the authorization response's iss (the mix-up defence) ---------------------------
async def _callback_with(browser: Browser, fake_idp: FakeIdP, iss: str | None) -> httpx.Response:
    start = await browser.start("/x")
    url = httpx.URL(fake_idp.callback_url(start.headers["location"]))
    if iss is not None:
        url = url.copy_merge_params({"iss": iss})
    return await browser.client.get(url)


WRONG_ISSUERS = [
    "https://evil.example", "", "https://idp.example.test/", "https://IDP.example.test",
    "https://idp.example.test/other", "idp.example.test", "https://idp.example.test ",
]  # fmt: skip


@pytest.mark.parametrize("advertised", [True, False])
@pytest.mark.parametrize("iss", WRONG_ISSUERS)
async def test_callback_from_another_issuer_is_refused_before_the_code_is_used(
    fake_idp: FakeIdP, advertised: bool, iss: str
) -> None:
    if advertised:
        fake_idp.discovery_overrides["authorization_response_iss_parameter_supported"] = True
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as browser:
        response = await _callback_with(browser, fake_idp, iss)
        assert response.status_code == 403
        assert "did not come from the configured identity provider" in response.text
        assert not session_cookie_set(response)
        assert fake_idp.calls["token"] == 0  # the code never went anywhere


@pytest.mark.parametrize(("advertised", "iss", "status"), [
    (True, None, 403),  # promised but missing: a mix-up (or a misconfigured IdP)
    (True, "https://idp.example.test", 302),
    (False, None, 302),  # an IdP without RFC 9207
    (False, "https://idp.example.test", 302),
])  # fmt: skip
async def test_callback_iss_when_advertised_or_not(
    fake_idp: FakeIdP, advertised: bool, iss: str | None, status: int
) -> None:
    fake_idp.discovery_overrides["authorization_response_iss_parameter_supported"] = advertised
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as browser:
        response = await _callback_with(browser, fake_idp, iss)
        assert response.status_code == status, response.text
        assert session_cookie_set(response) == (status == 302)


@pytest.mark.parametrize("value", ["true", 1, "yes"])
async def test_only_a_json_true_advertises_the_iss_parameter(fake_idp: FakeIdP, value: Any) -> None:
    fake_idp.discovery_overrides["authorization_response_iss_parameter_supported"] = value
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as browser:
        assert (await _callback_with(browser, fake_idp, None)).status_code == 302


# --- __Host- cookies ----------------------------------------------------------------------------
async def test_a_host_prefixed_cookie_name_keeps_its_rules_on_every_cookie(fake_idp: FakeIdP) -> None:
    """Session (and its chunks), login-state and sign-out cookies: Secure, Path=/, no Domain."""
    name = "__Host-authsvc"
    async with browser_on(fake_idp_settings(fake_idp, cookie_name=name), fake_idp) as browser:
        start = await browser.start("/x")
        done = await browser.client.get(fake_idp.callback_url(
            start.headers["location"], groups=[hashlib.sha256(b"%d" % i).hexdigest() for i in range(120)]))
        out = await browser.client.get("/oauth2/sign_out")
        set_cookies = [*start.headers.get_list("set-cookie"), *done.headers.get_list("set-cookie"),
                       *out.headers.get_list("set-cookie")]  # fmt: skip
    names = {h.split("=", 1)[0] for h in set_cookies}
    assert {f"{name}_0", f"{name}_1"} <= names  # chunked: too large for one cookie
    assert any(n.startswith(f"{name}_csrf_") for n in names)
    for header in set_cookies:
        attributes = [a.strip().lower() for a in header.split(";")[1:]]
        assert header.startswith(name), header
        assert "secure" in attributes and "path=/" in attributes, header
        assert not any(a.startswith("domain") for a in attributes), header
    assert done.status_code == 302
