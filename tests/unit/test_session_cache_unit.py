"""SessionCache: TTL on the app's clock, bound, generation races, and the shared-store rules
(off until subscribed, dropped by id, emptied on every (re)subscription). The real thing across
two processes and one Redis: tests/integration/test_session_cache.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from authsvc.errors import InvalidSession
from authsvc.models import Identity, Session
from authsvc.sessions.cache import FLUSH_ALL, SessionCache, SharedStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def session(user: str = "u") -> Session:
    return Session(Identity(user=user))


class FakePubSub:
    """What session_cache uses of redis-py's PubSub."""

    def __init__(self, messages: asyncio.Queue[dict[str, Any] | Exception]) -> None:
        self.messages = messages
        self.closed = False

    async def subscribe(self, channel: str) -> None:
        await self.messages.put({"type": "subscribe", "channel": channel, "data": 1})

    async def get_message(self, timeout: float) -> dict[str, Any] | None:
        try:
            item = await asyncio.wait_for(self.messages.get(), timeout)
        except TimeoutError:
            return None
        if isinstance(item, Exception):
            raise item
        return item

    async def ping(self) -> None:
        await self.messages.put({"type": "pong", "data": b""})

    async def aclose(self) -> None:
        self.closed = True


class FakeShared:
    channel = "_authsvc:invalidate"

    def __init__(self) -> None:
        self.changed: Callable[[Sequence[str]], None] | None = None
        self.messages: asyncio.Queue[dict[str, Any] | Exception] = asyncio.Queue()
        self.subscriptions = 0

    def on_change(self, listener: Callable[[Sequence[str]], None]) -> None:
        self.changed = listener

    def session_id(self, value: str) -> str:
        if value.startswith("bad"):
            raise InvalidSession("does not open")
        return "id-" + value.split("-")[0]

    async def subscriber(self) -> FakePubSub:
        self.subscriptions += 1
        return FakePubSub(self.messages)


def test_fake_is_a_shared_store() -> None:
    assert isinstance(FakeShared(), SharedStore)


def test_cookie_store_cache_is_on_at_once_and_expires_with_the_clock() -> None:
    clock = Clock()
    cache = SessionCache(5.0, None, clock)
    assert cache.active
    cache.put("v", session(), cache.generation)
    assert cache.get("v") == session()
    clock.now += 4.9
    assert cache.get("v") == session()
    clock.now += 0.2
    assert cache.get("v") is None and len(cache) == 0


def test_a_clock_set_back_does_not_stretch_an_entry() -> None:
    clock = Clock()
    cache = SessionCache(5.0, None, clock)
    cache.put("v", session(), cache.generation)
    clock.now -= 60
    assert cache.get("v") is None


def test_ttl_zero_turns_it_off() -> None:
    cache = SessionCache(0.0, None, Clock())
    cache.put("v", session(), cache.generation)
    assert not cache.active and cache.get("v") is None


def test_a_load_that_raced_with_an_invalidation_is_not_cached() -> None:
    cache = SessionCache(5.0, None, Clock())
    started = cache.generation
    cache.drop(["whatever"])  # a logout while the load was in flight
    cache.put("v", session(), started)
    assert cache.get("v") is None


def test_bounded_oldest_out_first() -> None:
    cache = SessionCache(5.0, None, Clock(), max_entries=3)
    for i in range(5):
        cache.put(f"v{i}", session(str(i)), cache.generation)
    assert len(cache) == 3
    assert cache.get("v0") is None and cache.get("v1") is None
    assert cache.get("v4") == session("4")


def test_shared_store_cache_is_off_until_subscribed() -> None:
    store = FakeShared()
    cache = SessionCache(5.0, store, Clock())
    assert not cache.active and store.changed is None  # the cache writes nothing on the store
    cache.put("a-1", session(), cache.generation)
    assert cache.get("a-1") is None


def test_shared_store_drops_by_session_id_and_flushes() -> None:
    store = FakeShared()
    cache = SessionCache(5.0, store, Clock())
    store.on_change(cache.drop)  # what the process context wires
    cache.active = True
    for value in ("a-1", "a-2", "b-1"):
        cache.put(value, session(value), cache.generation)
    cache.put("bad-1", session(), cache.generation)  # does not open: not cached
    assert len(cache) == 3
    assert store.changed is not None
    store.changed(["id-a"])  # what the store calls after its DEL
    assert cache.get("a-1") is None and cache.get("a-2") is None
    assert cache.get("b-1") == session("b-1")
    cache.drop([FLUSH_ALL])
    assert len(cache) == 0


@pytest.mark.anyio
async def test_watching_follows_the_subscription() -> None:
    store = FakeShared()
    cache = SessionCache(5.0, store, Clock())
    async with cache.watching():
        for _ in range(100):
            if cache.active:
                break
            await asyncio.sleep(0.01)
        assert cache.active
        cache.put("a-1", session(), cache.generation)
        cache.put("b-1", session(), cache.generation)
        await store.messages.put({"type": "message", "channel": store.channel, "data": b"id-a"})
        for _ in range(100):
            if cache.get("a-1") is None:
                break
            await asyncio.sleep(0.01)
        assert cache.get("a-1") is None and cache.get("b-1") is not None
        # the connection breaks: off and empty at once, until it has subscribed again
        await store.messages.put(ConnectionError("reset"))
        for _ in range(100):
            if not cache.active:
                break
            await asyncio.sleep(0.01)
        assert not cache.active and len(cache) == 0
    assert not cache.active
