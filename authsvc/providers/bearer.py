"""`Authorization: Bearer <JWT>` for API clients (`skip_jwt_bearer_tokens`, `extra_jwt_issuers`).

A token is accepted only from a configured issuer: the provider's own (`oidc_issuer_url`, audience
`client_id` or `oidc_extra_audiences`) or one `extra_jwt_issuers` entry (`issuer=audience`). The
unverified `iss` only picks the verifier; then signature (a key from that issuer's JWKS, one
rate-limited refetch on an unknown kid), alg (asymmetric only: never `none`, never HS256 keyed
with a public key, RFC 8725 §2.1), iss, aud, exp and nbf are checked like an ID token's. Claims
map to an Identity exactly as a browser login's do, so the same rules and headers apply.

Only access tokens and ID tokens are bearer tokens (RFC 8725 §3.11): the JOSE `typ` must be
at+jwt (RFC 9068), or JWT / none while `jwt_bearer_id_tokens` is on (oauth2-proxy's behaviour:
its verifier is the ID token one); a logout token (`logout+jwt`, or any token with `events`) is
refused, and so is an `azp` naming a client other than the accepted audiences (OIDC Core
§3.1.3.7: the party the token was issued to).

A token without a user is a machine identity (docs/api-clients.md): no e-mail claim, and no
`sub` or a `sub` equal to the client it was issued to (`client_id`, RFC 9068 §2.2, else `azp`),
as a client-credentials grant issues (RFC 9068 §2.2: "sub ... SHOULD correspond to an identifier
the authorization server uses to indicate the client application"). It is named by its client
id, and only `allowed_clients` admits it (check/rules.py). Every identity carries the token's
scopes (`scope`, space-separated, RFC 9068 §2.2.3; or `scp`) and audiences for route rules.

Opaque tokens (anything that is not a compact JWS) go to RFC 7662 introspection when
`introspect_bearer_tokens` is on (providers/introspection.py); its answer maps to an Identity
the same way.

Verified identities are cached by the token's SHA-256 (bounded, never past the token's `exp`), so
a busy API client costs one signature check per `CACHE_TTL`, not one per request.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx
from joserfc.errors import ExpiredTokenError, JoseError

from ..clock import Clock
from ..config import Settings
from ..errors import TokenError
from ..memo import BoundedMemo
from ..models import Identity, Session, Tokens
from .claims import claim, identity_from_claims, kept_claims
from .dpop import JKT, token_jkt
from .introspection import Introspector
from .jws import (
    ACCESS_TOKEN_TYPES,
    ID_TOKEN_TYPES,
    JWSVerifier,
    check_registered_claims,
    refuse_events,
    typed,
    unverified_claims,
)
from .metadata import MetadataCache

log = logging.getLogger("authsvc.bearer")

#: longest token considered (a JWT with a large groups claim is a few KB)
MAX_TOKEN = 16384
CACHE_SIZE = 4096
#: a cached verification is reused at most this long (keys may be revoked)
CACHE_TTL = 60.0


def access_token(authorization: str | None) -> tuple[str, str] | None:
    """("bearer" | "dpop", token) of `Authorization: Bearer|DPoP <token>` (RFC 6750 §2.1,
    RFC 9449 §7.1), else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "dpop") or not token.strip():
        return None
    return scheme, token.strip()


class IssuerVerifier:
    """Verifies tokens of one issuer for a set of audiences."""

    def __init__(
        self,
        issuer: str,
        audiences: list[str],
        metadata: MetadataCache,
        leeway: float,
        token_types: frozenset[str] = ACCESS_TOKEN_TYPES | ID_TOKEN_TYPES,
    ):
        self.issuer = issuer
        self._audiences = audiences
        self._jws = JWSVerifier(metadata, "bearer token", jwks="the issuer's JWKS")
        self._typed = typed("bearer token", token_types)
        self._leeway = leeway

    async def verify(self, token: str, now: int) -> dict[str, Any]:
        """The verified claims; TokenError on any failure."""
        claims = await self._jws.claims(token, check_header=self._typed)
        refuse_events(claims, "bearer token")
        try:
            check_registered_claims(
                claims,
                now=now,
                leeway=self._leeway,
                issuer=self.issuer,
                audiences=self._audiences,
                required=("exp",),
            )
        except ExpiredTokenError:
            raise TokenError("bearer token expired") from None
        except JoseError as exc:
            raise TokenError(f"bearer token claims refused: {exc}") from None
        azp = claims.get("azp")
        if azp is not None and azp not in self._audiences:
            raise TokenError(f"bearer token azp {str(azp)[:80]!r} is not an accepted audience")
        return claims


