"""Refresh on /oauth2/auth: exactly one IdP call per burst, in both stores; refusal and outage."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

import pytest

from authsvc.errors import InvalidSession
from tests.support.auth_client import AuthClient, cookie_value, set_cookies
from tests.support.fake_idp import FakeIdP, ManualClock
from tests.support.redis_servers import RedisServer, store_options

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

BURST = 50


@pytest.fixture(params=["cookie", "redis"])
def store(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings overrides for the cookie store, then for the Redis store."""
    return store_options(request.param, request.getfixturevalue)


@pytest.fixture
def clock(fake_idp: FakeIdP) -> ManualClock:
    """One clock for the IdP and authsvc, moved by hand."""
    clock = ManualClock(time.time())
    fake_idp.clock = clock
    return clock


def refreshes(idp: FakeIdP, logins: int = 1) -> int:
    """Refresh-token grants the IdP has seen (token calls minus code exchanges)."""
    return idp.calls["token"] - logins


async def warm_up(app: AuthClient, value: str) -> None:
    """Open BURST Redis connections first: a pool that connects under its lock would
    otherwise serialise the burst, and the race would not be exercised."""
    answers = await asyncio.gather(*(app.auth(value) for _ in range(BURST)))
    assert {a.status_code for a in answers} == {202}


async def test_burst_refreshes_once(
    store: dict[str, Any], fake_idp: FakeIdP, clock: ManualClock
) -> None:
    async with AuthClient.open(fake_idp, clock, **store) as app:
        value = await app.login(email="ada@example.com")
        await warm_up(app, value)
        clock.advance(61)
        started = time.perf_counter()
        answers = await asyncio.gather(*(app.auth(value) for _ in range(BURST)))
        elapsed = time.perf_counter() - started
        assert [a.status_code for a in answers] == [202] * BURST
        assert refreshes(fake_idp) == 1, f"{BURST} requests in {elapsed:.3f}s"
        assert all(len(set_cookies(a)) <= 1 for a in answers)
        new_values = {cookie_value(a) for a in answers}
        if store["session_store_type"] == "redis":
            assert new_values == {None}  # the ticket did not change: nothing to send
            new = value
        else:
            (refreshed,) = new_values  # every answer hands out the same refreshed cookie
            assert refreshed and refreshed != value
            new = refreshed
            assert "Max-Age=" in set_cookies(answers[0])[0]
        # the old cookie (requests already on their way) gets the refreshed session, no new grant
        late = await app.auth(value)
        assert late.status_code == 202
        assert (await app.auth(new)).status_code == 202
        assert refreshes(fake_idp) == 1
        # the refreshed session carries the rotated refresh token: the next refresh works too
        clock.advance(61)
        assert (await app.auth(new)).status_code == 202
        assert refreshes(fake_idp) == 2


async def test_burst_across_two_replicas_refreshes_once(
    redis_standalone: RedisServer, fake_idp: FakeIdP, clock: ManualClock
) -> None:
    """Two replicas share Redis: the lock (and a re-load after it) makes one refresh."""
    store = store_options("redis", lambda _: redis_standalone)
    async with AuthClient.open(fake_idp, clock, **store) as one, AuthClient.open(
        fake_idp, clock, **store
    ) as two:
        value = await one.login()
        await warm_up(one, value)
        await warm_up(two, value)
        clock.advance(61)
        answers = await asyncio.gather(
            *(replica.auth(value) for _ in range(BURST // 2) for replica in (one, two))
        )
        assert [a.status_code for a in answers] == [202] * BURST
        assert refreshes(fake_idp) == 1
        assert all(not set_cookies(a) for a in answers)


async def test_refused_refresh_ends_the_session(
    store: dict[str, Any], fake_idp: FakeIdP, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with AuthClient.open(fake_idp, clock, **store) as app:
        value = await app.login()
        fake_idp.refresh_error = "invalid_grant"
        clock.advance(61)
        with caplog.at_level(logging.INFO, "authsvc.refresh"):
            answers = await asyncio.gather(*(app.auth(value) for _ in range(5)))
        assert [a.status_code for a in answers] == [401] * 5
        assert refreshes(fake_idp) == 1
        assert "session ended" in caplog.text
        if store["session_store_type"] == "redis":
            with pytest.raises(InvalidSession, match="not found"):
                await app.services.store.load(value)


@pytest.mark.parametrize("status", [503, 0], ids=["http-503", "connection-refused"])
async def test_idp_outage_keeps_the_session_until_it_expires(
    store: dict[str, Any], fake_idp: FakeIdP, clock: ManualClock, status: int
) -> None:
    async with AuthClient.open(fake_idp, clock, **store) as app:
        value = await app.login()
        fake_idp.fail_next(100, status, endpoint="token")
        clock.advance(61)
        answers = await asyncio.gather(*(app.auth(value) for _ in range(10)))
        assert [a.status_code for a in answers] == [202] * 10
        assert all(not set_cookies(a) for a in answers)
        assert (await app.auth(value)).status_code == 202
        assert refreshes(fake_idp) == 1  # one attempt, then a back-off
        clock.advance(3600)
        assert (await app.auth(value)).status_code == 401


async def test_no_refresh_before_the_interval(
    store: dict[str, Any], fake_idp: FakeIdP, clock: ManualClock
) -> None:
    async with AuthClient.open(fake_idp, clock, **store) as app:
        value = await app.login()
        clock.advance(59)
        answer = await app.auth(value)
        assert answer.status_code == 202 and not set_cookies(answer)
        assert refreshes(fake_idp) == 0


async def test_userinfo_refreshes_too(
    store: dict[str, Any], fake_idp: FakeIdP, clock: ManualClock
) -> None:
    async with AuthClient.open(fake_idp, clock, **store) as app:
        value = await app.login(email="bo@example.com")
        clock.advance(61)
        answer = await app.http.get("/oauth2/userinfo", headers={"cookie": f"_authsvc={value}"})
        assert answer.status_code == 200 and answer.json()["email"] == "bo@example.com"
        assert refreshes(fake_idp) == 1
        assert len(set_cookies(answer)) == (0 if store["session_store_type"] == "redis" else 1)


async def test_a_chunked_cookie_session_gets_no_set_cookie_on_refresh(
    fake_idp: FakeIdP, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Chunks need several Set-Cookies and nginx relays one: none is sent, the memo serves."""
    groups = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(150)]
    async with AuthClient.open(fake_idp, clock) as app:
        header = await app.login_header(groups=groups)
        assert "_authsvc_1=" in header
        clock.advance(61)
        with caplog.at_level(logging.WARNING, "authsvc.refresh"):
            answers = await asyncio.gather(
                *(app.http.get("/oauth2/auth", headers={"cookie": header}) for _ in range(10))
            )
        assert [a.status_code for a in answers] == [202] * 10
        assert all(not set_cookies(a) for a in answers)
        assert refreshes(fake_idp) == 1
        assert "use the Redis store" in caplog.text

