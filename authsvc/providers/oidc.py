"""The generic OpenID Connect provider: authorization code flow with PKCE S256."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from ..clock import Clock
from ..config import Settings
from ..errors import ClientRejected, IssuerMismatch, ProviderRefused, TokenError
from ..models import Identity, LoginState, Tokens
from . import http as idp
from .claims import has_claim, identity_from_claims
from .client_auth import JWT_BEARER, ClientAssertions
from .idtoken import Claims, IDTokenVerifier
from .jws import unverified_claims
from .metadata import MetadataCache, ProviderMetadata

log = logging.getLogger(__name__)

#: token endpoint errors that mean "these credentials are no good", RFC 6749 §5.2
_REFUSALS = frozenset(
    {"invalid_grant", "invalid_client", "unauthorized_client", "invalid_request", "invalid_scope"}
)
#: of those, the ones about this client itself (an operator's problem: ClientRejected)
_CLIENT_REFUSALS = frozenset({"invalid_client", "unauthorized_client"})


#: what validate_url may answer for a valid token
_SUCCESS = tuple(range(200, 300))


def s256_challenge(verifier: str) -> str:
    """The PKCE code_challenge for a verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_url(
    endpoint: str, client_id: str, redirect_uri: str, scope: str, login: LoginState, **extra: str
) -> str:
    """The authorization request every provider sends: code flow, state and PKCE S256 always.

    The endpoint may carry its own query (OIDC Core §3.1.2.1 allows it): merged, not clobbered.
    """
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": login.state,
        "code_challenge": s256_challenge(login.code_verifier),
        "code_challenge_method": "S256",
        **extra,
    }
    return str(httpx.URL(endpoint).copy_merge_params(params))


