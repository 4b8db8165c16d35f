"""Cookie header -> session: the session step of /oauth2/auth (and /oauth2/userinfo).

The cookie value is read (`cookies.session_value`), looked up in the cache of verified sessions
(`cache.py`), else opened by the store; a value that does not open is "no session" plus a
warning, never an error. An expired session is no session; one due for a refresh goes through
`refresh.py` (the usual case, not due, costs no coroutine and no lock).
"""

from __future__ import annotations

import logging

from .. import cookies
from ..clock import Clock
from ..errors import InvalidSession
from ..models import Session
from .base import SessionStore
from .cache import SessionCache
from .refresh import NO_SESSION, Loaded, Refresher

log = logging.getLogger("authsvc")


class SessionLoader:
    """Finds the session behind a request's cookies."""

    def __init__(
        self,
        cookie_name: str,
        store: SessionStore,
        cache: SessionCache,
        refresher: Refresher,
        clock: Clock,
        app: str = "",
    ) -> None:
        self._app = app
        self._cookie_name = cookie_name
        self._store = store
        self._cache = cache
        self._refresher = refresher
        self._clock = clock

    def load_now(self, cookie_header: str) -> Loaded | None:
        """`load`'s answer when it needs no waiting (no cookie, a cached session that is not
        due for a refresh), else None: then `load` must be awaited. The check's sync path
        (web/auth.py) calls this first."""
        value = cookies.session_value(cookie_header, self._cookie_name)
        if not value:
            return NO_SESSION
        session = self._cache.get(value)
        return None if session is None else self._serve(session)

    async def load(self, cookie_header: str) -> Loaded:
        """The session (refreshed when due, see refresh.py) and its new cookie value, if any."""
        value = cookies.session_value(cookie_header, self._cookie_name)
        if not value:
            return NO_SESSION
        session = self._cache.get(value)
        if session is None:
            generation = self._cache.generation
            try:
                session = await self._store.load(value)
            except InvalidSession as exc:
                log.warning("session cookie rejected: %s", exc.reason, extra={"reason": exc.reason})
                return NO_SESSION
            if session.app != self._app:
                # another app's session (a cookie copied across hosts): no session here, ever
                log.warning("session cookie rejected: it belongs to another app",
                            extra={"reason": "another app's session"})
                return NO_SESSION
            self._cache.put(value, session, generation)
        served = self._serve(session)
        return served if served is not None else await self._refresher.check(value, session)

    def _serve(self, session: Session) -> Loaded | None:
        """An expired session is none; one due for a refresh is None (the refresher's to do)."""
        if session.expired(int(self._clock())):
            return NO_SESSION
        if not self._refresher.due(session):  # the usual case: no coroutine, no lock
            return Loaded(session)
        return None
