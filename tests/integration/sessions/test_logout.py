"""Sign-out (here and at the IdP) and OIDC Back-Channel Logout with real signed logout tokens."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from authsvc.providers.logout_token import EVENT
from tests.support.auth_client import AuthClient, set_cookies
from tests.support.fake_idp import FakeIdP, ManualClock
from tests.support.redis_servers import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

LOGOUT = "/oauth2/backchannel_logout"


@pytest.fixture
def clock(fake_idp: FakeIdP) -> ManualClock:
    clock = ManualClock(time.time())
    fake_idp.clock = clock
    return clock


@pytest.fixture
async def app(
    redis_standalone: RedisServer, fake_idp: FakeIdP, clock: ManualClock
) -> AsyncIterator[AuthClient]:
    """authsvc on the Redis store (a cookie name of its own: the Redis is shared)."""
    async with AuthClient.open(
        fake_idp, clock, session_store_type="redis", redis_connection_url=redis_standalone.url,
        cookie_name=f"_t{uuid.uuid4().hex[:8]}",
    ) as client:  # fmt: skip
        yield client


def logout_token(idp: FakeIdP, **claims: Any) -> str:
    """A logout token signed by the IdP's key: sid-A of user-1 unless claims say otherwise."""
    defaults: dict[str, Any] = {"sid": "sid-A", "events": {EVENT: {}}, "jti": uuid.uuid4().hex}
    return idp.mint_id_token(**{**defaults, **claims})


async def auth(app: AuthClient, value: str) -> int:
    name = app.services.settings.cookie_name
    return (await app.http.get("/oauth2/auth", headers={"cookie": f"{name}={value}"})).status_code


async def login(app: AuthClient, **user: Any) -> str:
    name = app.services.settings.cookie_name
    start = await app.http.get("/oauth2/start", params={"rd": "/"})
    login_cookie = set_cookies(start)[0].split(";", 1)[0]
    callback = urlsplit(app.idp.callback_url(start.headers["location"], **user))
    done = await app.http.get(f"{callback.path}?{callback.query}", headers={"cookie": login_cookie})
    for header in set_cookies(done):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError(set_cookies(done))


async def post_logout(app: AuthClient, token: str | None) -> tuple[int, dict[str, Any], str]:
    data = {} if token is None else {"logout_token": token}
    answer = await app.http.post(LOGOUT, data=data)
    body = answer.json() if answer.content else {}
    return answer.status_code, body, answer.headers.get("cache-control", "")


async def test_logout_by_sid_ends_that_session_only(app: AuthClient, fake_idp: FakeIdP) -> None:
    laptop = await login(app, sub="user-1", sid="sid-A")
    phone = await login(app, sub="user-1", sid="sid-B")
    other = await login(app, sub="user-2", sid="sid-C")
    status, _, cache = await post_logout(app, logout_token(fake_idp))
    assert (status, cache) == (200, "no-store")
    assert await auth(app, laptop) == 401
    assert await auth(app, phone) == 202
    assert await auth(app, other) == 202


async def test_logout_by_sub_ends_every_session_of_the_user(app: AuthClient, fake_idp: FakeIdP) -> None:
    laptop = await login(app, sub="user-1", sid="sid-A")
    phone = await login(app, sub="user-1", sid="sid-B")
    other = await login(app, sub="user-2", sid="sid-C")
    status, _, _ = await post_logout(app, logout_token(fake_idp, sid=None))
    assert status == 200
    assert [await auth(app, v) for v in (laptop, phone, other)] == [401, 401, 202]


async def test_logout_by_sid_after_a_refresh_that_dropped_sid(
    app: AuthClient, fake_idp: FakeIdP, clock: ManualClock
) -> None:
    """Many IdPs leave sid out of a refreshed ID token: the session keeps its sid."""
    # e-mail and groups in the ID token: no userinfo call that could bring sid back
    value = await login(app, sub="user-1", sid="sid-A", groups=["staff"])
    fake_idp.id_token_overrides["sid"] = None
    clock.advance(61)
    assert await auth(app, value) == 202
    assert fake_idp.calls["token"] == 2  # the code, then one refresh
    assert (await app.services.store.load(value)).identity.sid == "sid-A"
    assert (await post_logout(app, logout_token(fake_idp)))[0] == 200
    assert await auth(app, value) == 401


