"""GitHub (and GitHub Enterprise Server): OAuth 2.0 login, identity from the REST API.

GitHub is not an OpenID Provider: there is no ID token, so who signed in is whatever the API
says the access token belongs to. Restrictions (oauth2-proxy's options and meaning):

    github_user   these logins may sign in whatever the other options say
    github_team   member of one of these teams (org:team, or a slug within github_org)
    github_org    member of this organisation (when github_team is not set)
    github_repo   collaborator on owner/repo (asked with github_token when set)

Orgs and teams also become groups ("org", "org:team") when the scope includes read:org.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from ..clock import Clock
from ..config import Settings
from ..config.provider_specific import github_teams
from ..errors import ClientRejected, ProviderRefused, TokenError
from ..models import Identity, LoginState, Tokens
from . import http as idp
from .github_api import GitHubAPI
from .oidc import authorization_url

log = logging.getLogger(__name__)


def default_scope(settings: Settings) -> str:
    """user:email for the verified address; read:org when orgs or teams are checked."""
    if "scope" in settings.model_fields_set:
        return settings.scope
    return "user:email read:org" if settings.github_org or settings.github_team else "user:email"


class GitHubProvider:
    """Login with GitHub; see the module docstring for the restrictions."""

    name = "GitHub"

    def __init__(self, settings: Settings, http: httpx.AsyncClient, clock: Clock) -> None:
        self._settings = settings
        self._http = http
        self._clock = clock
        base = settings.github_base_url.rstrip("/")
        self.authorize_url = f"{base}/login/oauth/authorize"
        self.token_url = f"{base}/login/oauth/access_token"
        default_api = "https://api.github.com" if base == "https://github.com" else f"{base}/api/v3"
        self.api = GitHubAPI(http, settings.github_api_url or default_api)
        self.scope = default_scope(settings)
        self._teams = github_teams(settings)
        self._users = frozenset(u.lower() for u in settings.github_user)

    async def login_url(self, login: LoginState, redirect_uri: str) -> str:
        """The authorization URL (state and PKCE S256; GitHub has no nonce)."""
        return authorization_url(
            self.authorize_url, self._settings.client_id, redirect_uri, self.scope, login
        )

    async def check_response_issuer(self, iss: str | None) -> None:
        """GitHub publishes no issuer identifier to compare an `iss` with (RFC 9207 needs
        metadata); one provider per instance leaves no other to mix it up with."""
        return None

    async def redeem(
        self, code: str, login: LoginState, redirect_uri: str
    ) -> tuple[Identity, Tokens]:
        """Exchange the code, then ask the API who this is and whether they may sign in."""
        body = await self._token_request(
            {"code": code, "redirect_uri": redirect_uri, "code_verifier": login.code_verifier}
        )
        tokens = self._tokens(body, Tokens())
        return await self._identity(tokens.access_token), tokens

    async def refresh(self, tokens: Tokens) -> tuple[Identity | None, Tokens]:
        """Refresh (GitHub App tokens expire) or re-check (OAuth App tokens do not)."""
        new = tokens
        if tokens.refresh_token:
            body = await self._token_request(
                {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
            )
            new = self._tokens(body, tokens)
        # membership may have changed since the login: check everything again
        return await self._identity(new.access_token), new

    async def end_session_url(self, id_token: str, post_logout_redirect_uri: str) -> str | None:
        """GitHub has no RP-initiated logout."""
        return None

    async def ready(self) -> None:
        """Nothing to load (no discovery); probing the API would spend its rate limit."""
        return None

    # --- identity and restrictions ------------------------------------------------------
    async def _identity(self, token: str) -> Identity:
        uid, login = await self.api.user(token)
        orgs, teams = await self._memberships(token)
        await self._check_access(login, token, orgs, teams)
        email = await self.api.primary_email(token)
        if not email:
            raise TokenError(f"GitHub user {login!r} has no verified primary e-mail address")
        groups = (*orgs, *(f"{org}:{team}" for org, team in teams))
        return Identity(user=login, email=email, groups=groups, preferred_username=login,
                        email_verified=True, subject=str(uid))

    async def _memberships(self, token: str) -> tuple[list[str], list[tuple[str, str]]]:
        """Orgs and teams, fetched when a restriction needs them or read:org was granted."""
        s = self._settings
        for_groups = "read:org" in self.scope.split()
        orgs = await self.api.orgs(token) if for_groups or (s.github_org and not s.github_team) else []
        teams = await self.api.teams(token) if for_groups or s.github_team else []
        return orgs, teams

    async def _check_access(
        self, login: str, token: str, orgs: list[str], teams: list[tuple[str, str]]
    ) -> None:
        """TokenError with the reason when the restrictions keep `login` out."""
        s = self._settings
        if login.lower() in self._users:
            return
        if not (s.github_org or self._teams or s.github_repo):
            if self._users:
                raise TokenError(f"GitHub user {login!r} is not listed in github_user")
            return
        if self._teams:
            if not self._teams & {(org.lower(), team.lower()) for org, team in teams}:
                raise TokenError(f"GitHub user {login!r} is in none of the teams in github_team")
        elif s.github_org and s.github_org.lower() not in {org.lower() for org in orgs}:
            raise TokenError(f"GitHub user {login!r} is not a member of github_org {s.github_org!r}")
        if s.github_repo and not await self._repo_allowed(login, token):
            raise TokenError(f"GitHub user {login!r} may not use github_repo {s.github_repo!r}")

    async def _repo_allowed(self, login: str, token: str) -> bool:
        repo = self._settings.github_repo
        service_token = self._settings.github_token.get_secret_value()
        if service_token:
            return await self.api.is_collaborator(repo, login, service_token)
        return await self.api.can_use_repo(repo, token)

    # --- token endpoint -----------------------------------------------------------------
    async def _token_request(self, form: dict[str, str]) -> dict[str, Any]:
        """POST to GitHub's token endpoint (client credentials in the body, as documented)."""
        s = self._settings
        form = {**form, "client_id": s.client_id, "client_secret": s.client_secret.get_secret_value()}
        what = "GitHub token endpoint"
        response = await idp.call(
            self._http, "POST", self.token_url, what=what, data=form,
            headers={"Accept": "application/json"},
        )  # fmt: skip
        body = idp.json_object(response, what)
        # GitHub answers errors with HTTP 200 and an `error` field
        error = body.get("error")
        if error or not isinstance(body.get("access_token"), str):
            reason = error[:64] if isinstance(error, str) else "no access_token"
            # a wrong client_id/secret is the operator's problem, not the user's login
            problem = ClientRejected if reason == "incorrect_client_credentials" else ProviderRefused
            raise problem(f"{what} refused the grant: {reason}",
                          error=reason if isinstance(error, str) else "")
        return body

    def _tokens(self, body: dict[str, Any], previous: Tokens) -> Tokens:
        """Tokens from a token answer; expires_in only comes with GitHub App tokens."""
        expires_in = body.get("expires_in")
        seconds = expires_in if isinstance(expires_in, int) and expires_in > 0 else 0
        refresh = body.get("refresh_token")
        return Tokens(
            access_token=str(body["access_token"]),
            refresh_token=refresh if isinstance(refresh, str) and refresh else previous.refresh_token,
            expires_at=int(self._clock()) + seconds if seconds else 0,
        )
