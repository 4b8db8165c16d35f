"""The session-store seam. A store deals in cookie values, never in requests.

`save` returns the (logical, unchunked) cookie value the browser should hold; `load` turns that
value back into a Session. Splitting a long value into `<name>_0`, `<name>_1`, ... is the job of
`authsvc.cookies`, not of a store. Adding a store is one new file plus one line in `create_store`.
"""

from __future__ import annotations

from typing import Protocol

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
        """Forget the session behind a cookie value (no error when there is none)."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable when the store cannot serve (for /ready)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
