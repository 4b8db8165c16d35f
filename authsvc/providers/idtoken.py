"""ID token verification (OIDC Core §3.1.3.7) with joserfc. Every failure is a TokenError."""

from __future__ import annotations

import base64
import hmac
import json
import warnings
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from joserfc import jwt
from joserfc.errors import (
    ClaimError,
    ExpiredTokenError,
    JoseError,
    MissingClaimError,
    SecurityWarning,
)
from joserfc.jwt import JWTClaimsRegistry

from ..clock import Clock
from ..config import Settings
from ..errors import TokenError
from .metadata import MetadataCache

Claims = Mapping[str, Any]

#: asymmetric algorithms only: never "none", never HS* (an HMAC "verified" with a public key
#: is forgeable by anyone who has the key, RFC 8725 §2.1 and §3.1)
SUPPORTED_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


def allowed_algs(discovered: tuple[str, ...]) -> frozenset[str]:
    """Discovery's id_token_signing_alg_values_supported ∩ SUPPORTED_ALGS."""
    # OIDC Discovery §3: the list is REQUIRED and MUST include RS256; assume that when absent
    return SUPPORTED_ALGS.intersection(discovered or ("RS256",))


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, not yet trusted (TokenError when malformed)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("ID token malformed: not a compact JWS")
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except ValueError:
        raise TokenError("ID token malformed: header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise TokenError("ID token malformed: header is not a JSON object")
    return header


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a token we verified earlier (e.g. the one sealed in a session)."""
    parts = token.split(".")
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, IndexError):
        return {}
    return payload if isinstance(payload, dict) else {}


class IDTokenVerifier:
    """Checks signature, alg, iss, aud, azp, exp, iat, nbf and nonce of ID tokens."""

    def __init__(self, settings: Settings, metadata: MetadataCache, clock: Clock) -> None:
        self._settings = settings
        self._metadata = metadata
        self._clock = clock
        self._audiences = [settings.client_id, *settings.oidc_extra_audiences]

    async def verify(self, id_token: str, nonce: str | None) -> Claims:
        """The verified claims; `nonce=None` skips the nonce (refresh, OIDC Core §12.2)."""
        header = unverified_header(id_token)
        alg = header.get("alg")
        meta = await self._metadata.metadata()
        # §3.1.3.7 item 7: alg must be what we expect; checked before touching any key
        if not isinstance(alg, str) or alg not in allowed_algs(
            meta.id_token_signing_alg_values_supported
        ):
            raise TokenError(f"ID token alg {alg!r} is not allowed")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenError("ID token kid is not a string")
        key = await self._metadata.signing_key(kid, alg)
        if key is None:
            raise TokenError(f"ID token kid {kid!r} is not in the IdP's JWKS")
        try:
            with warnings.catch_warnings():
                # joserfc flags "EdDSA" as superseded by RFC 9864; IdPs still publish it
                warnings.simplefilter("ignore", SecurityWarning)
                token = jwt.decode(id_token, key, algorithms=[alg])
        except (JoseError, ValueError, TypeError, KeyError):
            raise TokenError("ID token signature is invalid") from None
        claims = dict(token.claims)
        self._check_claims(claims)
        if nonce is not None:
            got = claims.get("nonce")
            # §3.1.3.7 item 11; constant time, so the nonce cannot be guessed byte by byte
            if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
                raise TokenError("ID token nonce does not match the login attempt")
        return MappingProxyType(claims)

    def _check_claims(self, claims: dict[str, Any]) -> None:
        now = int(self._clock())
        registry = JWTClaimsRegistry(
            now=now,
            leeway=int(self._settings.oidc_leeway),
            iss={"essential": True, "value": self._settings.oidc_issuer_url},
            sub={"essential": True},
            aud={"essential": True, "values": self._audiences},
            exp={"essential": True},
            iat={"essential": True},
        )
        try:
            registry.validate(claims)
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
