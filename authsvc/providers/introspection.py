"""Opaque bearer tokens, checked at the provider's RFC 7662 introspection endpoint.

The endpoint is `oidc_introspection_url`, else the discovery document's
`introspection_endpoint`; we authenticate with our own client credentials (RFC 7662 §2.1),
as at the token endpoint (a client assertion with jwt_key, its aud this endpoint). An answer
is trusted only as `"active": true` (§2.2: anything else, or no `active` at all, is
inactive), not yet expired, from our issuer when it names one, typed
as an access token when typed, and meant for us when it names audiences.

Results are cached by the token's SHA-256 (never the token itself): an active one until
`min(exp, now + introspection_cache_ttl)`, never longer, so a revoked token is refused at the
latest one cache lifetime later (at once with a TTL of 0); an inactive one for
NEGATIVE_TTL, so a client retrying a dead token does not turn into one IdP call per request.
An IdP that cannot answer raises ProviderUnavailable (the check answers 503, never 2xx) and
is not cached. Bounded: a spray of random tokens only ever fills CACHE_SIZE entries.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections import OrderedDict
from typing import Any
from urllib.parse import quote

import httpx

from ..clock import Clock
from ..config import Settings
from ..errors import ProviderRefused, ProviderUnavailable, TokenError
from . import http as idp
from .client_auth import ClientAssertions
from .metadata import MetadataCache

log = logging.getLogger("authsvc.bearer")

CACHE_SIZE = 4096
#: seconds an inactive answer is remembered (RFC 7662 §4: a short cache limits the IdP load)
NEGATIVE_TTL = 5.0
#: `token_type` values of an access token (RFC 7662 §2.2; oidc-provider sends Bearer or DPoP)
ACCESS_TYPES = frozenset({"bearer", "dpop", "access_token", "n_a"})


def token_digest(token: str) -> bytes:
    """The cache key of a token: its SHA-256, so the cache never holds a usable token."""
    return hashlib.sha256(token.encode("utf-8", "replace")).digest()


class Introspector:
    """RFC 7662 for the provider's own issuer; built once from settings."""

    def __init__(
        self, settings: Settings, http: httpx.AsyncClient, clock: Clock, metadata: MetadataCache
    ) -> None:
        self._settings = settings
        self._http = http
        self._clock = clock
        self._metadata = metadata
        self._ttl = settings.introspection_cache_ttl
        self._negative = min(NEGATIVE_TTL, self._ttl)
        self._audiences = {settings.client_id, *settings.oidc_extra_audiences}
        self._assertions = ClientAssertions.from_settings(settings, clock)
        #: digest -> (claims, or None for inactive; unix time the entry ends)
        self._cache: OrderedDict[bytes, tuple[dict[str, Any] | None, float]] = OrderedDict()

    async def claims(self, token: str) -> tuple[dict[str, Any], float]:
        """The active token's claims and until when they may be reused; TokenError when the
        token is not active (or not for us), ProviderUnavailable when the IdP cannot say."""
        now = self._clock()
        digest = token_digest(token)
        hit = self._cache.get(digest)
        if hit is not None and now < hit[1]:
            if hit[0] is None:
                raise TokenError("bearer token inactive (introspection, cached)")
            return hit[0], hit[1]
        try:
            claims = self._judge(await self._introspect(token), now)
        except ProviderUnavailable:
            raise
        except TokenError:
            self._remember(digest, None, now + self._negative)
            raise
        exp = claims.get("exp")
        until = now + self._ttl
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            until = min(until, float(exp))
        self._remember(digest, claims, until)
        return claims, until

    def _remember(self, digest: bytes, claims: dict[str, Any] | None, until: float) -> None:
        if until <= self._clock():
            return
        self._cache[digest] = (claims, until)
        self._cache.move_to_end(digest)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    async def _introspect(self, token: str) -> dict[str, Any]:
        s = self._settings
        url = s.oidc_introspection_url
        methods: tuple[str, ...] = ()
        if not url:
            meta = await self._metadata.metadata()
            url = meta.introspection_endpoint
            methods = meta.introspection_endpoint_auth_methods_supported
        if not url:
            raise ProviderUnavailable("introspection: the provider publishes no "
                                      "introspection_endpoint (set oidc_introspection_url)")
        form = {"token": token, "token_type_hint": "access_token"}
        headers = {"Accept": "application/json"}
        secret = s.client_secret.get_secret_value()
        if self._assertions is not None:
            form |= self._assertions.form(url)  # private_key_jwt, as at the token endpoint
        elif methods and "client_secret_basic" not in methods and "client_secret_post" in methods:
            form |= {"client_id": s.client_id, "client_secret": secret}
        else:
            # RFC 6749 §2.3.1: id and secret are form-urlencoded before base64
            pair = f"{quote(s.client_id, safe='')}:{quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        try:
            # our own credentials are at stake, not the caller's: any refusal is ours to fix
            response = await idp.call(
                self._http, "POST", url, what="introspection", service=True, data=form,
                headers=headers,
            )  # fmt: skip
        except ProviderRefused as exc:  # pragma: no cover - service=True never refuses
            raise ProviderUnavailable(exc.reason) from None
        return idp.json_object(response, "introspection", service=True)

    def _judge(self, body: dict[str, Any], now: float) -> dict[str, Any]:
        """The claims of an answer that says the token is active and ours; else TokenError."""
        if body.get("active") is not True:
            raise TokenError("bearer token inactive (introspection)")
        exp = body.get("exp")
        if exp is not None and (not isinstance(exp, int | float) or isinstance(exp, bool)
                                or exp <= now - self._settings.oidc_leeway):
            raise TokenError("bearer token expired (introspection)")
        iss = body.get("iss")
        if iss is not None and iss != self._settings.oidc_issuer_url:
            raise TokenError(f"introspected token issuer {str(iss)[:80]!r} is not ours")
        kind = body.get("token_type")
        if kind is not None and (not isinstance(kind, str) or kind.lower() not in ACCESS_TYPES):
            raise TokenError(f"introspected token is a {str(kind)[:40]!r}, not an access token")
        aud = body.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else None
        if aud is not None and (auds is None or self._audiences.isdisjoint(
                a for a in auds if isinstance(a, str))):
            raise TokenError("introspected token is not for an accepted audience")
        return body
