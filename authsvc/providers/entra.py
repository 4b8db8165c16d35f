"""Microsoft Entra ID (formerly Azure AD): OpenID Connect on the v2.0 endpoints.

Entra differs from a plain OpenID Provider in three ways, each handled here:

- Multi-tenant authorities (`common`, `organizations`) publish the issuer as a template,
  `https://login.microsoftonline.com/{tenantid}/v2.0`: each ID token's `iss` must be that
  template filled with the token's own `tid`, and the `tid` must be in entra_id_allowed_tenants.
- A tenant named by domain publishes its GUID issuer, not the URL it was asked at.
- Groups overage: with more groups than fit in a token (200), the ID token carries
  `_claim_names: {"groups": "src1"}` instead of `groups`; the groups then come from Microsoft
  Graph (the `_claim_sources` endpoint itself points at the retired Azure AD Graph; not used).
  With entra_id_graph_group_field other than `id`, Graph names the groups at every login.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx

from ..clock import Clock
from ..config import Settings
from ..config.provider_specific import ENTRA_AUTHORITY, ENTRA_MULTI_TENANT, GUID
from ..errors import ProviderUnavailable, TokenError
from ..models import Identity
from .claims import identity_from_claims
from .idtoken import Claims
from .issuers import IssuerChoosingVerifier
from .metadata import MetadataCache, ProviderMetadata
from .msgraph import MicrosoftGraph
from .oidc import OIDCProvider

AUTHORITY = ENTRA_AUTHORITY
TEMPLATE = "{tenantid}"
_ISSUER = re.compile(re.escape(AUTHORITY) + r"/([^/]+)/v2\.0")
#: openid/email/profile for the ID token, offline_access for refresh, User.Read for Graph
DEFAULT_SCOPE = "openid email profile offline_access User.Read"


class EntraMetadata(MetadataCache):
    """Entra's discovery: the issuer names a tenant (or the {tenantid} template), not our URL."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient, clock: Clock, tenant: str):
        super().__init__(settings, http, clock)
        self._tenant = tenant

    async def _fetch_metadata(self) -> ProviderMetadata:
        url = f"{self._issuer}/.well-known/openid-configuration"
        data = await self._get_json("OIDC discovery", url)
        issuer = data.get("issuer") if isinstance(data, dict) else None
        match = _ISSUER.fullmatch(issuer) if isinstance(issuer, str) else None
        tenant = match.group(1) if match else ""
        if self._tenant.lower() in ENTRA_MULTI_TENANT:
            fits = tenant == TEMPLATE
        elif GUID.fullmatch(self._tenant):
            fits = tenant.lower() == self._tenant.lower()
        else:  # a tenant named by domain publishes its GUID, which we do not know
            fits = GUID.fullmatch(tenant) is not None
        if not fits:
            raise ProviderUnavailable(f"OIDC discovery {url}: issuer {issuer!r} does not fit "
                                      f"entra_id_tenant {self._tenant!r}")
        try:
            return ProviderMetadata.from_json(data, str(issuer))
        except ValueError as exc:
            raise ProviderUnavailable(f"OIDC discovery {url}: {exc}") from None


def _tenant_issuer(claims: Mapping[str, Any], meta: ProviderMetadata) -> str:
    """The issuer this token must have: the template filled with its own tid."""
    tid = claims.get("tid")
    if not isinstance(tid, str) or not GUID.fullmatch(tid):
        raise TokenError("ID token has no tenant id (tid)")
    return meta.issuer.replace(TEMPLATE, tid)


class EntraIDProvider(OIDCProvider):
    """Sign in with Microsoft Entra ID (work/school accounts; personal ones via `common`)."""

    name = "Microsoft"

    def __init__(self, settings: Settings, http: httpx.AsyncClient, clock: Clock) -> None:
        tenant = settings.entra_id_tenant
        update: dict[str, Any] = {"oidc_issuer_url": f"{AUTHORITY}/{tenant}/v2.0"}
        if "scope" not in settings.model_fields_set:
            update["scope"] = DEFAULT_SCOPE
        super().__init__(settings.model_copy(update=update), http, clock)
        self.metadata = EntraMetadata(self._settings, http, clock, tenant)
        self.verifier = IssuerChoosingVerifier(self._settings, self.metadata, clock, _tenant_issuer)
        self.graph = MicrosoftGraph(http)
        self._tenants = frozenset(t.lower() for t in settings.entra_id_allowed_tenants)

    def _our_issuer(self, iss: str, meta: ProviderMetadata) -> bool:
        """A multi-tenant authority's issuer is a template: `iss` must fill it with an allowed
        tenant's id (the ID token's own iss and tid are checked again after the exchange)."""
        if TEMPLATE not in meta.issuer:
            return iss == meta.issuer
        match = _ISSUER.fullmatch(iss)
        if match is None or not GUID.fullmatch(match.group(1)):
            return False
        tid = match.group(1).lower()
        return iss == meta.issuer.replace(TEMPLATE, match.group(1)) and (
            not self._tenants or "*" in self._tenants or tid in self._tenants
        )

    async def _identity(self, claims: Claims, access_token: str) -> Identity:
        """Tenant allow-list, then the identity; groups from Graph on overage."""
        tid = str(claims.get("tid", ""))
        if self._tenants and "*" not in self._tenants and tid.lower() not in self._tenants:
            raise TokenError(f"Entra ID tenant {tid} is not in entra_id_allowed_tenants")
        adjusted = dict(claims)
        # xms_edov: "email domain owner verified"; false means anyone could have typed it in
        if claims.get("xms_edov") is False:
            adjusted["email_verified"] = False
        # no userinfo call: Entra's userinfo holds nothing the ID token lacks
        identity = identity_from_claims(adjusted, self._settings, self._settings.kept_claims)
        field = self._settings.entra_id_graph_group_field
        if field != "id":
            # oauth2-proxy's azure_graph_group_field: Graph is asked at every login and its
            # names join the token's ids (providers/azure.go, EnrichSession, at 14af2951)
            if not access_token:
                raise TokenError(f"no access token to ask Microsoft Graph for group {field}s")
            named = await self.graph.group_names(access_token, field)
            identity = replace(identity, groups=tuple(dict.fromkeys((*identity.groups, *named))))
        elif _groups_overage(claims, self._settings.oidc_groups_claim):
            if not access_token:
                raise TokenError("groups overage, but no access token to ask Microsoft Graph")
            identity = replace(identity, groups=await self.graph.member_objects(access_token))
        return identity


def _groups_overage(claims: Claims, groups_claim: str) -> bool:
    """Whether the token says "too many groups to list, ask Graph" (JWT overage or hasgroups)."""
    names = claims.get("_claim_names")
    if isinstance(names, Mapping) and groups_claim in names and groups_claim not in claims:
        return True
    return claims.get("hasgroups") is True
