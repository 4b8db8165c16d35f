"""OpenID Connect Back-Channel Logout 1.0: the IdP tells us a session ended; we end ours.

`POST /oauth2/backchannel_logout` with a form field `logout_token`, a JWT the IdP signs. It is
checked as §2.6 says (signature by the IdP's JWKS, iss, aud, iat, `events`, no `nonce`, `sid`
or `sub`), and every session of that IdP session (`sid`), or else of that user (`sub`), is
deleted from Redis and from every replica's cache, and their decisions cached by nginx are
purged by the cache keys recorded with them (sessions/cache_key.py, `nginx_cache_purge_url`):
the next request of those browsers is 401. Only then is its `jti` remembered (a replay is 400)
and 200 answered; when Redis cannot delete them, or an nginx does not confirm the purge, the
answer is 503, so the IdP knows the logout did not happen and may retry it (the index is kept
until the purge succeeded, so the retry finds the same sessions and keys).
The cookie store has no server-side sessions to delete: 501.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..context import Context
from ..errors import StoreUnavailable, TokenError
from ..providers.logout_token import MAX_AGE, LogoutTokenVerifier
from ..providers.metadata import MetadataCache
from ..sessions import LogoutIndex

log = logging.getLogger("authsvc.backchannel")

NO_STORE = {"Cache-Control": "no-store"}  # §2.8


def _invalid(description: str, status: int = 400) -> Response:
    """§2.8: 400 with an OAuth-style error body."""
    body = {"error": "invalid_request", "error_description": description}
    return JSONResponse(body, status, headers=NO_STORE)


def _unavailable() -> Response:
    """§2.8: 200 means the logout succeeded; a 5xx says "not done, try again"."""
    body = {"error": "temporarily_unavailable",
            "error_description": "the sessions could not be ended; retry later"}  # fmt: skip
    return JSONResponse(body, 503, headers={**NO_STORE, "Retry-After": "5"})


class BackchannelLogout:
    """The `POST /oauth2/backchannel_logout` endpoint."""

    def __init__(self, s: Context) -> None:
        self.s = s
        metadata = getattr(s.provider, "metadata", None)
        if not isinstance(metadata, MetadataCache):  # providers without OIDC discovery
            metadata = MetadataCache(s.settings, s.http, s.clock)
        settings = s.settings
        self.verifier = LogoutTokenVerifier(
            settings.oidc_issuer_url, [settings.client_id, *settings.oidc_extra_audiences],
            settings.oidc_leeway, metadata, s.clock,
        )  # fmt: skip

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
            # fail closed, as sign-out does: a cached 2xx would open the door until
            # proxy_cache_valid, and a 200 tells the IdP the logout is done
            if not await self.s.purge.purge_keys(ended.cache_keys):
                log.warning("back-channel logout: nginx's cached decisions could not be purged",
                            extra={"outcome": "error", "reason": "cache_purge_failed"})  # fmt: skip
                return _unavailable()
            await store.forget(ended)
            # the jti is spent only once the logout happened: the IdP's retry of a failed one
            # must not be refused as a replay (ending the same sessions twice is harmless)
            await store.first_use(marker, MAX_AGE + 2 * int(self.s.settings.oidc_leeway) + 60)
        except StoreUnavailable as exc:
            log.error("back-channel logout failed: %s", exc.reason)
            self.s.metrics.record_error(exc)
            return _unavailable()
        log.info("back-channel logout: sid=%s sub=%s, %d session(s) ended, %d cached decision(s) purged",
                 sid or "-", sub or "-", ended.count, len(ended.cache_keys) if self.s.purge.enabled else 0)
        return Response(status_code=200, headers=NO_STORE)
