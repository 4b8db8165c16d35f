"""Which of `google_groups` a Google user is in, and their organization id, asked of the Admin
SDK Directory API.

As oauth2-proxy does (providers/google.go at 14af2951): a service account with domain-wide
delegation acts as `google_admin_email` and asks `groups/{group}/hasMember/{user}` for each
configured group, and `users/{user}` for the organization id (getUserInfo: the first
`externalIds` entry of type `organization`). The token asks only for the scopes in use: the
group scope with google_groups, google_admin_api_user_scope's with google_use_organization_id.
The access token comes from a signed JWT assertion (RFC 7523) made with the service account key
file, or, with application default credentials, signed by the IAM Credentials API for the
service account of the workload (GKE Workload Identity) or `google_target_principal`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey

from ..clock import Clock
from ..config.google_groups import GoogleGroupsOptions
from ..errors import ProviderUnavailable, TokenError
from . import http as idp

#: the read-only scope hasMember needs
SCOPE = "https://www.googleapis.com/auth/admin.directory.group.member.readonly"
#: google_admin_api_user_scope -> the scope users.get is asked with (getAdminAPIUserScope)
USER_SCOPES = {
    "": "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "readonly": "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "user": "https://www.googleapis.com/auth/admin.directory.user",
    "cloud": "https://www.googleapis.com/auth/cloud-platform",
}
DIRECTORY = "https://admin.googleapis.com/admin/directory/v1"
TOKEN_URI = "https://oauth2.googleapis.com/token"
METADATA = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default"
IAM_SIGN = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{}:signJwt"
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class Directory:
    """Group membership and organization ids of Google users; one access token, reused until
    shortly before expiry."""

    def __init__(self, settings: GoogleGroupsOptions, http: httpx.AsyncClient, clock: Clock) -> None:
        self._groups = tuple(settings.google_groups)
        scopes = [SCOPE] if self._groups else []
        if settings.google_use_organization_id:
            scopes.append(USER_SCOPES[settings.google_admin_api_user_scope])
        self._scope = " ".join(scopes)
        self._admin = settings.google_admin_email
        self._adc = settings.google_use_application_default_credentials
        self._principal = settings.google_target_principal
        self._key: dict[str, Any] = {}
        if settings.google_service_account_json:
            with open(settings.google_service_account_json) as fh:
                self._key = json.load(fh)
        self._http = http
        self._clock = clock
        self._token = ""
        self._token_until = 0.0
        self._lock = asyncio.Lock()

    async def member_of(self, email: str) -> tuple[str, ...]:
        """The configured groups `email` is a member of (directly or through another group)."""
        token = await self._access_token()
        found = []
        for group in self._groups:
            url = f"{DIRECTORY}/groups/{quote(group, safe='@')}/hasMember/{quote(email, safe='@')}"
            data = await self._json("Directory API hasMember", "GET", url,
                                    headers={"Authorization": f"Bearer {token}"}, missing_ok=True)
            if data.get("isMember") is True:
                found.append(group)
        return tuple(found)

    async def organization_id(self, email: str) -> str:
        """The user's organization id (users.get; `fields` keeps the answer to it)."""
        token = await self._access_token()
        url = f"{DIRECTORY}/users/{quote(email, safe='@')}"
        data = await self._json("Directory API users.get", "GET", url, params={"fields": "externalIds"},
                                headers={"Authorization": f"Bearer {token}"}, missing_ok=True)
        ids = data.get("externalIds")
        for entry in ids if isinstance(ids, list) else []:
            if isinstance(entry, dict) and entry.get("type") == "organization":
                value = entry.get("value")
                if isinstance(value, str) and value:
                    return value
        raise TokenError("the Directory API has no organization id (externalIds of type "
                         "organization) for the Google account (google_use_organization_id)")

    async def _access_token(self) -> str:
        async with self._lock:
            if self._token and self._clock() < self._token_until:
                return self._token
            now = int(self._clock())
            claims = {"iss": "", "sub": self._admin, "scope": self._scope, "aud": TOKEN_URI,
                      "iat": now, "exp": now + 3600}
            if self._adc:
                assertion = await self._signed_by_iam(claims)
            else:
                claims["iss"] = self._key["client_email"]
                key = RSAKey.import_key(self._key["private_key"])
                header = {"alg": "RS256", "typ": "JWT", "kid": self._key.get("private_key_id", "")}
                assertion = jwt.encode(header, claims, key, algorithms=["RS256"])
            data = await self._json("Google token endpoint", "POST", self._key.get("token_uri", TOKEN_URI),
                                    data={"grant_type": _JWT_BEARER, "assertion": assertion})
            token = data.get("access_token")
            if not isinstance(token, str) or not token:
                raise ProviderUnavailable("Google token endpoint sent no access_token")
            expires = data.get("expires_in")
            self._token = token
            lifetime = expires if isinstance(expires, int) and expires > 0 else 3600
            self._token_until = self._clock() + lifetime - 60
            return token

    async def _signed_by_iam(self, claims: dict[str, Any]) -> str:
        """A JWT signed for the service account by the IAM Credentials API (no key file)."""
        metadata = {"Metadata-Flavor": "Google"}
        data = await self._json("GCE metadata token", "GET", f"{METADATA}/token", headers=metadata)
        platform = data.get("access_token")
        if not isinstance(platform, str) or not platform:
            raise ProviderUnavailable("GCE metadata server sent no access_token")
        account = self._principal
        if not account:
            response = await idp.call(self._http, "GET", f"{METADATA}/email", what="GCE metadata email",
                                      service=True, headers=metadata)  # fmt: skip
            account = response.text.strip()
        claims["iss"] = account
        signed = await self._json("IAM signJwt", "POST", IAM_SIGN.format(quote(account, safe="@")),
                                  headers={"Authorization": f"Bearer {platform}"},
                                  json={"payload": json.dumps(claims)})
        jwt_text = signed.get("signedJwt")
        if not isinstance(jwt_text, str) or not jwt_text:
            raise ProviderUnavailable("IAM signJwt sent no signedJwt")
        return jwt_text

    async def _json(self, what: str, method: str, url: str, missing_ok: bool = False,
                    **kwargs: Any) -> dict[str, Any]:
        # our service account's calls: a refused credential is a configuration problem, so
        # every failure is unavailability (fail closed, said in the log; providers/http.py)
        ok = (200, 400, 404) if missing_ok else (200,)
        response = await idp.call(self._http, method, url, what=what, ok=ok, service=True, **kwargs)
        if response.status_code != 200:
            return {}  # a member outside the domain, or a group that is not there: no membership
        return idp.json_object(response, what, service=True)
