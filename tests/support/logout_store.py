"""A LogoutIndex in memory, for unit tests of back-channel logout without Redis.

The cookie store, plus `end_sessions` / `seen` / `first_use` kept in a set and a list. The
Redis store's LogoutIndex is tested against real Redis (tests/integration/sessions/).
"""

from __future__ import annotations

from typing import Any

from authsvc.sessions import CookieSessionStore


class MemoryLogoutStore(CookieSessionStore):
    """The cookie store plus an in-memory LogoutIndex."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.used: set[str] = set()
        self.ended: list[tuple[str, str]] = []

    async def end_sessions(self, sid: str, sub: str) -> int:
        self.ended.append((sid, sub))
        return 1

    async def seen(self, marker: str) -> bool:
        return marker in self.used

    async def first_use(self, marker: str, ttl: int) -> bool:
        if marker in self.used:
            return False
        self.used.add(marker)
        return True
