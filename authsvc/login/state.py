"""The login-state cookie of one attempt (its codec), how many of them a browser holds, and the
memory of spent states.

**The codec.** `/oauth2/start` seals a `LoginState` (state, nonce, PKCE verifier, rd, start
time) as a positional JSON list with the `login-state` key and the cookie name as associated
data: a value moved to another cookie does not open. The callback opens it (`open`: the state
compared in constant time, the age checked). Symmetric with `sessions/codec.py` for sessions.

**Login-state cookies.** Each `/oauth2/start` seals its login in a cookie of its own, so that
two tabs can log in at once, living `cookie_csrf_expire`. Uncapped, a page with 30
`<img src=/oauth2/start>` left 30 of them (~310 bytes each), the Cookie header passed nginx's
8 KB line and the whole site answered 400 until they expired. Capping at the response is not
enough: a browser attaches cookies when a request starts, so starts in flight together never
see each other's cookies (30 images on one page, a restored session). So there are only
`cookie_csrf_per_request_limit` cookie *names*, slots `<cookie_name>_csrf_0`, `_1`, ...: however
many starts race, a browser holds at most that many login cookies. A start takes a free slot (at
random, so racing starts rarely collide), else the one holding the oldest login (its sealed
creation time), and carries its slot in the state. Together they also stay within
`LOGIN_COOKIE_BYTES` as far as the request shows them, so long `rd` values cannot do what many
cookies did. A collision only costs the older tab a "sign in again".

**Spent states.** A callback's state is spent once its code exchange begins, so a replayed
callback is refused. The record is per process and bounded: an entry is kept only while its
login could still be valid (`cookie_csrf_expire`), at most `MAX_SPENT_STATES` of them, and
every callback costs O(1) (entries expire in the order they were spent).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from .. import cookies
from ..clock import Clock
from ..crypto import Sealer
from ..errors import InvalidSession, LoginStateError
from ..models import LoginState

#: the longest state a callback may carry (ours are about 45 characters)
MAX_STATE = 256
#: what all login cookies together may add to the Cookie header: a 4 KB session cookie, these
#: and some of the application's own still fit nginx's default 8 KB header line
LOGIN_COOKIE_BYTES = 3072
#: spent states remembered at most (~180 bytes each, 18 MB in all); beyond, the oldest go
MAX_SPENT_STATES = 100_000


@dataclass(frozen=True, slots=True)
class HeldLogin:
    """A slot's cookie as the request shows it: when its login began, its share of the header."""

    created_at: float
    size: int


def choose_slot(held: Mapping[int, HeldLogin], slots: int, pick: int) -> int:
    """The slot of a new login: a free one (`pick`, any number, chooses), else the oldest."""
    free = [i for i in range(slots) if i not in held]
    if free:
        return free[pick % len(free)]
    return min(held, key=lambda i: (held[i].created_at, i))


def over_budget(
    held: Mapping[int, HeldLogin], chosen: int, new_size: int, budget: int = LOGIN_COOKIE_BYTES
) -> list[int]:
    """The other held slots to expire so that they and the new login fit `budget` bytes.

    The newest are kept while they fit; the first that does not goes, and so do all older ones.
    """
    others = sorted((i for i in held if i != chosen), key=lambda i: held[i].created_at, reverse=True)
    room = budget - new_size
    out: list[int] = []
    for i in others:
        if out or held[i].size > room:
            out.append(i)
        else:
            room -= held[i].size
    return out


class LoginStates:
    """Seals and opens login-state cookies."""

    def __init__(self, sealer: Sealer, cookie_name: str, lifetime: float, clock: Clock) -> None:
        self._sealer = sealer
        self._cookie_name = cookie_name
        self._lifetime = lifetime
        self._clock = clock

    def name(self, state: str) -> str | None:
        """The cookie name of the attempt with this state; None for a state we never issue."""
        if not state or len(state) > MAX_STATE:
            return None
        return cookies.login_cookie_name(self._cookie_name, state)

    def seal(self, login: LoginState, started: float) -> tuple[str, str]:
        """(cookie name, sealed value) for a new attempt; `started` is the clock's full value
        (which of the held logins is the oldest, `choose_slot`)."""
        name = cookies.login_cookie_name(self._cookie_name, login.state)
        payload = json.dumps(
            [login.state, login.nonce, login.code_verifier, login.rd, started], separators=(",", ":")
        )
        return name, self._sealer.seal(payload.encode(), name.encode())

    def open(self, jar: Mapping[str, str], state: str) -> LoginState:
        """The attempt a callback's `state` belongs to, from the request's cookies."""
        name = self.name(state)
        if name is None:
            raise LoginStateError("missing state")
        sealed = jar.get(name)
        if not sealed:
            raise LoginStateError("no login in progress for this state")
        try:
            raw = json.loads(self._sealer.unseal(sealed, name.encode()))
            login = LoginState(str(raw[0]), str(raw[1]), str(raw[2]), str(raw[3]), int(raw[4]))
        except (InvalidSession, ValueError, TypeError, IndexError, KeyError):
            raise LoginStateError("login state cookie does not open") from None
        if not hmac.compare_digest(login.state.encode(), state.encode()):
            raise LoginStateError("state mismatch")
        if self._clock() - login.created_at > self._lifetime:
            raise LoginStateError("login took too long")
        return login

    def held(self, jar: Mapping[str, str], slots: int) -> dict[int, HeldLogin]:
        """The slots whose cookie the request carries and that open: when each login began."""
        out: dict[int, HeldLogin] = {}
        for slot in range(slots):
            name = cookies.login_slot_name(self._cookie_name, slot)
            sealed = jar.get(name)
            if not sealed:
                continue
            try:
                created = float(json.loads(self._sealer.unseal(sealed, name.encode()))[4])
            except (InvalidSession, ValueError, TypeError, IndexError):
                continue  # does not open (another key, tampered): the slot is free
            out[slot] = HeldLogin(created, len(name) + len(sealed) + 3)  # "; " and "="
        return out


class SpentStates:
    """The login states whose code exchange has begun in this process, while they matter."""

    def __init__(self, lifetime: float, max_entries: int = MAX_SPENT_STATES) -> None:
        """`lifetime`: how long a login may take (cookie_csrf_expire); a state spent at t
        cannot be valid after t + lifetime, since its login began before t."""
        self._lifetime = lifetime
        self._max = max_entries
        #: state digest -> when it may be forgotten; in the order spent, so also of expiry
        self._until: OrderedDict[bytes, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._until)

    def spent(self, state: str, now: float) -> bool:
        """Whether `state` was spent (and could still be replayed)."""
        self._forget_expired(now)
        return _key(state) in self._until

    def spend(self, state: str, now: float) -> None:
        """Remember `state` as spent."""
        self._forget_expired(now)
        key = _key(state)
        self._until[key] = now + self._lifetime
        self._until.move_to_end(key)
        while len(self._until) > self._max:
            self._until.popitem(last=False)

    def _forget_expired(self, now: float) -> None:
        until = self._until
        while until:
            key, expiry = next(iter(until.items()))
            if expiry > now:
                return
            del until[key]


def _key(state: str) -> bytes:
    # 16 bytes per entry however long the state (the callback allows up to 256 characters)
    return hashlib.sha256(state.encode("utf-8", "replace")).digest()[:16]
