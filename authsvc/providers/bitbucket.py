"""Bitbucket Cloud: OAuth 2.0 login, identity from the 2.0 REST API.

Bitbucket is not an OpenID Provider: who signed in is what `/2.0/user` says the access token
belongs to, and the e-mail is the primary, confirmed one of `/2.0/user/emails`. The options are
oauth2-proxy's (providers/bitbucket.go at 14af2951), checked with today's API:

    bitbucket_team        member of this workspace: `GET /2.0/user/workspaces` (oauth2-proxy
                          asks `/2.0/teams?role=member`, removed in 2020 with teams; the
                          `/2.0/workspaces` list that replaced it is deprecated, CHANGE-2770)
    bitbucket_repository  write access to workspace/repo: `GET /2.0/repositories/{workspace}`
                          with `role=contributor` and a `full_name` filter, as oauth2-proxy asks

The token goes in the Authorization header (Bitbucket's documented way), not in the query
string where oauth2-proxy puts it, which leaves it in every proxy and server log on the way.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import httpx

from ..clock import Clock
from ..config import Settings
from ..errors import ClientRejected, ProviderRefused, TokenError
from ..models import Identity, LoginState, Tokens
from . import http as idp
from .oidc import authorization_url

AUTHORIZE_URL = "https://bitbucket.org/site/oauth2/authorize"
TOKEN_URL = "https://bitbucket.org/site/oauth2/access_token"
API_URL = "https://api.bitbucket.org/2.0"
#: pages followed per list; a membership further down is not found (fails closed)
MAX_PAGES = 20
_HINT = " (has the OAuth consumer the account, team and repository permissions?)"


def default_scope(settings: Settings) -> str:
    """oauth2-proxy's: `email`, plus `team` and `repository` when they are checked."""
    if "scope" in settings.model_fields_set:
        return settings.scope
    scope = "email"
    if settings.bitbucket_team:
        scope += " team"
    if settings.bitbucket_repository:
        scope += " repository"
    return scope


