"""Google: OpenID Connect at accounts.google.com, plus the Workspace hosted domain (`hd`) check.

`hd` in the authorization request only picks which account Google offers; anyone can edit the
URL. What counts is the `hd` claim of the *signed ID token*, checked here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx

from ..clock import Clock
from ..config import Settings
from ..config.provider_specific import GOOGLE_ISSUER
from ..errors import TokenError
from ..models import Identity, LoginState
from .google_groups import Directory
from .idtoken import Claims
from .issuers import IssuerChoosingVerifier
from .metadata import ProviderMetadata
from .oidc import OIDCProvider

ISSUER = GOOGLE_ISSUER


def _google_issuer(claims: Mapping[str, Any], meta: ProviderMetadata) -> str:
    # developers.google.com/identity/openid-connect: iss is one of these two spellings
    return "accounts.google.com" if claims.get("iss") == "accounts.google.com" else meta.issuer


class GoogleProvider(OIDCProvider):
    """Sign in with Google; `google_hosted_domains` restricts to Workspace domains."""

    name = "Google"

    def __init__(self, settings: Settings, http: httpx.AsyncClient, clock: Clock) -> None:
        super().__init__(settings.model_copy(update={"oidc_issuer_url": ISSUER}), http, clock)
        self.verifier = IssuerChoosingVerifier(self._settings, self.metadata, clock, _google_issuer)
        self._domains = frozenset(d.lower() for d in settings.google_hosted_domains)
        #: google_groups, google_use_organization_id: asked of the Directory API (google_groups.py)
        wanted = settings.google_groups or settings.google_use_organization_id
        self._directory = Directory(settings, http, clock) if wanted else None

    async def login_url(self, login: LoginState, redirect_uri: str) -> str:
        """The OIDC authorization URL plus Google's `hd` hint (and offline access to refresh)."""
        url = httpx.URL(await super().login_url(login, redirect_uri))
        extra = {}
        if self._domains:
            # one domain: offer only its accounts; several: any Workspace account ("*")
            extra["hd"] = next(iter(self._domains)) if len(self._domains) == 1 else "*"
        if self._settings.cookie_refresh:
            extra["access_type"] = "offline"  # Google sends a refresh token only when asked
        return str(url.copy_merge_params(extra))

    async def _identity(self, claims: Claims, access_token: str) -> Identity:
        """Refuse accounts outside google_hosted_domains, judged by the ID token alone."""
        if self._domains:
            hd = claims.get("hd")
            if not isinstance(hd, str) or not hd:
                raise TokenError("Google account has no hosted domain (hd), so it is not a "
                                 "Workspace account of google_hosted_domains")
            if hd.lower() not in self._domains:
                raise TokenError(f"Google hosted domain {hd!r} is not in google_hosted_domains")
        identity = await super()._identity(claims, access_token)
        if self._directory is None:
            return identity
        if self._settings.google_groups:
            member_of = await self._directory.member_of(identity.email)
            if not member_of:
                raise TokenError("the Google account is in none of google_groups")
            added = tuple(g for g in member_of if g not in identity.groups)
            identity = replace(identity, groups=(*identity.groups, *added))
        if self._settings.google_use_organization_id:
            # oauth2-proxy's setPreferredUsername: the organization id, not the account's name
            organization = await self._directory.organization_id(identity.email)
            identity = replace(identity, preferred_username=organization)
        return identity
