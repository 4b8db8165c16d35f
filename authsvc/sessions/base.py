"""The session-store seam. A store deals in cookie values, never in requests.

`save` returns the (logical, unchunked) cookie value the browser should hold; `load` turns that
value back into a Session. Splitting a long value into `<name>_0`, `<name>_1`, ... is the job of
`authsvc.cookies`, not of a store. Adding a store is one new file plus one line in `create_store`.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..models import Session


class SessionStore(Protocol):
    """Where sessions live. Every method may raise StoreUnavailable (503)."""

    async def load(self, value: str) -> Session:
        """The session behind a cookie value. Raises InvalidSession when it does not open,
        has expired on the server side, or no longer exists."""
        ...

    async def save(self, session: Session, previous: str | None = None) -> str:
        """Store a session; return the cookie value to send. `previous` is the value the
        browser holds now (a store may reuse its ticket)."""
        ...

    async def clear(self, value: str) -> None:
        """Forget the session behind a cookie value (no error when there is none). Raises
        StoreUnavailable unless it is gone: a sign-out must not be claimed when it failed."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable when the store cannot serve (for /ready)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class LockingStore(Protocol):
    """A store shared by several replicas: refreshes take a lock on the session."""

    def lock(self, value: str, wait: float) -> AbstractAsyncContextManager[bool]:
        """Hold the session's refresh lock, waiting up to `wait` seconds; yields whether held."""
        ...


@dataclass(frozen=True, slots=True)
class Ended:
    """The sessions a back-channel logout ended: how many records were deleted, the nginx cache
    keys recorded with them (sessions/cache_key.py), and the index entries that found them."""

    count: int
    cache_keys: tuple[str, ...] = ()
    indexes: tuple[str, ...] = ()


@runtime_checkable
class LogoutIndex(Protocol):
    """A store that can find sessions by the IdP's `sid` / `sub` (back-channel logout)."""

    async def end_sessions(self, sid: str, sub: str) -> Ended:
        """Delete every session of IdP session `sid` (or, without one, of `sub`). StoreUnavailable
        unless every one of them is gone, here and from every replica's cache. The index stays
        until `forget`, so a retry after a failed purge of the cache keys finds them again."""
        ...

    async def forget(self, ended: Ended) -> None:
        """Drop the index entries of sessions `end_sessions` ended (once their cache is purged)."""
        ...

    async def seen(self, marker: str) -> bool:
        """Whether `marker` was remembered by `first_use` (a replay)."""
        ...

    async def first_use(self, marker: str, ttl: int) -> bool:
        """Remember `marker` for `ttl` seconds; False when it was already there (a replay)."""
        ...