async def test_unknown_sid_is_fine(app: AuthClient, fake_idp: FakeIdP) -> None:
    session = await login(app, sub="user-1", sid="sid-A")
    status, _, _ = await post_logout(app, logout_token(fake_idp, sid="sid-nobody", sub=None))
    assert status == 200
    assert await auth(app, session) == 202


async def test_replayed_jti_is_refused(app: AuthClient, fake_idp: FakeIdP) -> None:
    token = logout_token(fake_idp)
    assert (await post_logout(app, token))[0] == 200
    session = await login(app, sub="user-1", sid="sid-A")  # a new login after the logout
    status, body, cache = await post_logout(app, token)
    assert (status, body["error"], cache) == (400, "invalid_request", "no-store")
    assert "replayed" in body["error_description"]
    assert await auth(app, session) == 202


def _bad_tokens(idp: FakeIdP, now: int) -> dict[str, str]:
    return {
        "nonce": logout_token(idp, nonce="n-1"),
        "wrong-aud": logout_token(idp, aud="someone-else"),
        "wrong-iss": logout_token(idp, iss="https://evil.example"),
        "no-events": logout_token(idp, events=None),
        "wrong-event": logout_token(idp, events={"http://example.com/other": {}}),
        "event-not-object": logout_token(idp, events={EVENT: "yes"}),
        "no-sid-no-sub": logout_token(idp, sid=None, sub=None),
        "no-jti": logout_token(idp, jti=None),
        "no-iat": logout_token(idp, iat=None),
        "old-iat": logout_token(idp, iat=now - 3600, exp=now + 300),
        "future-iat": logout_token(idp, iat=now + 3600),
        "expired": logout_token(idp, exp=now - 3600),
        "bad-signature": idp.mint_id_token(signing="bad_signature", sid="s", events={EVENT: {}}, jti="j"),
        "alg-none": idp.mint_id_token(signing="none", sid="s", events={EVENT: {}}, jti="j"),
        "hs256-confusion": idp.mint_id_token(signing="hs_public", sid="s", events={EVENT: {}}, jti="j"),
        "unknown-kid": idp.mint_id_token(kid="nope", sid="s", events={EVENT: {}}, jti="j"),
        "not-a-jwt": "not.a.jwt",
        "empty": "",
        # typed as something else (RFC 8725 §3.11): an access token, another security event
        "typ-at+jwt": logout_token(idp, jose_typ="at+jwt"),
        "typ-application/at+jwt": logout_token(idp, jose_typ="application/at+jwt"),
        "typ-secevent+jwt": logout_token(idp, jose_typ="secevent+jwt"),
        "typ-id_token+jwt": logout_token(idp, jose_typ="id_token+jwt"),
        "typ-not-a-string": logout_token(idp, jose_typ=["logout+jwt"]),
    }


BAD = ["nonce", "wrong-aud", "wrong-iss", "no-events", "wrong-event", "event-not-object",
       "no-sid-no-sub", "no-jti", "no-iat", "old-iat", "future-iat", "expired", "bad-signature",
       "alg-none", "hs256-confusion", "unknown-kid", "not-a-jwt", "empty", "typ-at+jwt",
       "typ-application/at+jwt", "typ-secevent+jwt", "typ-id_token+jwt", "typ-not-a-string"]  # fmt: skip


@pytest.mark.parametrize("case", BAD)
async def test_invalid_logout_tokens_are_refused(
    app: AuthClient, fake_idp: FakeIdP, clock: ManualClock, case: str
) -> None:
    session = await login(app, sub="user-1", sid="s")
    token = _bad_tokens(fake_idp, int(clock()))[case]
    status, body, cache = await post_logout(app, token)
    assert (status, body.get("error"), cache) == (400, "invalid_request", "no-store"), body
    assert await auth(app, session) == 202


@pytest.mark.parametrize("typ", ["logout+jwt", "application/logout+jwt", "Logout+JWT", "JWT", None])
async def test_logout_token_types_accepted(app: AuthClient, fake_idp: FakeIdP, typ: str | None) -> None:
    """§2.4 recommends logout+jwt; JWT (Keycloak before 25) and untyped ones are still logout
    tokens by their events claim and the absence of nonce (§4.1)."""
    session = await login(app, sub="user-1", sid="sid-A")
    assert (await post_logout(app, logout_token(fake_idp, jose_typ=typ)))[0] == 200
    assert await auth(app, session) == 401


