"""`Authorization: Basic` checked against `htpasswd_file` (oauth2-proxy's static users).

bcrypt is slow on purpose (~0.1-0.3 s a check), so it runs in a worker thread, and a verified
user:password pair is remembered for a minute (bounded, keyed by a digest, never the password),
so an API client's every request does not pay it again. A changed file is re-read within a second.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
from pathlib import Path

import anyio

from ..clock import Clock
from ..config.htpasswd import HtpasswdOptions, parse_htpasswd
from ..models import Identity, Session

log = logging.getLogger("authsvc.htpasswd")

#: seconds a verified pair is remembered; entries kept at most
VERIFIED_TTL = 60.0
_MAX_VERIFIED = 1024
#: longer Authorization values are not decoded (a bcrypt input is at most 72 bytes anyway)
_MAX_HEADER = 1024
CHECK_INTERVAL = 1.0
#: the mark rules.py reads: these identities have no e-mail address to check
HTPASSWD = ("auth", "htpasswd")


def verify(password: str, hashed: str) -> bool:
    """bcrypt or {SHA} (base64 SHA-1, htpasswd -s), constant-time."""
    if hashed.startswith("{SHA}"):
        digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()  # noqa: S324
        return hmac.compare_digest(digest, hashed[5:])
    import bcrypt

    try:
        return bool(bcrypt.checkpw(password.encode(), hashed.encode()))
    except ValueError:
        return False


class Htpasswd:
    """The users of one htpasswd file."""

    def __init__(self, settings: HtpasswdOptions, clock: Clock) -> None:
        self._path = Path(settings.htpasswd_file)
        self._groups = tuple(settings.htpasswd_user_groups)
        self._clock = clock
        self._stamp: tuple[int, int] | None = None
        self._next_check = float("-inf")
        self._users: dict[str, str] = {}
        self._verified: dict[bytes, tuple[str, float]] = {}
        self._reload()

    def _reload(self) -> None:
        now = self._clock()
        if now < self._next_check:
            return
        self._next_check = now + CHECK_INTERVAL
        try:
            st = os.stat(self._path)
            if (st.st_mtime_ns, st.st_size) == self._stamp:
                return
            users = parse_htpasswd(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            log.warning("htpasswd_file %s: %s; keeping the last users", self._path, exc)
            return
        self._users, self._stamp = users, (st.st_mtime_ns, st.st_size)
        self._verified.clear()

    async def session(self, authorization: str | None) -> Session | None:
        """The session of a valid `Basic user:password`, else None (the caller answers 401)."""
        if not authorization or len(authorization) > _MAX_HEADER:
            return None
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if not sep or not user:
            return None
        self._reload()
        hashed = self._users.get(user)
        if hashed is None:
            return None
        key = hashlib.sha256(f"{user}\0{password}\0{hashed}".encode()).digest()
        now = self._clock()
        hit = self._verified.get(key)
        if hit is None or hit[1] < now:
            if not await anyio.to_thread.run_sync(verify, password, hashed):
                return None
            if len(self._verified) >= _MAX_VERIFIED:
                self._verified.clear()
            self._verified[key] = (user, now + VERIFIED_TTL)
        identity = Identity(user=user, preferred_username=user, groups=self._groups, extra=(HTPASSWD,))
        return Session(identity)
