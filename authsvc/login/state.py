"""The login-state cookie of one attempt (the codec) and the memory of spent states.

`/oauth2/start` seals a `LoginState` (state, nonce, PKCE verifier, rd, start time) into a cookie
named after its state (`cookies.login_cookie_name`), so two tabs can log in at once. The wire
format is a positional JSON list, sealed with the `login-state` key and the cookie name as
associated data: a value moved to another attempt's cookie does not open. The callback opens
it (`open`: constant-time state comparison, age check) and spends the state (`UsedStates`).
Symmetric with `sessions/codec.py` for sessions.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping

from .. import cookies
from ..clock import Clock
from ..crypto import Sealer
from ..errors import InvalidSession, LoginStateError
from ..models import LoginState

#: the longest state a callback may carry (ours are 43 characters)
MAX_STATE = 256
#: how long a spent state is remembered (a replay after this fails the age check anyway)
USED_TTL = 3600


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

    def seal(self, login: LoginState) -> tuple[str, str]:
        """(cookie name, sealed value) for a new attempt."""
        name = cookies.login_cookie_name(self._cookie_name, login.state)
        payload = json.dumps(
            [login.state, login.nonce, login.code_verifier, login.rd, login.created_at],
            separators=(",", ":"),
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


class UsedStates:
    """Single use: a replayed callback finds its state spent (per replica)."""

    def __init__(self) -> None:
        self._used: dict[str, float] = {}

    def spend(self, state: str, now: float) -> None:
        """Mark `state` spent; LoginStateError when it already was."""
        self._used = {k: t for k, t in self._used.items() if now - t < USED_TTL}
        if state in self._used:
            raise LoginStateError("state already used")
        self._used[state] = now
