"""OpenID Connect Back-Channel Logout 1.0: the IdP tells us a session ended; we end ours.

`POST /oauth2/backchannel_logout` with a form field `logout_token`, a JWT the IdP signs. It is
checked as §2.6 says (signature by the IdP's JWKS, iss, aud, iat, `events`, no `nonce`, `sid`
or `sub`), and every session of that IdP session (`sid`), or else of that user (`sub`), is
deleted from Redis and from every replica's cache: the next /oauth2/auth of those browsers is
401. Only then is its `jti` remembered (a replay is 400) and 200 answered; when Redis cannot
delete them the answer is 503, so the IdP knows the logout did not happen and may retry it.
The cookie store has no server-side sessions to delete: 501.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .errors import StoreUnavailable, TokenError
from .providers.jws import LOGOUT_TOKEN_TYPES, JWSVerifier, check_registered_claims, typed
from .providers.metadata import MetadataCache
from .services import Services
from .sessions import LogoutIndex

log = logging.getLogger("authsvc.backchannel")

EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: a logout token older than this (iat) is refused, so its jti need only be kept this long
MAX_AGE = 300
NO_STORE = {"Cache-Control": "no-store"}  # §2.8


class LogoutTokenVerifier:
    """Validates logout tokens (§2.6); every failure is a TokenError."""

    def __init__(self, s: Services, metadata: MetadataCache) -> None:
        self._settings = s.settings
        self._clock = s.clock
        self._jws = JWSVerifier(metadata, "logout token")
        # §2.4: typ logout+jwt is recommended; an untyped or JWT-typed one is still told apart
        # by events and no nonce (§4.1); at+jwt and any other type say it is something else
        self._typed = typed("logout token", LOGOUT_TOKEN_TYPES)
        self._audiences = [s.settings.client_id, *s.settings.oidc_extra_audiences]

    async def verify(self, token: str) -> Mapping[str, Any]:
        """The claims of a valid logout token."""
        claims = await self._jws.claims(token, check_header=self._typed)
        self._check(claims)
        return claims

    def _check(self, claims: dict[str, Any]) -> None:
        now, leeway = int(self._clock()), int(self._settings.oidc_leeway)
        try:
            check_registered_claims(  # also exp and nbf, when present
                claims, now=now, leeway=leeway, issuer=self._settings.oidc_issuer_url,
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


def _invalid(description: str, status: int = 400) -> Response:
    """§2.8: 400 with an OAuth-style error body."""
    body = {"error": "invalid_request", "error_description": description}
    return JSONResponse(body, status, headers=NO_STORE)


class BackchannelLogout:
    """The `POST /oauth2/backchannel_logout` endpoint."""

    def __init__(self, s: Services) -> None:
        self.s = s
        metadata = getattr(s.provider, "metadata", None)
        if not isinstance(metadata, MetadataCache):  # providers without OIDC discovery
            metadata = MetadataCache(s.settings, s.http, s.clock)
        self.verifier = LogoutTokenVerifier(s, metadata)

    async def handle(self, request: Request) -> Response:
        """Verify the logout token, end the sessions it names, answer 200 (or 400)."""
        store = self.s.store
        if not isinstance(store, LogoutIndex) or not self.s.settings.oidc_issuer_url:
            body = {"error": "not_supported", "error_description": 'back-channel logout needs '
                    'session_store_type = "redis" (and an OpenID Connect issuer)'}  # fmt: skip
            return JSONResponse(body, 501, headers=NO_STORE)
        form = await request.form()
        token = form.get("logout_token")
        if not isinstance(token, str) or not token:
            return _invalid("logout_token is missing")
        try:
            claims = await self.verifier.verify(token)
        except TokenError as exc:
            log.warning("back-channel logout refused: %s", exc.reason)
            return _invalid(exc.reason)
        sid, sub = str(claims.get("sid") or ""), str(claims.get("sub") or "")
        marker = f"{claims['iss']}\x00{claims['jti']}"
        try:
            if await store.seen(marker):
                log.warning("back-channel logout refused: jti replayed")
                return _invalid("logout token replayed")
            ended = await store.end_sessions(sid, sub)
            # the jti is spent only once the logout happened: the IdP's retry of a failed one
            # must not be refused as a replay (ending the same sessions twice is harmless)
            await store.first_use(marker, MAX_AGE + 2 * int(self.s.settings.oidc_leeway) + 60)
        except StoreUnavailable as exc:
            # §2.8: 200 means the logout succeeded; a 5xx says "not done, try again"
            log.error("back-channel logout failed: %s", exc.reason)
            self.s.metrics.record_error(exc)
            body = {"error": "temporarily_unavailable",
                    "error_description": "the sessions could not be ended; retry later"}  # fmt: skip
            return JSONResponse(body, 503, headers={**NO_STORE, "Retry-After": "5"})
        log.info("back-channel logout: sid=%s sub=%s, %d session(s) ended", sid or "-", sub or "-", ended)
        return Response(status_code=200, headers=NO_STORE)
