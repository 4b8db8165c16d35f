"""The session cache's invalidation channel on every Redis topology (standalone, Sentinel,
Cluster): the cache turns on once subscribed, and a session cleared by another store instance
(another replica) leaves this one's cache at once. Across two real processes:
tests/integration/test_session_cache.py."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from authsvc.sessions import RedisSessionStore
from authsvc.sessions.cache import SessionCache
from tests.conftest import make_settings
from tests.support.redis_servers import store_options
from tests.support.sessions import NOW, session

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def clock() -> float:
    return float(NOW)


async def until(condition: object, what: str, timeout: float = 5.0) -> None:
    assert callable(condition)
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("kind", ["redis", "sentinel", "cluster"])
async def test_a_clear_on_another_replica_drops_the_cached_session(
    kind: str, request: pytest.FixtureRequest
) -> None:
    settings = make_settings(cookie_name=f"_inv{uuid.uuid4().hex[:8]}",
                             **store_options(kind, request.getfixturevalue))  # fmt: skip
    here = RedisSessionStore(settings, clock)
    there = RedisSessionStore(settings, clock)
    cache = SessionCache(60.0, here, clock)
    here.on_change(cache.drop)
    try:
        async with cache.watching():
            await until(lambda: cache.active, "the subscription")
            kept, cleared = await here.save(session(user="bob")), await here.save(session())
            for value in (kept, cleared):
                cache.put(value, await here.load(value), cache.generation)
                assert cache.get(value) is not None
            await there.clear(cleared)  # sign-out on another replica
            await until(lambda: cache.get(cleared) is None, "the invalidation")
            assert cache.get(kept) is not None
            assert (await there.end_sessions("", "sub-bob")).count == 1  # back-channel logout by sub
            await until(lambda: cache.get(kept) is None, "the invalidation")
    finally:
        await here.close()
        await there.close()
    assert not cache.active
