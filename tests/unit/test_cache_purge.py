"""sessions/purge.py and cache_key.py: the PURGE by key that revokes nginx's cached decision,
sign-out and back-channel logout failing closed, and the check's guard of what nginx caches."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, cast

import anyio
import httpx
import pytest
import respx

from authsvc import cookies
from authsvc.errors import TokenError
from authsvc.models import Identity, Session, Tokens
from authsvc.providers.logout_token import EVENT
from authsvc.sessions.base import Ended
from authsvc.sessions.cache_key import CacheKeys
from authsvc.sessions.purge import CachePurge
from authsvc.sessions.refresh import Refresher
from tests.conftest import make_settings
from tests.support.app_driver import with_demo_idp
from tests.support.auth_app import AuthApp
from tests.support.fake_idp import FakeIdP, ManualClock

pytestmark = pytest.mark.anyio

SECRET_VALUE = "v4lue-of-the-session"
KEY_SECRET = "k3y-of-the-nginx-decision-cache-0123456789"
KEYS = CacheKeys(KEY_SECRET.encode())
#: hex(HMAC-SHA256(KEY_SECRET, SECRET_VALUE)), as nginx's set_hmac_sha256 + set_encode_hex give it
#: (`printf %s v4lue-of-the-session | openssl dgst -sha256 -hmac <KEY_SECRET>`)
KEY = "558ac43a547c5ee304726edb2185d33359ef90870aa9f2a3c6669c8acfd384f4"


def _purger(statuses: dict[str, int], seen: list[httpx.Request]) -> CachePurge:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "down":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(statuses[request.url.host])

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    urls = [f"http://{host}/purge" for host in statuses]
    return CachePurge(urls, KEYS, http)


def test_the_key_is_the_hmac_nginx_computes() -> None:
    assert KEYS.of(SECRET_VALUE) == KEY
    assert KEYS.matches(SECRET_VALUE, KEY)
    assert not KEYS.matches(SECRET_VALUE, KEY.upper()) and not KEYS.matches("other", KEY)
    assert CacheKeys(b"").of(SECRET_VALUE) == "" and not CacheKeys(b"").matches(SECRET_VALUE, "")


async def test_every_replica_gets_a_purge_by_the_key_never_the_cookie() -> None:
    seen: list[httpx.Request] = []
    purge = _purger({"a": 200, "b": 404}, seen)  # 404: nothing was cached there
    assert await purge.purge(SECRET_VALUE)
    assert sorted(r.url.host for r in seen) == ["a", "b"]
    assert {r.method for r in seen} == {"PURGE"}
    assert {r.headers["x-authsvc-cache-key"] for r in seen} == {KEY}
    assert not any(SECRET_VALUE in str(r.headers) + str(r.url) for r in seen)


async def test_keys_are_purged_at_every_replica_once_each() -> None:
    seen: list[httpx.Request] = []
    assert await _purger({"a": 200, "b": 200}, seen).purge_keys(["k1", "k2", "k1", ""])
    assert sorted((r.url.host, r.headers["x-authsvc-cache-key"]) for r in seen) == [
        ("a", "k1"), ("a", "k2"), ("b", "k1"), ("b", "k2")]


@pytest.mark.parametrize("statuses", [{"a": 200, "b": 500}, {"a": 403}, {"a": 200, "down": 200}])
async def test_one_replica_that_does_not_confirm_fails_the_purge(
    statuses: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "authsvc.purge"):
        assert not await _purger(statuses, []).purge(SECRET_VALUE)
    assert "cache purge" in caplog.text
    assert SECRET_VALUE not in caplog.text and KEY not in caplog.text


async def test_unconfigured_or_without_a_value_nothing_is_sent() -> None:
    seen: list[httpx.Request] = []
    assert await CachePurge([], KEYS, httpx.AsyncClient()).purge(SECRET_VALUE)
    assert await _purger({"a": 200}, seen).purge("")
    assert await _purger({"a": 200}, seen).purge_keys([])
    assert seen == []


async def test_sign_out_whose_purge_fails_is_not_reported_as_done(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The session is gone from its store, but a cached 2xx would still open the door until
    proxy_cache_valid: the 503 page and the retry cookie, as for a store that failed."""
    settings = make_settings(email_domains=["example.com"], nginx_cache_key_secret=KEY_SECRET,
                             nginx_cache_purge_url=["http://127.0.0.1:9/purge"])  # fmt: skip
    async with AuthApp.start(settings) as app:
        cookie = await app.cookie()
        with caplog.at_level(logging.WARNING):
            r = await app.client().get("/oauth2/sign_out", headers={"Cookie": cookie})
        assert r.status_code == 503
        pending = cookies.signout_cookie_name(settings.cookie_name)
        assert any(c.startswith(f"{pending}=") for c in r.headers.get_list("set-cookie"))
        assert cookie.split("=", 1)[1] not in caplog.text


