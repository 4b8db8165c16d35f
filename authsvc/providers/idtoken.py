"""ID token verification (OIDC Core §3.1.3.7) with joserfc. Every failure is a TokenError."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from joserfc.errors import ClaimError, ExpiredTokenError, JoseError, MissingClaimError

from ..clock import Clock
from ..config import Settings
from ..errors import TokenError
from .jws import ID_TOKEN_TYPES, JWSVerifier, check_registered_claims, refuse_events, typed
from .metadata import MetadataCache

Claims = Mapping[str, Any]


class IDTokenVerifier:
    """Checks signature, alg, typ, iss, aud, azp, exp, iat, nbf and nonce of ID tokens."""

    #: the JOSE typ values taken: an at+jwt access token or a logout token is no ID token
    token_types = ID_TOKEN_TYPES

    def __init__(self, settings: Settings, metadata: MetadataCache, clock: Clock) -> None:
        self._settings = settings
        self._metadata = metadata
        self._jws = JWSVerifier(metadata, "ID token")
        self._typed = typed("ID token", self.token_types)
        self._clock = clock
        self._audiences = [settings.client_id, *settings.oidc_extra_audiences]
        #: claims that may name us as audience (oidc_audience_claims; `aud` unless told)
        self._audience_claims = tuple(settings.oidc_audience_claims) or ("aud",)

    async def verify(self, id_token: str, nonce: str | None) -> Claims:
        """The verified claims; `nonce=None` skips the nonce (refresh, OIDC Core §12.2)."""
        claims = await self._jws.claims(id_token, check_header=self._typed)
        # a logout token has no nonce: on a refresh (no nonce checked) it would pass otherwise
        refuse_events(claims, "ID token")
        if self._settings.insecure_oidc_skip_issuer_verification:
            # the issuer the discovery document names (metadata.py); it must still match
            issuer = (await self._metadata.metadata()).issuer
            self._settings = self._settings.model_copy(update={"oidc_issuer_url": issuer})
        self._check_claims(self._audience_view(claims))
        if nonce is not None:
            got = claims.get("nonce")
            # §3.1.3.7 item 11; constant time, so the nonce cannot be guessed byte by byte
            if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
                raise TokenError("ID token nonce does not match the login attempt")
        return MappingProxyType(claims)

    def _audience_view(self, claims: dict[str, Any]) -> dict[str, Any]:
        """The claims with `aud` taken from the first audience claim that names us (oauth2-proxy's
        oidc_audience_claims, e.g. azp for IdPs that put the resource in aud)."""
        if self._audience_claims == ("aud",):
            return claims
        for name in self._audience_claims:
            value = claims.get(name)
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, str) and v in self._audiences for v in values):
                return {**claims, "aud": value}
        return {**claims, "aud": claims.get("aud", [])}

    def _check_claims(self, claims: dict[str, Any]) -> None:
        try:
            check_registered_claims(
                claims,
                now=int(self._clock()),
                leeway=self._settings.oidc_leeway,
                issuer=self._settings.oidc_issuer_url,
                audiences=self._audiences,
                required=("sub", "exp", "iat"),
            )
        except ExpiredTokenError:
            raise TokenError("ID token exp: expired") from None
        except MissingClaimError as exc:
            raise TokenError(f"ID token lacks required claim(s) {exc.claim}") from None
        except ClaimError as exc:
            raise TokenError(f"ID token {exc.claim} check failed: {exc.description}") from None
        except JoseError:
            raise TokenError("ID token claims are invalid") from None
        aud = claims["aud"]
        # §3.1.3.7 items 4-5: with several audiences azp must name us; if present it must be us
        azp = claims.get("azp")
        several = isinstance(aud, list) and len(aud) > 1
        if (several or azp is not None) and azp != self._settings.client_id:
            raise TokenError(f"ID token azp {azp!r} is not our client_id")
