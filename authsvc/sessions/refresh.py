"""Token refresh on /oauth2/auth, without races (DESIGN.md §4).

When a session is older than `cookie_refresh`, the refresh token is used once, however many
requests arrive at the same moment:

* in this process, a single flight per cookie value: the first request starts the refresh,
  the others wait for its result;
* across replicas (Redis store), a lock on the session (`SET NX PX`), then a re-load, because
  another replica may have refreshed while we waited; the ticket stays the same, so no new
  cookie is needed at all;
* for the cookie store, the refreshed session is a new cookie value. Requests still carrying
  the old value (sent before the browser saw the new one) would present the refresh token the
  IdP has just rotated away (oauth2-proxy #1006, #1992); a short-lived map old value -> result
  answers them with the refreshed session instead. That map is per process: with several
  replicas behind a load balancer, use the Redis store.

An IdP that refuses the refresh token (invalid_grant) ends the session; an IdP that cannot be
reached leaves it usable until it expires, and is asked again after `BACKOFF` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

from ..clock import Clock
from ..errors import InvalidSession, ProviderUnavailable, TokenError
from ..models import Session
from ..providers.base import Provider
from .base import LockingStore, SessionStore

log = logging.getLogger("authsvc.refresh")

#: how long requests carrying a replaced cookie value get the refreshed session
REPLACED_TTL = 60.0
#: after an IdP outage, how long the session is served before the IdP is asked again
BACKOFF = 10.0
#: how long a replica waits for another's refresh before serving the session unrefreshed
LOCK_WAIT = 5.0
_MAX_REMEMBERED = 10_000


class Loaded(NamedTuple):
    """A request's session (None: no valid session) and, after a refresh that changed it, the
    new cookie value (the edge formats the Set-Cookie: web/responses.refreshed_cookie). A named
    tuple: one is made per check, cheaper than a frozen dataclass."""

    session: Session | None
    new_value: str | None = None


NO_SESSION = Loaded(None)


@dataclass(frozen=True, slots=True)
class _Outcome:
    session: Session | None
    #: the new cookie value, when it differs from the one the request carried
    value: str | None = None
    #: "replaced" (value changed), "backoff" (IdP down), "ended"; None = nothing to remember
    memo: str | None = None


class Refresher:
    """Refreshes sessions that are due, once per session however many requests ask."""

    def __init__(
        self,
        interval: float,
        store: SessionStore,
        provider: Provider,
        clock: Clock,
        monotonic: Callable[[], float] = time.monotonic,
        record: Callable[[bool], None] = lambda success: None,
        purge: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        """`interval`: cookie_refresh; `record(success)` counts each refresh asked of the IdP;
        `purge(value)` drops the old cookie's decision from nginx's cache (sessions/purge.py)."""
        self._interval = interval
        self._store = store
        self._provider = provider
        self._clock = clock
        self._monotonic = monotonic
        self._record = record
        self._purge = purge
        self._inflight: dict[str, asyncio.Task[_Outcome]] = {}
        self._memo: OrderedDict[str, tuple[float, _Outcome]] = OrderedDict()

    def due(self, session: Session) -> bool:
        """Whether the session is older than `cookie_refresh` and can be refreshed."""
        if not self._interval:  # cookie_refresh off (the default): no clock read per check
            return False
        age = int(self._clock()) - session.refreshed_at
        return age > self._interval and bool(session.tokens.refresh_token)

    async def check(self, value: str, session: Session) -> Loaded:
        """The session to serve for a request carrying `value`, refreshed first when due."""
        if not self.due(session):
            return Loaded(session)
        outcome = self._remembered(value, session)
        if outcome is None:
            task = self._inflight.get(value)
            if task is None:
                # its own task: a request that is cancelled must not cancel the others' refresh
                task = asyncio.create_task(self._refresh(value, session))
                self._inflight[value] = task
                task.add_done_callback(lambda t: self._finished(value, t))
            outcome = await asyncio.shield(task)
        if outcome.session is None:
            return NO_SESSION
        return Loaded(outcome.session, outcome.value)

    def _remembered(self, value: str, session: Session) -> _Outcome | None:
        hit = self._memo.get(value)
        if hit is None:
            return None
        until, outcome = hit
        if self._monotonic() >= until:
            del self._memo[value]
            return None
        # an outage: serve the session this request loaded (it may have changed since)
        return _Outcome(session) if outcome.memo == "backoff" else outcome

    def _finished(self, value: str, task: asyncio.Task[_Outcome]) -> None:
        self._inflight.pop(value, None)
        if task.cancelled() or task.exception() is not None:
            return
        outcome = task.result()
        if outcome.memo is None:
            return
        ttl = BACKOFF if outcome.memo == "backoff" else REPLACED_TTL
        self._memo[value] = (self._monotonic() + ttl, outcome)
        self._memo.move_to_end(value)
        while len(self._memo) > _MAX_REMEMBERED:
            self._memo.popitem(last=False)

    async def _refresh(self, value: str, session: Session) -> _Outcome:
        shared = isinstance(self._store, LockingStore)
        lock = self._store.lock(value, LOCK_WAIT) if isinstance(self._store, LockingStore) else None
        async with lock or contextlib.nullcontext(True) as held:
            if not held:
                log.warning("refresh: another replica holds the lock; serving the session as is")
                return _Outcome(session)
            if shared:
                try:  # another replica may have refreshed while we waited for the lock
                    session = await self._store.load(value)
                except InvalidSession:
                    return _Outcome(None, memo="ended")
                if not self.due(session):
                    return _Outcome(session)
            return await self._use_refresh_token(value, session)

    async def _use_refresh_token(self, value: str, session: Session) -> _Outcome:
        user = session.identity.user
        try:
            identity, tokens = await self._provider.refresh(session.tokens)
        except TokenError as exc:
            self._record(False)
            log.info("refresh: refused for user=%s (%s); session ended", user, exc.reason)
            await self._store.clear(value)
            if self._purge is not None:  # another nginx replica may still hold its 2xx
                await self._purge(value)
            return _Outcome(None, memo="ended")
        except ProviderUnavailable as exc:
            self._record(False)
            log.warning("refresh: IdP unavailable for user=%s (%s); session kept", user, exc.reason)
            return _Outcome(session, memo="backoff")
        self._record(True)
        if identity is not None and not identity.sid:
            # IdPs often leave sid out of a refreshed ID token; back-channel logout needs it
            identity = replace(identity, sid=session.identity.sid)
        fresh = session.with_tokens(tokens, int(self._clock()), identity)
        try:
            new_value = await self._store.save(fresh, value)
        except InvalidSession:  # signed out (or logged out) while the IdP answered
            return _Outcome(None, memo="ended")
        log.info("refresh: tokens refreshed for user=%s", user)
        if self._purge is not None:
            # nginx's cached 2xx of the old value carries the old identity headers and token;
            # a failure is logged there and the entry lives at most proxy_cache_valid
            await self._purge(value)
        if new_value == value:
            return _Outcome(fresh)
        return _Outcome(fresh, new_value, memo="replaced")
