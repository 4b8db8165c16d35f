"""Signed JWTs from an OpenID issuer: the checks every token we accept goes through.

ID tokens (idtoken.py), API bearer tokens (bearer.py) and back-channel logout tokens
(logout_token.py) are all compact JWS signed by a key of the issuer's JWKS. `JWSVerifier` checks
alg and signature, `check_registered_claims` iss, aud and the times; each caller then adds its own
checks (nonce, azp, events) and names its token in every TokenError.

Signed by the same keys, one kind must never pass for another (RFC 8725 §3.11, cross-JWT
confusion): each caller names the JOSE `typ` values it takes (`typed`), and a token carrying
the `events` claim of a security event (a logout token, RFC 8417) is only ever a logout token.
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwt import ClaimsOption, JWTClaimsRegistry

from ..errors import TokenError
from ..jsonin import loads
from .metadata import MetadataCache

#: asymmetric algorithms only: never "none", never HS* (an HMAC "verified" with a public key
#: is forgeable by anyone who has the key, RFC 8725 §2.1 and §3.1)
SUPPORTED_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

HeaderCheck = Callable[[Mapping[str, Any]], None]


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
        header = loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except ValueError:
        raise TokenError("ID token malformed: header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise TokenError("ID token malformed: header is not a JSON object")
    return header


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a token we verified earlier (e.g. the one sealed in a session)."""
    parts = token.split(".")
    try:
        payload = loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, IndexError):
        return {}
    return payload if isinstance(payload, dict) else {}


def _any_header(header: Mapping[str, Any]) -> None:
    return None


class JWSVerifier:
    """Alg and signature of one kind of token (`name`, as errors call it) against one JWKS."""

    def __init__(self, metadata: MetadataCache, name: str, jwks: str = "the IdP's JWKS") -> None:
        self._metadata = metadata
        self._name = name
        self._jwks = jwks

    async def claims(self, token: str, check_header: HeaderCheck = _any_header) -> dict[str, Any]:
        """The claims of `token` once alg and signature hold (iss, aud and times not yet checked).

        `check_header` may refuse the header after the alg check, before any key is fetched.
        """
        header = unverified_header(token)
        alg = header.get("alg")
        meta = await self._metadata.metadata()
        # the alg is checked before any key is touched: this is what stops alg=none and
        # HS256-with-the-public-key forgeries (RFC 8725 §3.1, OIDC Core §3.1.3.7 item 7)
        if not isinstance(alg, str) or alg not in allowed_algs(meta.id_token_signing_alg_values_supported):
            raise TokenError(f"{self._name} alg {alg!r} is not allowed")
        check_header(header)
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenError(f"{self._name} kid is not a string")
        # one key, or each of oidc_public_key_files; one rate-limited refetch on a new kid
        keys = await self._metadata.signing_keys(kid, alg)
        if not keys:
            raise TokenError(f"{self._name} kid {kid!r} is not in {self._jwks}")
        for key in keys:
            try:
                with warnings.catch_warnings():
                    # joserfc flags "EdDSA" as superseded by RFC 9864; IdPs still publish it
                    warnings.simplefilter("ignore", SecurityWarning)
                    decoded = jwt.decode(token, key, algorithms=[alg])
            except (JoseError, ValueError, TypeError, KeyError):
                continue
            except RecursionError:  # joserfc's own json.loads, of a payload the issuer did sign
                raise TokenError(f"{self._name} payload is nested too deeply") from None
            return dict(decoded.claims)
        raise TokenError(f"{self._name} signature is invalid")


def check_registered_claims(
    claims: Mapping[str, Any],
    *,
    now: int,
    leeway: float,
    issuer: str,
    audiences: list[str],
    required: Iterable[str],
) -> None:
    """iss is `issuer`, aud names one of `audiences`, the `required` claims are present, and exp,
    nbf and iat (when present) hold at `now` within `leeway` (RFC 7519 §4.1).

    Raises joserfc's JoseError family (ExpiredTokenError, MissingClaimError, ...), so that each
    caller words the TokenError for its own token.
    """
    options: dict[str, ClaimsOption] = {name: {"essential": True} for name in required}
    registry = JWTClaimsRegistry(
        now=now,
        leeway=int(leeway),
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "values": audiences},
        **options,
    )
    registry.validate(dict(claims))


#: what each kind of token may say it is (JOSE `typ`, as `token_type` normalises it); "" = absent
ID_TOKEN_TYPES = frozenset({"", "jwt"})
#: RFC 9068 §2.1: JWT access tokens are typed at+jwt
ACCESS_TOKEN_TYPES = frozenset({"at+jwt"})
#: OIDC Back-Channel Logout 1.0 §2.4 recommends logout+jwt; untyped or JWT ones (Keycloak
#: before 25) are told apart by `events` and the absence of `nonce` (§4.1)
LOGOUT_TOKEN_TYPES = frozenset({"", "jwt", "logout+jwt"})


def token_type(header: Mapping[str, Any]) -> str:
    """The header's `typ`, lower-cased and without "application/" (RFC 7515 §4.1.9: a media
    type, compared case-insensitively, whose "application/" prefix may be left out); "" when
    absent. TokenError for a typ that is not a string."""
    typ = header.get("typ", "")
    if not isinstance(typ, str):
        raise TokenError("token typ is not a string")
    return typ.lower().removeprefix("application/")


def typed(name: str, accepted: frozenset[str]) -> HeaderCheck:
    """A header check refusing every `typ` but `accepted` (it says the token is something else)."""

    allowed = ", ".join(t or "none" for t in sorted(accepted))

    def check(header: Mapping[str, Any]) -> None:
        if token_type(header) not in accepted:
            raise TokenError(f"{name} typ {str(header.get('typ'))[:40]!r} is not taken here "
                             f"(only {allowed}): the token is meant for something else")

    return check


def refuse_events(claims: Mapping[str, Any], name: str) -> None:
    """A token with `events` is a security event token (a logout token), never a `name`."""
    if "events" in claims:
        raise TokenError(f"{name} carries an events claim: a logout token is not a {name}")