class BearerAuth:
    """Bearer tokens -> Identity, for every configured issuer; built once from settings."""

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        clock: Clock,
        metadata: Mapping[str, MetadataCache] | None = None,
    ) -> None:
        """`metadata` may hand in existing caches by issuer (tests; the provider's own)."""
        self.enabled = settings.skip_jwt_bearer_tokens
        self._settings = settings
        self._clock = clock
        audiences: dict[str, list[str]] = {}
        if settings.oidc_issuer_url:
            audiences[settings.oidc_issuer_url] = [
                settings.client_id, *settings.oidc_extra_audiences
            ]
        for entry in settings.extra_jwt_issuers:
            issuer, _, audience = entry.partition("=")
            audiences.setdefault(issuer.strip(), []).append(audience.strip())
        given = metadata or {}
        types = ACCESS_TOKEN_TYPES | (ID_TOKEN_TYPES if settings.jwt_bearer_id_tokens else frozenset())
        caches = {
            issuer: given.get(issuer) or MetadataCache(settings, http, clock, issuer=issuer)
            for issuer in audiences
        }
        self._verifiers = {
            issuer: IssuerVerifier(issuer, auds, caches[issuer], settings.oidc_leeway, types)
            for issuer, auds in audiences.items()
        }
        #: `_token_key(token)` -> (its session, valid until): the same Session object per token
        self._cache: BoundedMemo[tuple[str, int], tuple[Session, float]] = BoundedMemo(CACHE_SIZE)
        own = settings.oidc_issuer_url
        #: RFC 7662 for opaque tokens of the provider's own issuer (providers/introspection.py)
        self._introspector = (
            Introspector(settings, http, clock, caches[own])
            if settings.introspect_bearer_tokens and own in caches else None
        )
        if self.enabled and not self._verifiers:
            log.warning("skip_jwt_bearer_tokens is on, but no issuer is configured: "
                        "every bearer token will be refused (set extra_jwt_issuers)")

    def cached(self, token: str) -> Session | None:
        """The session of a token verified before and still cached, else None (`session` must
        be awaited): the check's sync path (web/auth.py) asks this first."""
        hit = self._cache.data.get(_token_key(token))
        # the key only finds the entry: the session's own token (the one verified) confirms it
        if hit is not None and self._clock() < hit[1] and hit[0].tokens.access_token == token:
            return hit[0]
        return None

    async def session(self, token: str) -> Session:
        """The session a valid token stands for; TokenError when it proves nothing.

        oauth2-proxy's shape: the token is both the access and the ID token. The same Session
        object is returned while cached, so its encoded identity headers are remembered too.
        """
        hit = self.cached(token)
        if hit is not None:
            return hit
        now = self._clock()
        if len(token) > MAX_TOKEN:
            raise TokenError("bearer token too long")
        if self._introspector is not None and token.count(".") != 2:
            # not a compact JWS (RFC 7515 §7.1): an opaque token only its issuer can judge
            claims, until = await self._introspector.claims(token)
            session = Session(token_identity(claims, self._settings), Tokens(access_token=token))
        else:
            iss = unverified_claims(token).get("iss")
            verifier = self._verifiers.get(iss) if isinstance(iss, str) else None
            if verifier is None:
                # never fall back to "try every key we know": an unconfigured issuer is refused
                raise TokenError(f"bearer token issuer {str(iss)[:80]!r} is not configured")
            claims = await verifier.verify(token, int(now))
            identity = token_identity(claims, self._settings)
            session = Session(identity, Tokens(access_token=token, id_token=token))
            exp = claims["exp"]
            until = min(float(exp), now + CACHE_TTL) if isinstance(exp, int | float) else now
        self._cache.put(_token_key(token), (session, until))
        return session


def _token_key(token: str) -> tuple[str, int]:
    """Where a verified token's session is remembered: its last 48 characters (a JWS signature,
    or the random tail of an opaque token) and its length. Looking up by the token itself or its
    SHA-256 hashed all of it per check (~0.7 us for a JWT); an entry found is confirmed against
    the token it was verified for, so tokens sharing a key only replace each other's entry."""
    return token[-48:], len(token)


def _strs(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str) and v)
    return ()


def token_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """`scope` (a space-separated string, RFC 9068 §2.2.3 / RFC 7662 §2.2), else `scp` (a list
    or a string: Entra ID, Okta)."""
    value = claims.get("scope")
    if value is None:
        value = claims.get("scp")
    if isinstance(value, str):
        return frozenset(value.split())
    return frozenset(_strs(value))


def token_identity(claims: Mapping[str, Any], settings: Settings) -> Identity:
    """The Identity of verified token claims: a machine, or a user as at login."""
    client = claims.get("client_id")
    if not isinstance(client, str) or not client:
        azp = claims.get("azp")
        client = azp if isinstance(azp, str) else ""
    sub = claims.get("sub")
    scopes = token_scopes(claims)
    audiences = _strs(claims.get("aud"))
    # RFC 9449 §6: the key the token is bound to, checked against each request's proof
    jkt = token_jkt(claims)
    extra = ((JKT, jkt),) if jkt else ()
    # a machine's claims too (a tenant header for a service is as useful as for a person)
    kept = kept_claims(claims, settings.kept_claims)
    if (client and claim(claims, settings.oidc_email_claim) in (None, "")
            and (sub is None or sub == client)):
        return Identity(user=client, machine=True, client_id=client, subject=client,
                        scopes=scopes, audiences=audiences, extra=kept + extra)
    identity = identity_from_claims(claims, settings, settings.kept_claims)
    return replace(identity, client_id=client, scopes=scopes, audiences=audiences,
                   extra=identity.extra + extra)
