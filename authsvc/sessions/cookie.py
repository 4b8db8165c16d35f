"""The default store: the whole session, sealed, in the cookie itself (no server state).

Sealed payload::

    version (1) | sealed_at (8, unix s) | expires_at (8, unix s; 0 = none) | codec bytes

The times sit in front of the session so an expired cookie is refused before it is decoded. A
browser may keep sending a cookie past its Max-Age (a restored tab, a copied header), so the
server checks expiry itself: the session's `expires_at`, or `sealed_at + cookie_expire` when the
session has none.
"""

from __future__ import annotations

import struct

from ..clock import Clock, Random, system_random
from ..config.cookies import CookieOptions
from ..crypto import Sealer
from ..errors import InvalidSession
from ..models import Session
from . import codec

PURPOSE = "session"
_VERSION = 1
_HEAD = struct.Struct(">BQQ")


class CookieSessionStore:
    """A SessionStore whose cookie value is the sealed session."""

    def __init__(self, settings: CookieOptions, clock: Clock, random: Random = system_random) -> None:
        self._sealer = Sealer(settings.secret_keys, PURPOSE, random=random)
        # the cookie name is the associated data: a value moved to another cookie fails
        self._context = settings.cookie_name.encode()
        self._max_age = int(settings.cookie_expire)
        self._clock = clock

    async def load(self, value: str) -> Session:
        """Open the cookie value; InvalidSession when it does not open or has expired."""
        data = self._sealer.unseal(value, self._context)
        if len(data) < _HEAD.size:
            raise InvalidSession("session payload too short")
        version, sealed_at, expires_at = _HEAD.unpack_from(data)
        if version != _VERSION:
            raise InvalidSession("unknown session payload version")
        now = int(self._clock())
        if expires_at == 0 and self._max_age:
            expires_at = sealed_at + self._max_age
        if expires_at and now >= expires_at:
            raise InvalidSession("session expired")
        return codec.decode(data[_HEAD.size :])

    async def save(self, session: Session, previous: str | None = None) -> str:
        """Seal the session into a new cookie value (`previous` is not needed here)."""
        head = _HEAD.pack(_VERSION, int(self._clock()), max(session.expires_at, 0))
        return self._sealer.seal(head + codec.encode(session), self._context)

    async def clear(self, value: str) -> None:
        """Nothing to forget server-side; the caller expires the cookie."""

    async def ping(self) -> None:
        """Always ready: there is no backend."""

    async def close(self) -> None:
        """No connections to release."""