class _Store:
    """The cookie store's shape: every save is a new value."""

    def __init__(self) -> None:
        self.cleared: list[str] = []

    async def save(self, session: Session, previous: str | None = None) -> str:
        return "new-value"

    async def clear(self, value: str) -> None:
        self.cleared.append(value)


class _Provider:
    def __init__(self, refuse: bool) -> None:
        self.refuse = refuse

    async def refresh(self, tokens: Tokens) -> tuple[Identity | None, Tokens]:
        if self.refuse:
            raise TokenError("invalid_grant")
        return None, Tokens(access_token="at-2", refresh_token="rt-2")


@pytest.mark.parametrize("refuse", [False, True])
async def test_a_refresh_purges_the_old_value(refuse: bool) -> None:
    """The cached 2xx of the old cookie carries the old token in its headers (or, refused, a
    session that has ended): nginx must not serve it any more."""
    purged: list[str] = []

    async def purge(value: str) -> bool:
        purged.append(value)
        return True

    clock = ManualClock()
    session = Session(Identity(user="u-1"), Tokens(access_token="at-1", refresh_token="rt-1"),
                      created_at=0, expires_at=10**10, refreshed_at=int(clock()) - 120)  # fmt: skip
    refresher = Refresher(60, cast(Any, _Store()), cast(Any, _Provider(refuse)), clock, purge=purge)
    loaded = await refresher.check("old-value", session)
    assert purged == ["old-value"]
    assert (loaded.session is None) == refuse


