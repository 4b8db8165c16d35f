"""Keycloak: OpenID Connect at a realm, with realm and client roles as groups.

Roles become groups `role:<name>` (realm roles) and `role:<client>:<name>` (client roles), so
`allowed_groups` can require them (oauth2-proxy's keycloak-oidc names). Keycloak puts
`realm_access` / `resource_access` in the access token by default and in the ID token only when
the roles mappers have "Add to ID token" on; the ID token wins, else the access token is read,
after the same signature checks as an ID token, plus iss, exp, azp and sub.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwt import JWTClaimsRegistry

from ..clock import Clock
from ..config import Settings
from ..errors import TokenError
from ..models import Identity
from .idtoken import Claims, IDTokenVerifier
from .jws import ACCESS_TOKEN_TYPES, ID_TOKEN_TYPES
from .oidc import OIDCProvider

_ROLE_CLAIMS = ("realm_access", "resource_access")


class AccessTokenVerifier(IDTokenVerifier):
    """Keycloak access tokens: an ID token's signature checks; issued by the realm to us."""

    #: Keycloak types its access tokens JWT; at+jwt (RFC 9068) is an access token too
    token_types = ID_TOKEN_TYPES | ACCESS_TOKEN_TYPES

    def _check_claims(self, claims: dict[str, Any]) -> None:
        registry = JWTClaimsRegistry(
            now=int(self._clock()),
            leeway=int(self._settings.oidc_leeway),
            iss={"essential": True, "value": self._settings.oidc_issuer_url},
            sub={"essential": True},
            exp={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise TokenError("access token expired") from None
        except JoseError as exc:
            raise TokenError(f"access token {getattr(exc, 'claim', 'claims')} check failed") from None
        # its audience is the resource (often "account"); azp names the client it was issued to
        if claims.get("azp") != self._settings.client_id:
            raise TokenError(f"access token azp {claims.get('azp')!r} is not our client_id")


def keycloak_roles(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """`role:<realm role>` and `role:<client>:<client role>` from Keycloak's role claims."""
    out: list[str] = []
    realm = claims.get("realm_access")
    if isinstance(realm, Mapping):
        out += [f"role:{r}" for r in _names(realm.get("roles"))]
    clients = claims.get("resource_access")
    if isinstance(clients, Mapping):
        for client, access in clients.items():
            if isinstance(access, Mapping):
                out += [f"role:{client}:{r}" for r in _names(access.get("roles"))]
    return tuple(out)


def _names(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


class KeycloakProvider(OIDCProvider):
    """Sign in with a Keycloak realm (`oidc_issuer_url` = https://<host>/realms/<realm>)."""

    name = "Keycloak"

    def __init__(self, settings: Settings, http: httpx.AsyncClient, clock: Clock) -> None:
        super().__init__(settings, http, clock)
        self.access_verifier = AccessTokenVerifier(self._settings, self.metadata, clock)

    async def _identity(self, claims: Claims, access_token: str) -> Identity:
        """The OIDC identity, with the user's roles added to its groups."""
        identity = await super()._identity(claims, access_token)
        source: Mapping[str, Any] = claims
        if not any(c in claims for c in _ROLE_CLAIMS) and access_token.count(".") == 2:
            source = await self._access_claims(access_token, claims)
        roles = [r for r in keycloak_roles(source) if r not in identity.groups]
        return replace(identity, groups=(*identity.groups, *roles))

    async def _access_claims(self, access_token: str, id_claims: Claims) -> Claims:
        try:
            claims = await self.access_verifier.verify(access_token, nonce=None)
        except TokenError as exc:
            # the verifier speaks of ID tokens; this one is the access token
            reason = exc.reason.removeprefix("ID token ")
            raise TokenError(f"Keycloak access token refused: {reason}") from None
        if claims.get("sub") != id_claims.get("sub"):
            raise TokenError("Keycloak access token names another subject than the ID token")
        return claims
