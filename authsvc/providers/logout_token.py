"""OpenID Connect Back-Channel Logout 1.0 §2.6: the logout token's checks.

A JWT the IdP signs: signature by the IdP's JWKS, iss, aud, iat (not older than `MAX_AGE`), the
back-channel logout `events` member, no `nonce`, a `sid` or `sub`, a `jti` (the endpoint,
`web/backchannel.py`, remembers it so the token cannot be replayed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from joserfc.errors import JoseError

from ..clock import Clock
from ..errors import TokenError
from .jws import LOGOUT_TOKEN_TYPES, JWSVerifier, check_registered_claims, typed
from .metadata import MetadataCache

EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: a logout token older than this (iat) is refused, so its jti need only be kept this long
MAX_AGE = 300


class LogoutTokenVerifier:
    """Validates logout tokens (§2.6); every failure is a TokenError."""

    def __init__(
        self, issuer: str, audiences: list[str], leeway: float, metadata: MetadataCache, clock: Clock
    ) -> None:
        self._issuer = issuer
        self._audiences = audiences
        self._leeway = leeway
        self._clock = clock
        self._jws = JWSVerifier(metadata, "logout token")
        # §2.4: typ logout+jwt is recommended; an untyped or JWT-typed one is still told apart
        # by events and no nonce (§4.1); at+jwt and any other type say it is something else
        self._typed = typed("logout token", LOGOUT_TOKEN_TYPES)

    async def verify(self, token: str) -> Mapping[str, Any]:
        """The claims of a valid logout token."""
        claims = await self._jws.claims(token, check_header=self._typed)
        self._check(claims)
        return claims

    def _check(self, claims: dict[str, Any]) -> None:
        now, leeway = int(self._clock()), int(self._leeway)
        try:
            check_registered_claims(  # also exp and nbf, when present
                claims, now=now, leeway=leeway, issuer=self._issuer,
                audiences=self._audiences, required=("iat", "jti"),
            )  # fmt: skip
        except JoseError as exc:
            raise TokenError(f"logout token claims: {exc.description or exc.error}") from None
        iat = claims["iat"]
        if not isinstance(iat, int | float) or iat < now - MAX_AGE - leeway:
            raise TokenError("logout token iat is too old")
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(EVENT), dict):
            raise TokenError("logout token events lacks the back-channel logout event")
        if "nonce" in claims:  # §2.4: prevents an ID token being used as a logout token
            raise TokenError("logout token must not contain a nonce")
        sid, sub = claims.get("sid"), claims.get("sub")
        if not (isinstance(sid, str) and sid) and not (isinstance(sub, str) and sub):
            raise TokenError("logout token has neither sid nor sub")
        if not isinstance(claims["jti"], str) or not claims["jti"]:
            raise TokenError("logout token jti is not a string")
