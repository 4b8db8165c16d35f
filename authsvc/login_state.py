"""Bounds on what unfinished logins leave behind: login-state cookies and spent states.

**Login-state cookies.** Each `/oauth2/start` sets its own `<cookie_name>_csrf_<hash>` cookie
(so two tabs can log in at once), living `cookie_csrf_expire`. Uncapped, a page with 30
`<img src=/oauth2/start>` pushed the Cookie header past nginx's 8 KB line and the whole site
answered 400 until they expired. So a start keeps at most `cookie_csrf_per_request_limit`
login cookies (oauth2-proxy's option), the new one included, and expires the older ones in the
same response. Oldest means first in the Cookie header: browsers list cookies of equal path by
creation time (RFC 6265 §5.4, step 2), and every login cookie has the same path. They also stay
within `LOGIN_COOKIE_BYTES` together, so long `rd` values cannot do what many cookies did.

**Spent states.** A callback's state is spent once its code exchange begins, so a replayed
callback is refused. The record is per process and bounded: an entry is kept only while its
login could still be valid (`cookie_csrf_expire`), at most `MAX_SPENT_STATES` of them, and
every callback costs O(1) (entries expire in the order they were spent).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping

#: what all login cookies together may add to the Cookie header: a 4 KB session cookie, these
#: and some of the application's own still fit nginx's default 8 KB header line
LOGIN_COOKIE_BYTES = 3072
#: spent states remembered at most (about 100 bytes each); beyond, the oldest are forgotten
MAX_SPENT_STATES = 100_000


def crowded_out(
    jar: Mapping[str, str],
    is_login: Callable[[str], bool],
    keep: int,
    new_size: int,
    budget: int = LOGIN_COOKIE_BYTES,
) -> list[str]:
    """The login cookies (names `is_login` accepts) to expire next to a new one.

    `jar` is the request's cookies in Cookie header order (oldest first); `new_size` is the
    length of the new cookie's `name=value`. The newest ones are kept while, with the new
    one, there are at most `keep` and they take at most `budget` bytes; all older ones go.
    """
    names = [name for name in jar if is_login(name)]
    count, room = 1, budget - new_size
    out: list[str] = []
    for name in reversed(names):
        size = len(name) + len(jar[name]) + 3  # "; " and "="
        if out or count >= keep or size > room:
            out.append(name)
            continue
        count, room = count + 1, room - size
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
