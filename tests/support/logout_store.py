"""A LogoutIndex in memory, for unit tests of back-channel logout without Redis.

The cookie store, plus `end_sessions` / `seen` / `first_use` kept in a set and a list. The
Redis store's LogoutIndex is tested against real Redis (tests/integration/sessions/).
"""

from __future__ import annotations

from typing import Any

from authsvc.sessions import CookieSessionStore
from authsvc.sessions.base import Ended


class MemoryLogoutStore(CookieSessionStore):
    """The cookie store plus an in-memory LogoutIndex."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.used: set[str] = set()
        self.ended: list[tuple[str, str]] = []
        #: cache keys end_sessions answers with, and the Ended values forgotten
        self.cache_keys: tuple[str, ...] = ()
        self.forgotten: list[Ended] = []

    async def end_sessions(self, sid: str, sub: str) -> Ended:
        self.ended.append((sid, sub))
        return Ended(1, self.cache_keys)

    async def forget(self, ended: Ended) -> None:
        self.forgotten.append(ended)

    async def seen(self, marker: str) -> bool:
        return marker in self.used

    async def first_use(self, marker: str, ttl: int) -> bool:
        if marker in self.used:
            return False
        self.used.add(marker)
        return True
