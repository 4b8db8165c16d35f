"""ID token verification when the expected issuer depends on the token itself.

Google signs as `https://accounts.google.com` or `accounts.google.com`; a multi-tenant Entra ID
app gets tokens from `https://login.microsoftonline.com/{tid}/v2.0` for each user's tenant. A
`choose` function looks at the (not yet trusted) claims and names the one issuer to require,
or refuses; then the usual IDTokenVerifier checks everything, that issuer included. A forger
gains nothing from the choice: the signature must still verify with the IdP's keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..clock import Clock
from ..config import Settings
from ..memo import BoundedMemo
from .idtoken import Claims, IDTokenVerifier
from .jws import unverified_claims
from .metadata import MetadataCache, ProviderMetadata

#: (unverified claims, discovery metadata) -> the issuer to require; raises TokenError to refuse
ChooseIssuer = Callable[[Mapping[str, Any], ProviderMetadata], str]
#: one verifier per issuer is kept; beyond this many (tenants), the cache starts over
_MAX_ISSUERS = 1000


class IssuerChoosingVerifier(IDTokenVerifier):
    """An IDTokenVerifier whose required `iss` is picked per token by `choose`."""

    def __init__(
        self, settings: Settings, metadata: MetadataCache, clock: Clock, choose: ChooseIssuer
    ) -> None:
        super().__init__(settings, metadata, clock)
        self._choose = choose
        self._by_issuer: BoundedMemo[str, IDTokenVerifier] = BoundedMemo(_MAX_ISSUERS)

    async def verify(self, id_token: str, nonce: str | None) -> Claims:
        """The verified claims, `iss` required to be what `choose` named for this token."""
        issuer = self._choose(unverified_claims(id_token), await self._metadata.metadata())
        verifier = self._by_issuer.data.get(issuer)
        if verifier is None:
            settings = self._settings.model_copy(
                update={"oidc_issuer_url": issuer, "insecure_oidc_skip_issuer_verification": False}
            )
            verifier = self._by_issuer.put(issuer, IDTokenVerifier(settings, self._metadata, self._clock))
        return await verifier.verify(id_token, nonce)