class BitbucketProvider:
    """Login with Bitbucket Cloud; see the module docstring for the restrictions."""

    name = "Bitbucket"

    def __init__(self, settings: Settings, http: httpx.AsyncClient, clock: Clock) -> None:
        self._settings = settings
        self._http = http
        self._clock = clock
        self.scope = default_scope(settings)

    async def login_url(self, login: LoginState, redirect_uri: str) -> str:
        """The authorization URL (state and PKCE S256; Bitbucket has no nonce)."""
        return authorization_url(AUTHORIZE_URL, self._settings.client_id, redirect_uri, self.scope, login)

    async def check_response_issuer(self, iss: str | None) -> None:
        """Bitbucket publishes no issuer identifier (RFC 9207 needs metadata)."""
        return None

    async def redeem(self, code: str, login: LoginState, redirect_uri: str) -> tuple[Identity, Tokens]:
        """Exchange the code, then ask the API who this is and whether they may sign in."""
        tokens = await self._token_request(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
             "code_verifier": login.code_verifier}, Tokens())
        return await self._identity(tokens.access_token), tokens

    async def refresh(self, tokens: Tokens) -> tuple[Identity | None, Tokens]:
        """Refresh (access tokens last two hours), then check membership again."""
        if not tokens.refresh_token:
            raise TokenError("no refresh token to refresh with")
        new = await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}, tokens)
        return await self._identity(new.access_token), new

    async def end_session_url(self, id_token: str, post_logout_redirect_uri: str) -> str | None:
        """Bitbucket has no RP-initiated logout."""
        return None

    async def ready(self) -> None:
        """Nothing to load (no discovery)."""
        return None

    # --- identity and restrictions ------------------------------------------------------
    async def _identity(self, token: str) -> Identity:
        user = await self._get(f"{API_URL}/user", token)
        # Atlassian: identify users by UUID (or account_id); usernames are gone (GDPR) and a
        # nickname is not unique, so it is only the preferred_username
        uuid = _text(user, "uuid")
        name = _text(user, "nickname") or uuid
        if not uuid:
            raise TokenError("Bitbucket API /user: no uuid in the answer")
        s = self._settings
        if s.bitbucket_team and not await self._in_workspace(s.bitbucket_team, token):
            raise TokenError(f"Bitbucket user {name!r} is not a member of bitbucket_team "
                             f"{s.bitbucket_team!r}")
        if s.bitbucket_repository and not await self._can_write(s.bitbucket_repository, token):
            raise TokenError(f"Bitbucket user {name!r} has no write access to bitbucket_repository "
                             f"{s.bitbucket_repository!r}")
        email = await self._primary_email(token)
        if not email:
            raise TokenError(f"Bitbucket user {name!r} has no confirmed primary e-mail address")
        return Identity(user=uuid, email=email, preferred_username=name, email_verified=True,
                        subject=uuid)

    async def _in_workspace(self, workspace: str, token: str) -> bool:
        # the q filter keeps the answer small; the slug is compared here all the same
        q = f'workspace.slug="{workspace}"'
        entries = await self._values(f"{API_URL}/user/workspaces", token, {"q": q})
        slugs = {_text(e.get("workspace"), "slug").lower() for e in entries}
        return workspace.lower() in slugs

    async def _can_write(self, repository: str, token: str) -> bool:
        workspace = repository.partition("/")[0]
        params = {"role": "contributor", "q": f'full_name="{repository}"'}
        url = f"{API_URL}/repositories/{quote(workspace, safe='')}"
        names = {_text(r, "full_name").lower() for r in await self._values(url, token, params)}
        return repository.lower() in names

    async def _primary_email(self, token: str) -> str:
        for entry in await self._values(f"{API_URL}/user/emails", token, {}):
            if entry.get("is_primary") is True:
                # oauth2-proxy takes the primary address confirmed or not; an unconfirmed one
                # names someone who has not shown it is theirs
                return _text(entry, "email") if entry.get("is_confirmed") is True else ""
        return ""

    # --- HTTP ---------------------------------------------------------------------------
    async def _get(self, url: str, token: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        path = httpx.URL(url).path
        what = f"Bitbucket API {path}"
        response = await idp.call(
            self._http, "GET", url, what=what, params=params, hint=_HINT,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )  # fmt: skip
        return idp.json_object(response, what)

    async def _values(self, url: str, token: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every entry of a paginated list (`values`, then the `next` URL, on the API's origin)."""
        entries: list[dict[str, Any]] = []
        page: dict[str, str] | None = {**params, "pagelen": "100"}
        for _ in range(MAX_PAGES):
            body = await self._get(url, token, page)
            values = body.get("values")
            entries += [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []
            nxt = body.get("next")
            if not isinstance(nxt, str) or not nxt.startswith(API_URL + "/"):
                return entries  # no next page, or one on another host (the token would go along)
            url, page = nxt, None
        return entries

    async def _token_request(self, form: dict[str, str], previous: Tokens) -> Tokens:
        """POST to the token endpoint, client id and secret as HTTP Basic (RFC 6749 §2.3.1)."""
        s = self._settings
        pair = f"{quote(s.client_id, safe='')}:{quote(s.client_secret.get_secret_value(), safe='')}"
        headers = {"Accept": "application/json",
                   "Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        what = "Bitbucket token endpoint"
        try:
            response = await idp.call(self._http, "POST", TOKEN_URL, what=what, data=form,
                                      headers=headers)
        except ProviderRefused as exc:
            if exc.error in ("invalid_client", "unauthorized_client") or exc.http_status == 401:
                raise ClientRejected(exc.reason, error=exc.error, http_status=exc.http_status) from None
            raise
        body = idp.json_object(response, what)
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise TokenError(f"{what} sent no access_token")
        expires_in = body.get("expires_in")
        seconds = expires_in if isinstance(expires_in, int) and expires_in > 0 else 0
        refresh = body.get("refresh_token")
        return Tokens(
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) and refresh else previous.refresh_token,
            expires_at=int(self._clock()) + seconds if seconds else 0,
        )


def _text(value: object, key: str) -> str:
    field = value.get(key) if isinstance(value, dict) else None
    return field if isinstance(field, str) else ""
