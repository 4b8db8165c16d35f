"""Login.gov: OpenID Connect with `private_key_jwt` client authentication (jwt_key).

As oauth2-proxy's login.gov provider (providers/logingov.go at 14af2951) reads its options:
no discovery; `login_url`, `redeem_url` and `profile_url` default to secure.login.gov's
endpoints, the keys come from `pubjwk_url` (authsvc's `oidc_jwks_url`), the scope is
`email openid` and `acr_values` the LOA1 value unless set. Unlike oauth2-proxy, the ID token is
checked in full (issuer, audience, expiry, this login's nonce: oauth2-proxy kept one nonce per
process and checked only that and the signature), and the e-mail comes from userinfo with
`email_verified` honoured, as for any OpenID Provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from ..clock import Clock
from ..config import Settings
from ..models import LoginState
from .issuers import IssuerChoosingVerifier
from .metadata import ProviderMetadata
from .oidc import OIDCProvider

ORIGIN = "https://secure.login.gov"
ENDPOINTS = {
    "login_url": f"{ORIGIN}/openid_connect/authorize",
    "redeem_url": f"{ORIGIN}/api/openid_connect/token",
    "profile_url": f"{ORIGIN}/api/openid_connect/userinfo",
    # developers.login.gov/oidc/certificates: the keys that sign its ID tokens
    "oidc_jwks_url": f"{ORIGIN}/api/openid_connect/certs",
}
SCOPE = "email openid"
#: oauth2-proxy's default; login.gov now lists it as legacy (urn:acr.login.gov:auth-only is current)
ACR_VALUES = "http://idmanagement.gov/ns/assurance/loa/1"


def _issuer(settings: Settings, login_url: str) -> str:
    """oidc_issuer_url, else the origin of the authorization endpoint (sandbox or production)."""
    if settings.oidc_issuer_url:
        return settings.oidc_issuer_url
    url = httpx.URL(login_url)
    return f"{url.scheme}://{url.netloc.decode()}/"


def _same_issuer(claims: Mapping[str, Any], meta: ProviderMetadata) -> str:
    # login.gov's discovery names its issuer with a trailing slash; take either spelling of it
    iss = claims.get("iss")
    if isinstance(iss, str) and iss.rstrip("/") == meta.issuer.rstrip("/"):
        return iss
    return meta.issuer


class LoginGovProvider(OIDCProvider):
    """Sign in with Login.gov (or its sandbox, idp.int.identitysandbox.gov, by its URLs)."""

    name = "Login.gov"

    def __init__(self, settings: Settings, http: httpx.AsyncClient, clock: Clock) -> None:
        update: dict[str, Any] = {k: getattr(settings, k) or v for k, v in ENDPOINTS.items()}
        update |= {"skip_oidc_discovery": True, "oidc_issuer_url": _issuer(settings, update["login_url"])}
        if "scope" not in settings.model_fields_set:
            update["scope"] = SCOPE  # "profile" needs identity proofing (IAL2) at login.gov
        super().__init__(settings.model_copy(update=update), http, clock)
        self.verifier = IssuerChoosingVerifier(self._settings, self.metadata, clock, _same_issuer)

    async def login_url(self, login: LoginState, redirect_uri: str) -> str:
        """The OIDC authorization URL, with oauth2-proxy's acr_values unless one is configured."""
        url = await super().login_url(login, redirect_uri)
        if self._settings.acr_values:
            return url  # the login flow adds the configured one
        return str(httpx.URL(url).copy_merge_params({"acr_values": ACR_VALUES}))