# --- back-channel logout: purge the keys recorded with the sessions, or say it is not done ------
@pytest.mark.parametrize("status", [200, 404, 503])
async def test_a_back_channel_logout_purges_the_recorded_keys_or_is_not_done(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A 2xx nginx still holds would open the door until proxy_cache_valid: a purge that an nginx
    does not confirm is a 503 to the IdP, the jti unspent and the index kept, so its retry finds
    the same sessions and keys (the Redis side: tests/integration/sessions/test_redis_store.py)."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        fake = FakeIdP(clock=ManualClock())
        fake.mount(router)
        purged = router.request("PURGE", "http://nginx-a/purge").mock(return_value=httpx.Response(status))
        async with with_demo_idp(fake, nginx_cache_purge_url=["http://nginx-a/purge"],
                                 nginx_cache_key_secret=KEY_SECRET) as (client, store):  # fmt: skip
            store.cache_keys = (KEY,)
            token = fake.mint_id_token(jose_typ="logout+jwt", sid="sid-1", jti="jti-1",
                                       events={EVENT: {}})  # fmt: skip
            with caplog.at_level(logging.INFO):
                r = await client.post("/oauth2/backchannel_logout", data={"logout_token": token})
    assert [c.request.headers["x-authsvc-cache-key"] for c in purged.calls] == [KEY]
    assert store.ended == [("sid-1", "user-1")]
    if status == 503:
        assert r.status_code == 503
        assert store.forgotten == [] and store.used == set()
    else:
        assert r.status_code == 200
        assert store.forgotten == [Ended(1, (KEY,))] and len(store.used) == 1
    assert KEY not in caplog.text


# --- the check: nginx may cache a 2xx only under the key authsvc purges --------------------------
PURGE_URL = "http://127.0.0.1:9/purge?location=/oauth2/auth"
CHECK = {"X-Original-URI": "/app", "X-Original-Method": "GET", "X-Authsvc-Cache-Location": "/oauth2/auth"}


@pytest.fixture
async def guarded() -> AsyncIterator[AuthApp]:
    settings = make_settings(email_domains=["example.com"], proxy_kind="nginx",
                             skip_auth_routes=["^/public"], nginx_cache_key_secret=KEY_SECRET,
                             nginx_cache_purge_url=[PURGE_URL])  # fmt: skip
    async with AuthApp.start(settings) as app:
        yield app


async def test_a_2xx_under_the_key_authsvc_purges_is_cacheable(guarded: AuthApp) -> None:
    cookie = await guarded.cookie()
    key = KEYS.of(cookie.split("=", 1)[1])
    r = await guarded.auth(cookie=cookie, headers={**CHECK, "X-Authsvc-Cache-Key": key})
    assert r.status_code == 202
    assert "cache-control" not in r.headers


@pytest.mark.parametrize("key", [None, "", "0" * 64, "other"])
async def test_a_2xx_under_any_other_key_is_not_cacheable(
    guarded: AuthApp, key: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    """No key (another proxy, an nginx-cache.conf from before the key) or another (a secret that
    differs from nginx's): nginx must not cache what authsvc cannot purge."""
    cookie = await guarded.cookie()
    headers = {**CHECK, **({"X-Authsvc-Cache-Key": key} if key is not None else {})}
    with caplog.at_level(logging.ERROR):
        r = await guarded.auth(cookie=cookie, headers=headers)
    assert r.status_code == 202
    assert r.headers["cache-control"] == "no-store"
    assert ("cache key is not authsvc's" in caplog.text) == (key is not None)
    assert cookie.split("=", 1)[1] not in caplog.text


async def test_a_public_route_is_never_cacheable(guarded: AuthApp) -> None:
    """Keyed by the cookie alone, a cached public 202 would let any made-up cookie in anywhere."""
    key = KEYS.of("made-up")
    r = await guarded.auth(cookie="_authsvc=made-up",
                           headers={**CHECK, "X-Original-URI": "/public", "X-Authsvc-Cache-Key": key})
    assert r.status_code == 202
    assert r.headers["cache-control"] == "no-store"


def test_the_key_secret_is_required_with_purges_and_must_fit_nginx() -> None:
    from authsvc.errors import ConfigError

    purge = {"nginx_cache_purge_url": ["http://127.0.0.1:9/purge"]}
    for bad in ({}, {"nginx_cache_key_secret": "short"}, {"nginx_cache_key_secret": "a$b" * 12},
                {"nginx_cache_key_secret": "<output of generate-secret>"}):  # fmt: skip
        with pytest.raises(ConfigError, match="nginx_cache_key_secret"):
            make_settings(**purge, **bad)
    assert make_settings(**purge, nginx_cache_key_secret=KEY_SECRET).cache_key_secret == KEY_SECRET.encode()


async def test_many_keys_are_purged_a_bounded_number_at_a_time() -> None:
    """A back-channel logout by `sub` may name hundreds of sessions: no pool exhaustion."""
    from authsvc.sessions import purge as purge_module

    in_flight, most = 0, 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await anyio.sleep(0)  # let the others start, if they may
        in_flight -= 1
        return httpx.Response(200)

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    keys = [f"{i:064x}" for i in range(200)]
    assert await CachePurge(["http://a/purge", "http://b/purge"], KEYS, http).purge_keys(keys)
    assert most == purge_module.MAX_PARALLEL


@pytest.mark.parametrize("location", [None, "/oauth2/auth-admins", ""])
async def test_a_2xx_under_an_auth_location_no_purge_names_is_not_cacheable(
    guarded: AuthApp, location: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    """nginx keys an entry by key + auth location; one no purge URL names is never revoked."""
    cookie = await guarded.cookie()
    key = KEYS.of(cookie.split("=", 1)[1])
    headers = {**CHECK, "X-Authsvc-Cache-Key": key}
    del headers["X-Authsvc-Cache-Location"]
    if location is not None:
        headers["X-Authsvc-Cache-Location"] = location
    with caplog.at_level(logging.ERROR):
        r = await guarded.auth(cookie=cookie, headers=headers)
    assert r.status_code == 202 and r.headers["cache-control"] == "no-store"
    assert "which no nginx_cache_purge_url names" in caplog.text and key not in caplog.text


def test_the_purged_locations_come_from_the_purge_urls() -> None:
    purge = CachePurge(["http://a/purge?location=/oauth2/auth", "http://b/purge?location=/oauth2/auth",
                        "http://a/purge?location=/oauth2/auth-admins", "http://a/purge"], KEYS,
                       httpx.AsyncClient())
    assert purge.locations == {"/oauth2/auth", "/oauth2/auth-admins"}
