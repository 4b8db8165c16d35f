"""`Authorization: Basic` checked against `htpasswd_file` (oauth2-proxy's static users).

bcrypt is slow on purpose (~0.1-0.3 s a check, a whole core: it releases the GIL), so it runs in
a worker thread, and what a flood of wrong passwords can cost is bounded:

- at most `BCRYPT_SLOTS` verifications run at once, on their own limiter (not anyio's shared
  40-thread default, which a flood used to fill, each thread burning a core the event loop
  needs for every other request), and at most `BCRYPT_QUEUE` more wait for a slot; beyond
  that the check answers 503 with `Retry-After` at once (`PasswordChecksBusy`). Not 401: the
  password was not checked, and a client told "wrong password" may give up or alert; a 503
  says "retry", and tells a guesser nothing. Waiting is bounded too: at most
  `BCRYPT_QUEUE / BCRYPT_SLOTS` bcrypt times (~1 s).
- a verified user:password pair is remembered for `VERIFIED_TTL` (bounded, keyed by an HMAC
  under a per-process random key, never the password), and concurrent checks of the same pair
  share one verification, so a valid client costs one bcrypt a minute, not one per request,
  and never takes a slot while remembered.

`{SHA}` hashes are cheap and are checked inline. A changed file is re-read within a second.
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
from ..errors import PasswordChecksBusy
from ..memo import BoundedMemo
from ..models import Identity, Session

log = logging.getLogger("authsvc.htpasswd")

#: seconds a verified pair is remembered; entries kept at most
VERIFIED_TTL = 60.0
_MAX_VERIFIED = 1024
#: bcrypt verifications at once (each holds a core), and how many more may wait for one
BCRYPT_SLOTS = 2
BCRYPT_QUEUE = 8
#: seconds between two warnings about refused checks
_WARN_EVERY = 60.0
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
        self._verified: BoundedMemo[bytes, tuple[str, float]] = BoundedMemo(_MAX_VERIFIED)
        #: per process: a memo key reveals nothing without it, not even a cheap hash to crack
        self._memo_key = os.urandom(32)
        #: pairs being verified now, so that concurrent checks of one pair share one bcrypt
        self._pending: dict[bytes, _Pending] = {}
        self._limiter: anyio.CapacityLimiter | None = None  # made in the event loop
        self._admitted = 0
        self._refused = 0
        self._warned = float("-inf")
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
        key = hmac.new(self._memo_key, f"{user}\0{password}\0{hashed}".encode(), hashlib.sha256).digest()
        now = self._clock()
        hit = self._verified.data.get(key)
        if hit is None or hit[1] < now:
            if not await self._verify_shared(key, password, hashed):
                return None
            self._verified.put(key, (user, self._clock() + VERIFIED_TTL))
        identity = Identity(user=user, preferred_username=user, groups=self._groups, extra=(HTPASSWD,))
        return Session(identity)

    async def _verify_shared(self, key: bytes, password: str, hashed: str) -> bool:
        """`verify`, once for all concurrent checks of the same pair."""
        if hashed.startswith("{SHA}"):
            return verify(password, hashed)
        pending = self._pending.get(key)
        if pending is not None:
            await pending.done.wait()
            if pending.result is None:  # the first check was refused or failed
                raise PasswordChecksBusy()
            return pending.result
        pending = self._pending[key] = _Pending()
        try:
            pending.result = await self._verify_bounded(password, hashed)
            return pending.result
        finally:
            del self._pending[key]
            pending.done.set()

    async def _verify_bounded(self, password: str, hashed: str) -> bool:
        if self._admitted >= BCRYPT_SLOTS + BCRYPT_QUEUE:
            self._refuse()
            raise PasswordChecksBusy()
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(BCRYPT_SLOTS)
        self._admitted += 1
        try:
            return await anyio.to_thread.run_sync(verify, password, hashed, limiter=self._limiter)
        finally:
            self._admitted -= 1

    def _refuse(self) -> None:
        """Count a refusal; warn at most once a minute (a flood must not flood the log too)."""
        self._refused += 1
        now = self._clock()
        if now - self._warned >= _WARN_EVERY:
            log.warning("htpasswd: %d password check(s) refused with 503: %d bcrypt verifications "
                        "running or waiting (a flood of Basic credentials?)",
                        self._refused, BCRYPT_SLOTS + BCRYPT_QUEUE)
            self._warned, self._refused = now, 0


class _Pending:
    """One verification in flight: its waiters wake on `done`; `result` None: it did not end."""

    __slots__ = ("done", "result")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: bool | None = None
