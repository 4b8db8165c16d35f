"""A small in-process cache of verified sessions, so /oauth2/auth does not open every cookie.

Keyed by the cookie value (the whole string: an exact match, never a hash that could collide),
bounded (`MAX_ENTRIES`, oldest out first) and short-lived (`session_cache_ttl`, default 5 s;
0 turns it off). What a hit saves: for the cookie store, the base64 + AES-GCM + decode of a
~3 KB cookie; for the Redis store, the round trip to Redis as well.

**Redis store: never past a logout.** Sign-out (`clear`), back-channel logout (`end_sessions`)
and a refresh (`save` over an existing ticket) delete or rewrite the record and *announce* the
session ids: the store drops them from this process's cache at once and PUBLISHes them on
`<cookie_name>:invalidate`; every replica subscribes in the app's lifespan and drops them too.
A logout whose DEL or PUBLISH fails is an error to its caller (sign-out and back-channel logout
then claim nothing, see redis.py), and this process refuses the session until a retry succeeds.
Redis writes a published message to every subscriber before it answers the publisher, so a
request that follows a sign-out (the browser got its answer after the PUBLISH) reaches a replica
whose socket already holds the invalidation. The cache serves nothing while the subscription is
not confirmed (before start-up, after a disconnect, when a ping goes unanswered) and is emptied
whenever it (re)subscribes, so a missed message can never leave a stale entry behind. A load
that raced with an invalidation is not cached (the `generation` check in `put`).

**Cookie store: the decode only, same TTL.** A cookie session cannot be revoked server-side:
sign-out tells the browser to drop the cookie, and a copy of it stays valid until it expires,
with or without this cache. Caching the decoded value for a few seconds changes nothing about
that, and saves the decryption. Expiry is still checked on every request (by the caller).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from ..models import Session

log = logging.getLogger("authsvc.session_cache")

#: entries at most (a few MiB with cookie-store sessions); oldest out first
MAX_ENTRIES = 4096
#: the subscription is pinged this often; unanswered for 3 intervals means it is dead
PING_INTERVAL = 1.0
#: between reconnection attempts of the subscription
RETRY_AFTER = 1.0
#: a message naming no single session: drop everything
FLUSH_ALL = "*"


@runtime_checkable
class SharedStore(Protocol):
    """A store several replicas share (Redis): it announces changed sessions, see above."""

    #: the pub/sub channel the store PUBLISHes session ids on
    channel: str

    def on_change(self, listener: Callable[[Sequence[str]], None]) -> None:
        """Have the store call `listener(ids)` with the ids it just deleted or rewrote (in this
        process, before it PUBLISHes them)."""
        ...

    def session_id(self, value: str) -> str:
        """The id of the session behind a cookie value (InvalidSession when it does not open)."""
        ...

    async def subscriber(self) -> Any:
        """A new pub/sub connection (redis-py `PubSub`), not yet subscribed."""
        ...


class SessionCache:
    """cookie value -> (session, time put, session id); see the module docstring.

    With a shared store, whoever builds the two wires the store's changes to `drop`
    (`store.on_change(cache.drop)`, the process context does): the cache never writes to the
    store.
    """

    def __init__(
        self,
        ttl: float,
        shared: SharedStore | None = None,
        clock: Callable[[], float] = time.time,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.ttl = ttl
        # the app's clock (wall time): a test's fake clock moving on expires entries too, and an
        # entry is only good between its put time and put time + ttl, so a clock set back does
        # not stretch it
        self._clock = clock
        self._max = max_entries
        self._entries: dict[str, tuple[Session, float, str]] = {}  # value -> (session, put at, id)
        self._by_id: dict[str, set[str]] = {}
        #: bumped by every invalidation: a load that started before one is not cached
        self.generation = 0
        self._shared = shared
        # the cookie store needs no invalidation: on at once. A shared store: once subscribed.
        self.active = ttl > 0 and self._shared is None

    # --- the hot path -------------------------------------------------------------------
    def get(self, value: str) -> Session | None:
        """The cached session for a cookie value, or None (miss, expired or inactive)."""
        if not self.active:
            return None
        hit = self._entries.get(value)
        if hit is None:
            return None
        age = self._clock() - hit[1]
        if not 0 <= age < self.ttl:
            self._forget(value)
            return None
        return hit[0]

    def put(self, value: str, session: Session, generation: int) -> None:
        """Remember a session loaded by a load that began at `generation`."""
        if not self.active or generation != self.generation:
            return
        sid = ""
        if self._shared is not None:
            try:
                sid = self._shared.session_id(value)
            except Exception:  # a value that does not open has no session to cache
                return
        if value in self._entries:
            self._forget(value)
        while len(self._entries) >= self._max:
            self._forget(next(iter(self._entries)))
        self._entries[value] = (session, self._clock(), sid)
        if sid:
            self._by_id.setdefault(sid, set()).add(value)

    def __len__(self) -> int:
        return len(self._entries)

    # --- invalidation -------------------------------------------------------------------
    def drop(self, ids: Sequence[str]) -> None:
        """Forget the sessions with these ids (`FLUSH_ALL` forgets everything)."""
        self.generation += 1
        for sid in ids:
            if sid == FLUSH_ALL:
                self.clear()
                return
            for value in self._by_id.pop(sid, ()):
                self._entries.pop(value, None)

    def clear(self) -> None:
        """Forget everything."""
        self.generation += 1
        self._entries.clear()
        self._by_id.clear()

    def _forget(self, value: str) -> None:
        entry = self._entries.pop(value, None)
        if entry is not None and entry[2]:
            values = self._by_id.get(entry[2])
            if values is not None:
                values.discard(value)
                if not values:
                    del self._by_id[entry[2]]

    def _set_active(self, active: bool) -> None:
        if active != self.active:
            log.info("session cache %s", "on (subscribed to invalidations)" if active else "off")
        self.clear()
        self.active = active

    # --- the subscription (Redis) -------------------------------------------------------
    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        """For the app's lifespan: subscribe to invalidations while the app runs."""
        if self._shared is None or self.ttl <= 0:
            yield
            return
        task = asyncio.create_task(self._watch(self._shared), name="authsvc-session-cache")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._set_active(False)

    async def _watch(self, store: SharedStore) -> None:
        quiet = False  # an outage is logged once, not at every retry
        while True:
            try:
                await self._subscribed(store)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down, reset, timeout: off until resubscribed
                if self.active:  # it had worked: a new outage
                    quiet = False
                (log.debug if quiet else log.warning)(
                    "session cache off: invalidation channel lost (%s: %s)",
                    type(exc).__name__, str(exc)[:120],
                )  # fmt: skip
                quiet = True
            self._set_active(False)
            await asyncio.sleep(RETRY_AFTER)

    async def _subscribed(self, store: SharedStore) -> None:
        pubsub = await store.subscriber()
        try:
            await pubsub.subscribe(store.channel)
            last_seen = time.monotonic()
            next_ping = last_seen + PING_INTERVAL
            while True:
                message = await pubsub.get_message(timeout=PING_INTERVAL / 4)
                now = time.monotonic()
                if message is not None:
                    last_seen = now
                    kind = message.get("type")
                    if kind == "subscribe":
                        self._set_active(True)  # from here on no invalidation can be missed
                    elif kind == "message":
                        self.drop(_ids(message.get("data")))
                if now >= next_ping:
                    await pubsub.ping()
                    next_ping = now + PING_INTERVAL
                if now - last_seen > 3 * PING_INTERVAL:
                    raise TimeoutError("no answer to pings on the invalidation channel")
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()


def _ids(data: object) -> list[str]:
    text = data.decode("ascii", "replace") if isinstance(data, bytes) else str(data)
    return text.split() or [FLUSH_ALL]
