"""What only the Redis store promises: an unreadable dump, TTLs, the lock, the logout index."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

from authsvc.errors import InvalidSession
from authsvc.models import Identity, Session
from authsvc.sessions import RedisSessionStore
from authsvc.sessions.cache_key import CacheKeys
from tests.conftest import make_settings
from tests.support.fake_idp import ManualClock
from tests.support.redis_servers import RedisServer
from tests.support.sessions import NOW, session

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def redis_store(server: RedisServer, clock: ManualClock, **overrides: Any) -> RedisSessionStore:
    settings = make_settings(session_store_type="redis", redis_connection_url=server.url, **overrides)
    return RedisSessionStore(settings, clock)


async def dump(server: RedisServer) -> dict[bytes, bytes]:
    """Every string key and its value, as an attacker with a copy of Redis sees them."""
    client = Redis.from_url(server.url)
    try:
        out: dict[bytes, bytes] = {}
        async for key in client.scan_iter():
            value = await client.get(key) if await client.type(key) == b"string" else None
            if isinstance(value, bytes):
                out[key] = value
        return out
    finally:
        await client.aclose()


async def test_a_dump_of_redis_reveals_nothing(redis_standalone: RedisServer) -> None:
    store = redis_store(redis_standalone, ManualClock(NOW), cookie_name="_dump")
    try:
        await store.save(session(user="secretive"))
        data = await dump(redis_standalone)
        mine = {k: v for k, v in data.items() if k.startswith(b"_dump:")}
        assert mine
        for key, value in mine.items():
            for needle in (b"secretive", b"example.com", b"rt", b"sub-"):
                assert needle not in key
            assert b"secretive" not in value and b"example.com" not in value
    finally:
        await store.close()


async def test_ttl_is_the_remaining_lifetime(redis_standalone: RedisServer) -> None:
    store = redis_store(redis_standalone, ManualClock(NOW), cookie_name="_ttl")
    client = Redis.from_url(redis_standalone.url)
    try:
        await store.save(session(expires_in=600))
        keys = [k async for k in client.scan_iter(match="_ttl:s:*")]
        assert len(keys) == 1
        assert 590_000 < await client.pttl(keys[0]) <= 600_000
        with pytest.raises(InvalidSession):
            await store.save(Session(Identity(user="late"), expires_at=NOW - 1))
    finally:
        await store.close()
        await client.aclose()


async def test_tampered_record_in_redis_is_refused(redis_standalone: RedisServer) -> None:
    store = redis_store(redis_standalone, ManualClock(NOW), cookie_name="_tamper")
    client = Redis.from_url(redis_standalone.url)
    try:
        value = await store.save(session())
        (key,) = [k async for k in client.scan_iter(match="_tamper:s:*")]
        stored = await client.get(key)
        assert isinstance(stored, bytes)
        record = bytearray(stored)
        record[-1] ^= 1
        await client.set(key, bytes(record))
        with pytest.raises(InvalidSession, match="tampered"):
            await store.load(value)
    finally:
        await store.close()
        await client.aclose()


async def test_refresh_lock_is_exclusive_and_released(redis_standalone: RedisServer) -> None:
    store = redis_store(redis_standalone, ManualClock(NOW))
    try:
        value = await store.save(session())
        async with store.lock(value, wait=1.0) as first:
            assert first
            async with store.lock(value, wait=0.1) as second:
                assert not second
        async with store.lock(value, wait=0.1) as again:
            assert again
    finally:
        await store.close()


async def test_end_sessions_by_sid_and_by_sub(redis_standalone: RedisServer) -> None:
    store = redis_store(redis_standalone, ManualClock(NOW))
    try:
        laptop = await store.save(session(user="ann"))
        phone = await store.save(
            Session(Identity(user="ann", subject="sub-ann", sid="sid-phone"), expires_at=NOW + 60)
        )
        other = await store.save(session(user="bob"))
        assert (await store.end_sessions("sid-unknown", "")).count == 0
        assert (await store.end_sessions("sid-ann", "sub-ann")).count == 1
        with pytest.raises(InvalidSession):
            await store.load(laptop)
        assert (await store.load(phone)).identity.sid == "sid-phone"
        assert (await store.end_sessions("", "sub-ann")).count == 1
        with pytest.raises(InvalidSession):
            await store.load(phone)
        assert (await store.load(other)).identity.user == "bob"
    finally:
        await store.close()


KEY_SECRET = "k3y-of-the-nginx-decision-cache-0123456789"


async def test_end_sessions_names_the_nginx_cache_keys_until_forgotten(redis_standalone: RedisServer) -> None:
    """Back-channel logout knows a sid, not a cookie: the store records each session's nginx
    cache key (sessions/cache_key.py) and hands it back, and keeps the index until the purge is
    done (`forget`), so a retry after a failed purge finds the same keys."""
    store = redis_store(redis_standalone, ManualClock(NOW), cookie_name="_keys",
                        nginx_cache_key_secret=KEY_SECRET)  # fmt: skip
    client = Redis.from_url(redis_standalone.url)
    try:
        value = await store.save(session(user="kim"))
        refreshed = await store.save(session(user="kim"), value)  # a refresh records it again
        assert refreshed == value
        key = CacheKeys(KEY_SECRET.encode()).of(value)
        members: list[bytes] = []
        async for name in client.scan_iter(match="_keys:s[iu]*:*"):  # the sid and sub index
            members += [m for m in await client.smembers(name) if isinstance(m, bytes)]
        assert len(members) == 2 and all(m.endswith(key.encode()) for m in members)
        assert not any(value.encode() in m for m in members)  # the cookie itself: never
        ended = await store.end_sessions("sid-kim", "")
        assert (ended.count, ended.cache_keys) == (1, (key,))
        again = await store.end_sessions("sid-kim", "")  # the purge failed: the IdP retries
        assert (again.count, again.cache_keys) == (0, (key,))
        await store.forget(again)
        assert (await store.end_sessions("sid-kim", "")).cache_keys == ()
    finally:
        await store.close()
        await client.aclose()


async def test_first_use_is_atomic(redis_standalone: RedisServer) -> None:
    store = redis_store(redis_standalone, ManualClock(NOW))
    try:
        assert not await store.seen("jti-race")
        results = await asyncio.gather(*(store.first_use("jti-race", 60) for _ in range(20)))
        assert results.count(True) == 1
        assert await store.seen("jti-race") and not await store.seen("jti-other")
    finally:
        await store.close()
