"""The identity-provider seam. Providers speak our types (Identity, Tokens), not library dicts.

Adding a provider is one new file plus one line in `authsvc.providers.PROVIDERS` and one in
`authsvc.config.provider.PROVIDER_NAMES` (its name on the sign-in button); its options, if any,
are one option group in `authsvc/config/` (e.g. `bitbucket.py`) listed in `Settings`.
Every method may raise:
  ProviderUnavailable  the IdP (metadata, keys, token endpoint) cannot be reached or answered 5xx
  TokenError           the IdP answered, but what it sent fails verification or is refused
                       (invalid_grant on refresh, bad ID token, unverified e-mail, ...)
  IssuerMismatch       (check_response_issuer) the authorization response is not our IdP's
"""

from __future__ import annotations

from typing import Protocol

from ..models import Identity, LoginState, Tokens


class Provider(Protocol):
    """One identity provider."""

    name: str

    async def login_url(self, login: LoginState, redirect_uri: str) -> str:
        """The authorization URL (state, nonce, PKCE S256 challenge from `login`)."""
        ...

    async def check_response_issuer(self, iss: str | None) -> None:
        """RFC 9207: the callback's `iss` (None when absent) names this IdP, or IssuerMismatch."""
        ...

    async def redeem(self, code: str, login: LoginState, redirect_uri: str) -> tuple[Identity, Tokens]:
        """Exchange the code (with the PKCE verifier) and verify what comes back."""
        ...

    async def refresh(self, tokens: Tokens) -> tuple[Identity | None, Tokens]:
        """Use the refresh token. Identity is None when the IdP sent no new ID token."""
        ...

    async def end_session_url(self, id_token: str, post_logout_redirect_uri: str) -> str | None:
        """The IdP's RP-initiated logout URL, or None when the IdP has none."""
        ...

    async def ready(self) -> None:
        """Load (or confirm) metadata and keys; raise ProviderUnavailable when it cannot."""
        ...
