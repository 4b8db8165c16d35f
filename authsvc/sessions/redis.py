"""The Redis store: the cookie holds a sealed ticket, Redis the session sealed with its key.

Keys (one per record, so they spread over a Cluster's slots; no multi-key commands)::

    <cookie_name>:s:<id hex>       the sealed session, TTL = its remaining lifetime
    <cookie_name>:lock:<id hex>    the refresh lock (SET NX PX)
    <cookie_name>:sid:<hmac>       set of `<id hex>.<cache key>` of one IdP session (for
                                   back-channel logout; `.<cache key>` only with
                                   nginx_cache_key_secret, sessions/cache_key.py; `<id hex>`
                                   alone from before it)
    <cookie_name>:sub:<hmac>       the same, of one IdP subject
    <cookie_name>:jti:<hmac>       a logout token already used (replay guard)
    <cookie_name>:invalidate       pub/sub channel: ids of sessions deleted or rewritten
                                   (every replica's session cache drops them, sessions/cache.py)

Index names are HMACs keyed from the cookie secrets, so a dump of Redis does not show which
users are signed in. A cache key names nginx's cached decision of a session so that back-channel
logout can purge it; it is no cookie (nginx hashes what a client sends), so a dump still holds
nothing that signs anyone in. Every call is bounded by the Redis timeouts (see redis_client.Guard).

A session is ended (sign-out, back-channel logout) only when its DEL *and* the PUBLISH both
succeeded; otherwise StoreUnavailable, so no caller can claim a logout that did not happen. A
stalled Redis (`CLIENT PAUSE WRITE`, a failover) drops the DEL of a client that timed out, so the
record may well survive: until a delete succeeds, the session is refused by this process anyway
(a tombstone, `_tombstones`) and gone from its session cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from redis.asyncio.cluster import RedisCluster

from ..clock import Clock, Random, system_random
from ..config import Settings
from ..crypto import Sealer, derive_key
from ..errors import InvalidSession, StoreUnavailable
from ..models import Session
from . import codec
from .base import Ended
from .cache_key import CacheKeys, is_key
from .redis_client import Guard, RedisClient, create_client
from .ticket import Ticket, TicketCodec

PURPOSE = "session-ticket"
#: a session without any expiry still leaves Redis after this long
FALLBACK_TTL = 7 * 86400
#: how long one refresh may hold the lock before another replica may take over: longer than
#: an IdP call may take (providers.http.HTTP_TIMEOUT, 10 s), or two replicas could present
#: the same refresh token and the IdP, rotating it, would end the session
LOCK_TTL_MS = 15_000
_LOCK_POLL = 0.02
#: sessions whose delete has not succeeded yet, refused here meanwhile; oldest out beyond this
MAX_TOMBSTONES = 4096
# delete the lock only if it is still ours (it may have expired and been taken by another)
_UNLOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class RedisSessionStore:
    """A SessionStore (plus refresh lock and logout index) on Redis."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        random: Random = system_random,
        client: RedisClient | None = None,
    ) -> None:
        self._client = client if client is not None else create_client(settings)
        self._guard = Guard(settings)
        self._codec = TicketCodec(Sealer(settings.secret_keys, PURPOSE, random), settings.cookie_name,
                                  random)  # fmt: skip
        self._prefix = settings.cookie_name
        self._max_age = int(settings.cookie_expire)
        self._clock = clock
        self._random = random
        self._issuer = settings.oidc_issuer_url
        #: nginx's cache key of each session, recorded in the logout index (sessions/cache_key.py)
        self._cache_keys = CacheKeys(settings.cache_key_secret)
        # newest first, like the sealer: index under the newest key, look up under all
        self._index_keys = [derive_key(k, "session-index") for k in settings.secret_keys]
        #: where deleted or rewritten session ids are announced (sessions/cache.SharedStore)
        self.channel = f"{settings.cookie_name}:invalidate"
        #: this process's listeners (its session cache), told before the PUBLISH goes out
        self._on_change: list[Callable[[Sequence[str]], None]] = []
        #: session id -> until when it is refused here although Redis may still hold it
        self._tombstones: dict[str, float] = {}

    # --- SessionStore -------------------------------------------------------------------
    async def load(self, value: str) -> Session:
        """The session behind a ticket; InvalidSession when gone, tampered or expired."""
        ticket = self._codec.from_cookie(value)
        if self._tombstones and self._buried(ticket.hex):
            raise InvalidSession("session signed out (its record could not be deleted yet)")
        record = await self._guard("GET", self._client.get(self._key("s", ticket.hex)))
        if record is None:
            raise InvalidSession("session not found (signed out, logged out or expired)")
        if not isinstance(record, bytes):
            raise InvalidSession("session record is not bytes")
        _sealed_at, expires_at, body = self._codec.open_record(ticket, record)
        if expires_at and int(self._clock()) >= expires_at:
            raise InvalidSession("session expired")
        return codec.decode(body)

    async def save(self, session: Session, previous: str | None = None) -> str:
        """Store the session. With a ticket in `previous`, only overwrite a record that still
        exists (a session logged out meanwhile stays gone) and keep the same cookie value."""
        now = int(self._clock())
        ticket: Ticket | None = None
        if previous:
            with contextlib.suppress(InvalidSession):
                ticket = self._codec.from_cookie(previous)
        if ticket is not None and self._tombstones and self._buried(ticket.hex):
            raise InvalidSession("session ended while it was being saved")
        reuse = ticket is not None
        ticket = ticket or Ticket.new(self._random)
        ttl = self._ttl(session, now)
        record = self._codec.seal_record(ticket, now, self._expires_at(session, now), codec.encode(session))
        key = self._key("s", ticket.hex)
        written = await self._guard(
            "SET", self._client.set(key, record, px=ttl * 1000, xx=reuse)
        )
        if not written:
            raise InvalidSession("session ended while it was being saved")
        if reuse:  # a refresh: cached copies of the old record must go
            await self._announce([ticket.hex])
        value = previous if reuse and previous else self._codec.to_cookie(ticket)
        await self._index(session, ticket, value)
        return value

    async def clear(self, value: str) -> None:
        """Delete the record behind a ticket and tell every replica (nothing to do for a ticket
        that does not open); StoreUnavailable when either did not happen."""
        try:
            ticket = self._codec.from_cookie(value)
        except InvalidSession:
            return
        await self._end([ticket.hex])

    async def ping(self) -> None:
        """StoreUnavailable unless Redis answers PING."""
        await self._guard("PING", self._client.ping())

    async def close(self) -> None:
        """Close the connection pool."""
        with contextlib.suppress(Exception):
            await self._client.aclose()

    # --- refresh lock -------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lock(self, value: str, wait: float) -> AsyncIterator[bool]:
        """Hold the refresh lock of a session, waiting up to `wait` s; yields whether it is held."""
        ticket = self._codec.from_cookie(value)
        key = self._key("lock", ticket.hex)
        token = self._random(16).hex()
        deadline = time.monotonic() + wait
        while True:
            held = await self._guard(
                "SET NX", self._client.set(key, token, nx=True, px=LOCK_TTL_MS)
            )
            if held or time.monotonic() >= deadline:
                break
            await asyncio.sleep(_LOCK_POLL)
        try:
            yield bool(held)
        finally:
            if held:
                with contextlib.suppress(StoreUnavailable):
                    await self._guard("unlock", self._client.eval(_UNLOCK, 1, key, token))

    # --- back-channel logout ------------------------------------------------------------
    async def end_sessions(self, sid: str, sub: str) -> Ended:
        """Delete every session of IdP session `sid` (or, without one, of subject `sub`); their
        index stays until `forget` (a retry after a failure finds the same members again)."""
        kind, value = ("sid", sid) if sid else ("sub", sub)
        ended, keys = 0, []
        indexes = self._index_names(kind, value)
        for index in indexes:
            members = await self._guard("SMEMBERS", self._client.smembers(index))
            ids: list[str] = []
            for member in members:
                text = member.decode("ascii", "replace") if isinstance(member, bytes) else str(member)
                hex_id, _, key = text.partition(".")
                ids.append(hex_id)
                if is_key(key):
                    keys.append(key)
            if ids:
                ended += await self._end(list(dict.fromkeys(ids)))
        return Ended(ended, tuple(dict.fromkeys(keys)), tuple(indexes))

    async def forget(self, ended: Ended) -> None:
        """Delete the index sets `end_sessions` read."""
        for index in ended.indexes:
            await self._guard("DEL", self._client.delete(index))

    async def seen(self, marker: str) -> bool:
        """Whether `first_use(marker)` was recorded (and has not expired)."""
        name = self._index_names("jti", marker)[0]
        return bool(await self._guard("EXISTS", self._client.exists(name)))

    async def first_use(self, marker: str, ttl: int) -> bool:
        """Record `marker` (e.g. a logout token's jti) for `ttl` s; False when seen before."""
        name = self._index_names("jti", marker)[0]
        added = await self._guard("SET NX", self._client.set(name, b"1", nx=True, ex=max(ttl, 1)))
        return bool(added)

    # --- session cache invalidation (sessions/cache.py) ---------------------------------
    def session_id(self, value: str) -> str:
        """The id of the session behind a cookie value; InvalidSession when it does not open."""
        return self._codec.from_cookie(value).hex

    def on_change(self, listener: Callable[[Sequence[str]], None]) -> None:
        """Call `listener(ids)` in this process whenever sessions are deleted or rewritten."""
        self._on_change.append(listener)

    async def subscriber(self) -> Any:
        """A new pub/sub connection on this store's client (not yet subscribed)."""
        if isinstance(self._client, RedisCluster):
            # a Cluster broadcasts PUBLISH to every node; redis-py's cluster pub/sub needs the
            # slot map first (KeyError on a client that has not run a command yet)
            await self._guard("CLUSTER SLOTS", self._client.initialize())
        return self._client.pubsub()

    async def _announce(self, ids: list[str]) -> None:
        """After a DEL or an overwrite: drop `ids` here at once, then tell every replica."""
        for listener in self._on_change:
            listener(ids)
        await self._guard("PUBLISH", self._client.publish(self.channel, " ".join(ids)))

    async def _end(self, ids: list[str]) -> int:
        """Delete the sessions `ids` and tell every replica; the count of records deleted.

        Refused here and out of this process's cache from the start (a tombstone), so a failure
        half-way leaves nothing this process would serve; the tombstones go once both the DELs
        and the PUBLISH succeeded (then no record is left to serve).
        """
        until = self._clock() + (self._max_age or FALLBACK_TTL)  # no record outlives this
        for hex_id in ids:
            self._tombstones.pop(hex_id, None)
            self._tombstones[hex_id] = until
        while len(self._tombstones) > MAX_TOMBSTONES:
            del self._tombstones[next(iter(self._tombstones))]
        for listener in self._on_change:
            listener(ids)
        ended = 0
        for hex_id in ids:
            ended += int(await self._guard("DEL", self._client.delete(self._key("s", hex_id))))
        await self._guard("PUBLISH", self._client.publish(self.channel, " ".join(ids)))
        for hex_id in ids:
            self._tombstones.pop(hex_id, None)
        return ended

    def _buried(self, hex_id: str) -> bool:
        until = self._tombstones.get(hex_id)
        if until is None:
            return False
        if self._clock() < until:
            return True
        del self._tombstones[hex_id]
        return False

    # --- helpers ------------------------------------------------------------------------
    def _key(self, kind: str, name: str) -> str:
        return f"{self._prefix}:{kind}:{name}"

    def _index_names(self, kind: str, value: str) -> list[str]:
        msg = f"{kind}\x00{self._issuer}\x00{value}".encode()
        return [self._key(kind, hmac.new(k, msg, hashlib.sha256).hexdigest()[:32]) for k in self._index_keys]

    async def _index(self, session: Session, ticket: Ticket, cookie: str) -> None:
        ident = session.identity
        if not (ident.sid or ident.subject):
            return
        key = self._cache_keys.of(cookie)
        member = f"{ticket.hex}.{key}" if key else ticket.hex
        for kind, value in (("sid", ident.sid), ("sub", ident.subject)):
            if not value:
                continue
            name = self._index_names(kind, value)[0]
            await self._guard("SADD", self._client.sadd(name, member))
            # every member lives at most cookie_expire (or FALLBACK_TTL): the set outlives them
            life = self._max_age or FALLBACK_TTL
            await self._guard("EXPIRE", self._client.expire(name, life))

    def _expires_at(self, session: Session, now: int) -> int:
        if session.expires_at:
            return session.expires_at
        return now + self._max_age if self._max_age else 0

    def _ttl(self, session: Session, now: int) -> int:
        expires_at = self._expires_at(session, now)
        if not expires_at:
            return FALLBACK_TTL
        if expires_at <= now:
            raise InvalidSession("session already expired")
        return expires_at - now
