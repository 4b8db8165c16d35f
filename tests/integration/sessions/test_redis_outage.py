"""A Redis that hangs or dies: /oauth2/auth fails closed (503) within the timeouts, then recovers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.auth_client import AuthClient
from tests.support.fake_idp import FakeIdP, ManualClock
from tests.support.redis_servers import RedisServer, start_standalone

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

CONNECT, COMMAND = 0.3, 0.2
#: what the Guard allows (a connect and a command, twice) plus scheduling slack
BOUND = 2 * (CONNECT + COMMAND) + 0.3


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own (it gets frozen and killed), persisting every write."""
    redis = start_standalone(tmp_path, persist=True)
    yield redis
    redis.stop()


@pytest.fixture
async def app(server: RedisServer, fake_idp: FakeIdP) -> AsyncIterator[AuthClient]:
    clock = ManualClock(time.time())
    fake_idp.clock = clock
    async with AuthClient.open(
        fake_idp, clock, session_store_type="redis", redis_connection_url=server.url,
        redis_connect_timeout=CONNECT, redis_command_timeout=COMMAND,
    ) as client:  # fmt: skip
        yield client


async def timed_auth(app: AuthClient, value: str) -> tuple[int, float]:
    started = time.perf_counter()
    answer = await app.auth(value)
    return answer.status_code, time.perf_counter() - started


async def recovers(app: AuthClient, value: str, within: float = 10.0) -> None:
    """/oauth2/auth answers 202 again, by itself, within `within` seconds."""
    deadline = time.monotonic() + within
    while (await app.auth(value)).status_code != 202:
        assert time.monotonic() < deadline, "authsvc did not recover after Redis came back"
        await asyncio.sleep(0.1)


async def test_hung_redis_fails_closed_in_time_and_recovers(
    app: AuthClient, server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    value = await app.login()
    assert (await app.auth(value)).status_code == 202
    assert (await app.http.get("/ready")).status_code == 200
    server.freeze()
    try:
        with caplog.at_level(logging.ERROR):
            results = await asyncio.gather(*(timed_auth(app, value) for _ in range(10)))
        assert {status for status, _ in results} == {503}
        slowest = max(elapsed for _, elapsed in results)
        assert slowest < BOUND, f"a request took {slowest:.2f}s with Redis hung"
        assert "session store unavailable" in caplog.text
        assert (await app.http.get("/ready")).status_code == 503
        assert (await app.http.get("/ping")).status_code == 200
    finally:
        server.thaw()
    await recovers(app, value)
    assert (await app.http.get("/ready")).status_code == 200


async def test_dead_redis_fails_closed_and_recovers_after_restart(
    app: AuthClient, server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    value = await app.login()
    assert (await app.auth(value)).status_code == 202
    server.stop(kill=True)
    with caplog.at_level(logging.ERROR):
        status, elapsed = await timed_auth(app, value)
    assert status == 503 and elapsed < BOUND
    assert "session store unavailable" in caplog.text
    assert (await app.http.get("/ready")).status_code == 503
    assert (await app.http.get("/ping")).status_code == 200
    server.start()  # same port; the append-only file brings the session back
    await recovers(app, value)
    assert (await app.http.get("/ready")).status_code == 200