class OIDCProvider:
    """Any OpenID Provider that publishes discovery metadata."""

    name = "oidc"

    def __init__(self, settings: Settings, http: httpx.AsyncClient, clock: Clock) -> None:
        self._settings = settings
        self._http = http
        self._clock = clock
        self.metadata = MetadataCache(settings, http, clock)
        self.verifier = IDTokenVerifier(settings, self.metadata, clock)
        #: jwt_key: private_key_jwt client authentication (client_auth.py) instead of the secret
        self.assertions = ClientAssertions.from_settings(settings, clock)

    async def login_url(self, login: LoginState, redirect_uri: str) -> str:
        """The authorization URL (state, nonce, PKCE S256 challenge from `login`)."""
        meta = await self.metadata.metadata()
        return authorization_url(
            meta.authorization_endpoint, self._settings.client_id, redirect_uri,
            self._settings.scope, login, nonce=login.nonce,
        )

    async def check_response_issuer(self, iss: str | None) -> None:
        """RFC 9207 §2.4: an `iss` in the authorization response must be our IdP's issuer, and
        one that advertises `authorization_response_iss_parameter_supported` must send it;
        checked before the code goes anywhere (the mix-up attack sends it to the wrong IdP)."""
        meta = await self.metadata.metadata()
        if iss is None:
            if meta.authorization_response_iss_parameter_supported:
                raise IssuerMismatch("authorization response has no iss, though the IdP "
                                     "advertises authorization_response_iss_parameter_supported")
            return
        if not self._our_issuer(iss, meta):
            raise IssuerMismatch(f"authorization response iss {iss[:100]!r} is not the issuer "
                                 f"{meta.issuer!r} (RFC 9207)")

    def _our_issuer(self, iss: str, meta: ProviderMetadata) -> bool:
        """Whether `iss` is the issuer identifier (simple string comparison, RFC 9207 §2.4)."""
        return iss == meta.issuer

    async def redeem(
        self, code: str, login: LoginState, redirect_uri: str
    ) -> tuple[Identity, Tokens]:
        """Exchange the code (with the PKCE verifier) and verify what comes back."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": login.code_verifier,
        }
        if self._settings.resource:  # RFC 8707 §2.2: the resource the token is for, again
            form["resource"] = self._settings.resource
        body = await self._token_request(form)
        id_token = _field(body, "id_token")
        if not id_token:
            # OIDC Core §3.1.3.3: the ID token is what makes this OpenID Connect
            raise TokenError("token endpoint sent no id_token")
        claims = await self.verifier.verify(id_token, nonce=login.nonce)
        tokens = self._tokens(body, previous=Tokens())
        return await self._identity(claims, tokens.access_token), tokens

    async def refresh(self, tokens: Tokens) -> tuple[Identity | None, Tokens]:
        """Use the refresh token. Identity is None when the IdP sent no new ID token."""
        if not tokens.refresh_token:
            raise TokenError("no refresh token to refresh with")
        body = await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
        )
        new = self._tokens(body, previous=tokens)
        if self._settings.validate_url:
            await self._validate(new.access_token)
        id_token = _field(body, "id_token")
        if not id_token:
            return None, new
        # OIDC Core §12.2: no nonce on refresh, but the same subject as before
        claims = await self.verifier.verify(id_token, nonce=None)
        old_sub = unverified_claims(tokens.id_token).get("sub") if tokens.id_token else None
        if old_sub is not None and claims.get("sub") != old_sub:
            raise TokenError("refreshed ID token names another subject")
        return await self._identity(claims, new.access_token), new

    async def end_session_url(self, id_token: str, post_logout_redirect_uri: str) -> str | None:
        """The IdP's RP-initiated logout URL, or None when the IdP has none."""
        meta = await self.metadata.metadata()
        if not meta.end_session_endpoint:
            return None
        # OpenID Connect RP-Initiated Logout 1.0 §2
        params = {"client_id": self._settings.client_id}
        if id_token:
            params["id_token_hint"] = id_token
        if post_logout_redirect_uri:
            params["post_logout_redirect_uri"] = post_logout_redirect_uri
        return str(httpx.URL(meta.end_session_endpoint).copy_merge_params(params))

    async def ready(self) -> None:
        """Load (or confirm) metadata and keys; raise ProviderUnavailable when it cannot."""
        await self.metadata.metadata()
        await self.metadata.jwks()

    # --- helpers ------------------------------------------------------------------------
    def _tokens(self, body: Mapping[str, Any], previous: Tokens) -> Tokens:
        """Tokens from a token response; what the IdP left out is kept from `previous`."""
        expires_in = body.get("expires_in")
        expires_at = 0
        try:
            # RFC 6749 §5.1: a number of seconds (some IdPs send it as a string)
            seconds = int(float(expires_in)) if isinstance(expires_in, int | float | str) else 0
        except ValueError:
            seconds = 0
        if seconds > 0:
            expires_at = int(self._clock()) + seconds
        return Tokens(
            access_token=_field(body, "access_token"),
            id_token=_field(body, "id_token") or previous.id_token,
            # RFC 6749 §6: the IdP may or may not rotate the refresh token
            refresh_token=_field(body, "refresh_token") or previous.refresh_token,
            expires_at=expires_at,
        )

    async def _identity(self, claims: Claims, access_token: str) -> Identity:
        """Identity from ID token claims, filled in from userinfo when email/groups are missing."""
        s = self._settings
        # claim_headers' claims too: oauth2-proxy fetches claims the ID token lacks from the
        # userinfo (profile) URL (reference/oauth2-proxy.md, "On redeem")
        wanted = (s.oidc_email_claim, s.oidc_groups_claim, *s.kept_claims)
        if access_token and not all(has_claim(claims, c) for c in wanted):
            userinfo = await self._userinfo(access_token)
            if userinfo is None:
                return identity_from_claims(claims, s, s.kept_claims)
            # OIDC Core §5.3.2: the userinfo sub MUST match the ID token's (token substitution)
            if userinfo.get("sub") != claims.get("sub"):
                raise TokenError("userinfo sub differs from the ID token sub")
            claims = {**userinfo, **{k: v for k, v in claims.items() if has_claim(claims, k)}}
        return identity_from_claims(claims, s, s.kept_claims)

    async def _validate(self, access_token: str) -> None:
        """oauth2-proxy's validate_url: the refreshed access token must be accepted there (2xx)."""
        await idp.call(
            self._http, "GET", self._settings.validate_url, what="validate_url", ok=_SUCCESS,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )  # fmt: skip

    async def _userinfo(self, access_token: str) -> dict[str, Any] | None:
        meta = await self.metadata.metadata()
        if not meta.userinfo_endpoint:
            return None
        response = await idp.call(
            self._http, "GET", meta.userinfo_endpoint, what="userinfo",
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )  # fmt: skip
        # a signed (application/jwt) userinfo answer is not supported: "not JSON"
        return idp.json_object(response, "userinfo")

    async def _token_request(self, form: dict[str, str]) -> dict[str, Any]:
        """POST to the token endpoint with client authentication; errors mapped to ours."""
        meta = await self.metadata.metadata()
        s = self._settings
        secret = s.client_secret.get_secret_value()
        headers = {"Accept": "application/json"}
        methods = meta.token_endpoint_auth_methods_supported
        if self.assertions is not None:
            # configured, so used whatever discovery lists: a key was registered, not a secret
            form = {**form, **self.assertions.form(meta.token_endpoint)}
        elif s.entra_id_federated_token_auth:
            # Azure Workload Identity: the projected service account token is the client
            # assertion (RFC 7521 4.2, RFC 7523 2.2); read anew each time, it is rotated
            form = {**form, "client_id": s.client_id, "client_assertion_type": JWT_BEARER,
                    "client_assertion": federated_token()}
        elif not methods or "client_secret_basic" in methods or "client_secret_post" not in methods:
            # RFC 6749 §2.3.1: id and secret are form-urlencoded before base64
            pair = f"{quote(s.client_id, safe='')}:{quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form = {**form, "client_id": s.client_id, "client_secret": secret}
        try:
            response = await idp.call(
                self._http, "POST", meta.token_endpoint, what="token endpoint", data=form,
                headers=headers,
            )  # fmt: skip
        except ProviderRefused as exc:
            if exc.error not in _REFUSALS:
                log.warning("token endpoint refused with %r", exc.error or "no OAuth error")
            # RFC 6749 §5.2: our own credentials (or grant rights) are wrong, not the user's login
            if exc.error in _CLIENT_REFUSALS or exc.http_status == 401:
                raise ClientRejected(exc.reason, error=exc.error, http_status=exc.http_status) from None
            raise
        body = idp.json_object(response, "token endpoint")
        if "error" in body:  # an error with HTTP 200
            error = _field(body, "error")[:64]
            if error not in _REFUSALS:
                log.warning("token endpoint refused with %r (HTTP 200)", error)
            problem = ClientRejected if error in _CLIENT_REFUSALS else ProviderRefused
            raise problem(f"token endpoint refused the grant: {error}", error=error)
        return body


def federated_token() -> str:
    """The Workload Identity token the Azure webhook projects (AZURE_FEDERATED_TOKEN_FILE)."""
    path = os.environ.get("AZURE_FEDERATED_TOKEN_FILE", "")
    try:
        return Path(path).read_text().strip() if path else ""
    except OSError:
        return ""


def _field(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    return value if isinstance(value, str) else ""
