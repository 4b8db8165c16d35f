"""A fake GitHub (OAuth endpoints and the REST API) on respx routes, asserting on requests.

It answers the way docs.github.com documents: token errors as HTTP 200 with an `error` field,
`Link` pagination with `per_page`, 204/404 for the collaborator check, 403 with
`x-ratelimit-remaining: 0` when rate limited. Every API request must carry the documented
media type, API version and a token GitHub issued; a request that breaks the protocol is
recorded in `errors` and raises AssertionError (like FakeIdP).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import respx

from tests.support.fake_idp import Grant


@dataclass
class GitHubAccount:
    """A user as the fake API describes them."""

    login: str = "octocat"
    id: int = 583231
    emails: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"email": "octocat@example.com", "primary": True, "verified": True, "visibility": "public"},
            {"email": "cat@old.example", "primary": False, "verified": True, "visibility": None},
        ]
    )
    orgs: list[str] = field(default_factory=list)
    #: (org login, team slug)
    teams: list[tuple[str, str]] = field(default_factory=list)
    #: repo "owner/name" -> {"private": bool, "permissions": {...}}
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Token:
    account: GitHubAccount
    scopes: frozenset[str]


@dataclass
class FakeGitHub:
    """github.com + api.github.com (or an Enterprise Server's URLs)."""

    base_url: str = "https://github.com"
    api_url: str = "https://api.github.com"
    client_id: str = "client"
    client_secret: str = "secret"
    #: largest page the fake serves (GitHub's cap is 100); lower it to force pagination
    max_per_page: int = 100
    #: issue expiring tokens with refresh tokens (GitHub App user tokens)
    expiring_tokens: bool = False
    rate_limited: bool = False
    #: sent as the Link header of list answers instead of the real one (e.g. another host)
    link_override: str | None = None
    #: repo "owner/name" -> collaborator logins (for the github_token check)
    collaborators: dict[str, set[str]] = field(default_factory=dict)
    service_token: str = "ghp_service"
    calls: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    api_requests: list[httpx.Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._codes: dict[str, tuple[GitHubAccount, frozenset[str], str, str]] = {}
        self._tokens: dict[str, _Token] = {}
        self._refresh: dict[str, _Token] = {}
        self._failures: list[int] = []

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        """The next `n` API requests fail with `status` (0: the connection is refused)."""
        self._failures.extend([status] * n)

    def mount(self, router: respx.MockRouter) -> None:
        """Add our routes to a respx router."""
        router.post(f"{self.base_url}/login/oauth/access_token").mock(side_effect=self._token)
        router.route(url__startswith=self.api_url + "/").mock(side_effect=self._api)

    # --- the user's side ----------------------------------------------------------------
    def authorize(self, login_url: str, account: GitHubAccount) -> Grant:
        """Play the user approving the app at `login_url`: check the request, issue a code."""
        self.calls["authorize"] += 1
        parts = urlsplit(login_url)
        self._check(f"{parts.scheme}://{parts.netloc}{parts.path}"
                    == f"{self.base_url}/login/oauth/authorize", f"not our authorize URL: {login_url}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self._check(query.get("client_id") == self.client_id, "wrong client_id at authorize")
        for name in ("redirect_uri", "state", "code_challenge"):
            self._check(bool(query.get(name)), f"authorize request lacks {name}")
        self._check(query.get("code_challenge_method") == "S256", "PKCE method is not S256")
        code = secrets.token_urlsafe(10)
        scopes = frozenset(query.get("scope", "").replace(",", " ").split())
        self._codes[code] = (account, scopes, query["redirect_uri"], query["code_challenge"])
        return Grant(code, query["state"])

    def token_for(self, account: GitHubAccount, scopes: str = "user:email read:org") -> str:
        """An access token for `account` (as if it had signed in before)."""
        token = "gho_" + secrets.token_urlsafe(12)
        self._tokens[token] = _Token(account, frozenset(scopes.split()))
        return token

    # --- internals ----------------------------------------------------------------------
    def _check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.errors.append(problem)
            raise AssertionError(f"FakeGitHub: {problem}")

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.calls["token"] += 1
        # without Accept: application/json GitHub answers form-encoded
        self._check(request.headers.get("accept") == "application/json", "token request Accept")
        form = {k: v[-1] for k, v in parse_qs(request.content.decode()).items()}
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return self._oauth_error("incorrect_client_credentials")
        if form.get("grant_type") == "refresh_token":
            grant = self._refresh.pop(form.get("refresh_token", ""), None)
            return self._issue(grant) if grant else self._oauth_error("bad_refresh_token")
        pending = self._codes.pop(form.get("code", ""), None)
        if pending is None:
            return self._oauth_error("bad_verification_code")
        account, scopes, redirect_uri, challenge = pending
        self._check(form.get("redirect_uri") == redirect_uri, "redirect_uri differs from authorize")
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        verifier_ok = base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge
        self._check(verifier_ok, "code_verifier does not match the code_challenge")
        return self._issue(_Token(account, scopes))

    def _oauth_error(self, error: str) -> httpx.Response:
        # documented: GitHub answers token errors with HTTP 200
        return httpx.Response(200, json={"error": error, "error_description": error.replace("_", " ")})

    def _issue(self, grant: _Token) -> httpx.Response:
        token = "gho_" + secrets.token_urlsafe(12)
        self._tokens[token] = grant
        body: dict[str, Any] = {"access_token": token, "token_type": "bearer",
                                "scope": ",".join(sorted(grant.scopes))}
        if self.expiring_tokens:
            refresh = "ghr_" + secrets.token_urlsafe(12)
            self._refresh[refresh] = grant
            body.update(expires_in=28800, refresh_token=refresh, refresh_token_expires_in=15897600)
        return httpx.Response(200, json=body)

    def _api(self, request: httpx.Request) -> httpx.Response:
        self.api_requests.append(request)
        path = request.url.path.removeprefix(urlsplit(self.api_url).path)
        self.calls[path] += 1
        self._check(request.headers.get("accept") == "application/vnd.github+json", "API Accept header")
        self._check(request.headers.get("x-github-api-version") == "2022-11-28", "API version header")
        if self._failures:
            status = self._failures.pop(0)
            if status == 0:
                raise httpx.ConnectError("FakeGitHub: connection refused", request=request)
            return httpx.Response(status, text="unavailable")
        if self.rate_limited:
            return httpx.Response(403, headers={"x-ratelimit-remaining": "0"},
                                  json={"message": "API rate limit exceeded"})
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        collaborator = re.fullmatch(r"/repos/([^/]+/[^/]+)/collaborators/([^/]+)", path)
        if token == self.service_token and (m := collaborator):
            return httpx.Response(204 if m[2] in self.collaborators.get(m[1], set()) else 404)
        grant = self._tokens.get(token) if auth.startswith("Bearer ") else None
        if grant is None:
            return httpx.Response(401, json={"message": "Bad credentials"})
        acct = grant.account
        if path == "/user":
            return httpx.Response(200, json={"login": acct.login, "id": acct.id, "type": "User"})
        if path == "/user/emails":
            return httpx.Response(200, json=acct.emails) if "user:email" in grant.scopes else self._404()
        if path in ("/user/orgs", "/user/teams"):
            if "read:org" not in grant.scopes:
                return httpx.Response(403, json={"message": "Resource not accessible by integration"})
            items = ([{"login": o, "id": i} for i, o in enumerate(acct.orgs)] if path == "/user/orgs"
                     else [{"slug": t, "name": t, "organization": {"login": o}} for o, t in acct.teams])
            return self._page(request, items)
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)", path):
            repo = acct.repos.get(m[1])
            return httpx.Response(200, json={"full_name": m[1], **repo}) if repo else self._404()
        return self._404()

    def _404(self) -> httpx.Response:
        return httpx.Response(404, json={"message": "Not Found"})

    def _page(self, request: httpx.Request, items: list[dict[str, Any]]) -> httpx.Response:
        """One page of `items`, with a Link header as GitHub sends it."""
        params = request.url.params
        per_page = min(int(params.get("per_page", "30")), 100, self.max_per_page)
        page = int(params.get("page", "1"))
        last = max(1, -(-len(items) // per_page))
        base = f"{self.api_url}{request.url.path.removeprefix(urlsplit(self.api_url).path)}"
        links = []
        if page < last:
            links.append(f'<{base}?per_page={params.get("per_page", "30")}&page={page + 1}>; rel="next"')
            links.append(f'<{base}?per_page={params.get("per_page", "30")}&page={last}>; rel="last"')
        if self.link_override is not None:
            links = [self.link_override]
        headers = {"link": ", ".join(links)} if links else {}
        return httpx.Response(200, json=items[(page - 1) * per_page : page * per_page], headers=headers)