async def test_missing_logout_token(app: AuthClient) -> None:
    status, body, _ = await post_logout(app, None)
    assert (status, body["error"]) == (400, "invalid_request")


async def test_cookie_store_says_it_needs_redis(fake_idp: FakeIdP, clock: ManualClock) -> None:
    async with AuthClient.open(fake_idp, clock) as app:
        status, body, cache = await post_logout(app, logout_token(fake_idp))
    assert status == 501 and cache == "no-store"
    assert 'session_store_type = "redis"' in body["error_description"]


# --- /oauth2/sign_out ------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["cookie", "redis"])
async def test_sign_out_ends_the_session_at_the_idp(
    redis_standalone: RedisServer, fake_idp: FakeIdP, clock: ManualClock, store: str
) -> None:
    options: dict[str, Any] = {"session_store_type": store, "oidc_end_session": True}
    if store == "redis":
        options["redis_connection_url"] = redis_standalone.url
    async with AuthClient.open(fake_idp, clock, **options) as app:
        value = await login(app, sub="user-1")
        session = await app.services.store.load(value)
        answer = await app.http.get(
            "/oauth2/sign_out", params={"rd": "/bye?x=1"}, headers={"cookie": f"_authsvc={value}"}
        )
        assert answer.status_code == 302
        target = urlsplit(answer.headers["location"])
        assert f"{target.scheme}://{target.netloc}{target.path}" == fake_idp.url("logout")
        query = {k: v[-1] for k, v in parse_qs(target.query).items()}
        assert query == {
            "client_id": fake_idp.client_id,
            "id_token_hint": session.tokens.id_token,
            "post_logout_redirect_uri": "http://app.example.test/bye?x=1",
        }
        assert any(h.startswith("_authsvc=;") and "Max-Age=0" in h for h in set_cookies(answer))
        if store == "redis":
            assert await auth(app, value) == 401


@pytest.mark.parametrize(
    ("options", "rd", "expected"),
    [
        ({"oidc_post_logout_redirect_url": "https://app.example.test/signed-out"}, "/x",
         "https://app.example.test/signed-out"),
        ({}, "https://evil.example/steal", "http://app.example.test/"),
        ({}, "//evil.example/", "http://app.example.test/"),
    ],
    ids=["configured", "foreign-rd", "protocol-relative-rd"],
)  # fmt: skip
async def test_post_logout_redirect_is_validated(
    fake_idp: FakeIdP, clock: ManualClock, options: dict[str, Any], rd: str, expected: str
) -> None:
    async with AuthClient.open(fake_idp, clock, oidc_end_session=True, **options) as app:
        answer = await app.http.get("/oauth2/sign_out", params={"rd": rd})
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["post_logout_redirect_uri"] == [expected]
    assert "id_token_hint" not in query  # no session: no hint


async def test_sign_out_without_end_session_endpoint_stays_local(
    fake_idp: FakeIdP, clock: ManualClock
) -> None:
    fake_idp.discovery_overrides["end_session_endpoint"] = None
    async with AuthClient.open(fake_idp, clock, oidc_end_session=True) as app:
        answer = await app.http.get("/oauth2/sign_out", params={"rd": "/bye"})
    assert (answer.status_code, answer.headers["location"]) == (302, "/bye")


async def test_sign_out_stays_local_by_default(fake_idp: FakeIdP, clock: ManualClock) -> None:
    async with AuthClient.open(fake_idp, clock) as app:
        answer = await app.http.get("/oauth2/sign_out", params={"rd": "/bye"})
    assert answer.headers["location"] == "/bye"


async def test_cookie_store_sign_out_cannot_revoke_a_copied_cookie(
    fake_idp: FakeIdP, clock: ManualClock
) -> None:
    """No server side (docs/security.md): sign-out expires the browser's cookie and cannot fail,
    but a copy of the cookie stays valid until it expires."""
    async with AuthClient.open(fake_idp, clock) as app:
        value = await login(app)
        answer = await app.http.get(
            "/oauth2/sign_out", params={"rd": "/bye"}, headers={"cookie": f"_authsvc={value}"}
        )
        assert (answer.status_code, answer.headers["location"]) == (302, "/bye")
        assert any(h.startswith("_authsvc=;") and "Max-Age=0" in h for h in set_cookies(answer))
        assert await auth(app, value) == 202
