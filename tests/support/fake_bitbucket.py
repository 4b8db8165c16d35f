"""A fake Bitbucket Cloud (OAuth endpoints and the 2.0 REST API) on respx routes, asserting on
the requests it gets.

It answers as developer.atlassian.com documents: the token endpoint takes the consumer's key
and secret as HTTP Basic; API lists are pages of `values` with a `next` URL (`pagelen` at most
100); the workspace list needs the `team` scope and repositories the `repository` scope.
A request that breaks the protocol (token in the query string, a removed endpoint such as
/2.0/teams, a malformed filter) is recorded in `errors` and raises AssertionError.
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

AUTHORIZE = "https://bitbucket.org/site/oauth2/authorize"
TOKEN = "https://bitbucket.org/site/oauth2/access_token"
API = "https://api.bitbucket.org/2.0"


@dataclass
class BitbucketAccount:
    """A user as the fake API describes them."""

    nickname: str = "ada"
    uuid: str = "{7b8f5a0e-1c2d-4e3f-9a8b-0c1d2e3f4a5b}"
    emails: list[dict[str, Any]] = field(default_factory=lambda: [
        {"email": "old@example.org", "is_primary": False, "is_confirmed": True, "type": "email"},
        {"email": "ada@example.com", "is_primary": True, "is_confirmed": True, "type": "email"},
    ])
    #: workspace slugs the user is a member of
    workspaces: list[str] = field(default_factory=list)
    #: "workspace/slug" -> "read", "write" or "admin"
    repositories: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeBitbucket:
    """bitbucket.org's OAuth 2.0 endpoints and api.bitbucket.org/2.0."""

    client_id: str = "consumer-key"
    client_secret: str = "consumer-secret"
    #: largest page served (Bitbucket's cap is 100); lower it to force `next` pages
    max_pagelen: int = 100
    #: replaces the `next` URL of list answers (e.g. one on another host)
    next_override: str | None = None
    calls: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    api_requests: list[httpx.Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._codes: dict[str, tuple[BitbucketAccount, frozenset[str], str, str]] = {}
        self._tokens: dict[str, tuple[BitbucketAccount, frozenset[str]]] = {}
        self._refresh: dict[str, tuple[BitbucketAccount, frozenset[str]]] = {}
        self._failures: list[int] = []

    def mount(self, router: respx.MockRouter) -> None:
        """Add our routes to a respx router."""
        router.post(TOKEN).mock(side_effect=self._token)
        router.route(url__startswith=API + "/").mock(side_effect=self._api)

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        """The next `n` API requests fail with `status`."""
        self._failures.extend([status] * n)

    # --- the user's side ----------------------------------------------------------------
    def authorize(self, login_url: str, account: BitbucketAccount, grant: str = "") -> Grant:
        """Play the user granting access at `login_url`; `grant` is the consumer's
        permissions as scopes (Bitbucket grants those, whatever the URL asks)."""
        self.calls["authorize"] += 1
        parts = urlsplit(login_url)
        self._check(f"{parts.scheme}://{parts.netloc}{parts.path}" == AUTHORIZE,
                    f"not the authorize URL: {login_url}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self._check(query.get("response_type") == "code", "response_type is not code")
        self._check(query.get("client_id") == self.client_id, "wrong client_id at authorize")
        for name in ("redirect_uri", "state", "code_challenge"):
            self._check(bool(query.get(name)), f"authorize request lacks {name}")
        scopes = frozenset((grant or query.get("scope", "")).split())
        code = secrets.token_urlsafe(12)
        self._codes[code] = (account, scopes, query["redirect_uri"], query["code_challenge"])
        return Grant(code, query["state"])

    def token_for(self, account: BitbucketAccount, scopes: str = "email team repository") -> str:
        """An access token for `account` (as if it had signed in before)."""
        token = secrets.token_urlsafe(16)
        self._tokens[token] = (account, frozenset(scopes.split()))
        return token

    # --- internals ----------------------------------------------------------------------
    def _check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.errors.append(problem)
            raise AssertionError(f"FakeBitbucket: {problem}")

    def _error(self, status: int, error: str) -> httpx.Response:
        return httpx.Response(status, json={"error": error, "error_description": error})

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.calls["token"] += 1
        form = {k: v[-1] for k, v in parse_qs(request.content.decode()).items()}
        self._check("client_secret" not in form, "client secret in the body, not HTTP Basic")
        auth = request.headers.get("authorization", "")
        pair = base64.b64decode(auth.removeprefix("Basic ")).decode() if auth.startswith("Basic ") else ""
        if pair != f"{self.client_id}:{self.client_secret}":
            return self._error(400, "invalid_client")
        if form.get("grant_type") == "refresh_token":
            held = self._refresh.get(form.get("refresh_token", ""))
            return self._issue(*held) if held else self._error(400, "invalid_grant")
        self._check(form.get("grant_type") == "authorization_code", f"grant_type {form.get('grant_type')}")
        pending = self._codes.pop(form.get("code", ""), None)
        if pending is None:
            return self._error(400, "invalid_grant")
        account, scopes, redirect_uri, challenge = pending
        self._check(form.get("redirect_uri") == redirect_uri, "redirect_uri differs from authorize")
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        self._check(base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge,
                    "code_verifier does not match the code_challenge")
        return self._issue(account, scopes)

    def _issue(self, account: BitbucketAccount, scopes: frozenset[str]) -> httpx.Response:
        token, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self._tokens[token] = self._refresh[refresh] = (account, scopes)
        return httpx.Response(200, json={
            "access_token": token, "token_type": "bearer", "expires_in": 7200,
            "refresh_token": refresh, "scopes": " ".join(sorted(scopes)), "state": "authorization_code",
        })

    def _api(self, request: httpx.Request) -> httpx.Response:
        self.api_requests.append(request)
        path = request.url.path.removeprefix("/2.0")
        self.calls[path] += 1
        params = request.url.params
        self._check("access_token" not in params, "the token went in the query string")
        self._check(request.headers.get("accept") == "application/json", "API Accept header")
        self._check(path not in ("/teams", "/workspaces", "/user/permissions/workspaces"),
                    f"{path} is removed or deprecated (CHANGE-2770): use /user/workspaces")
        if self._failures:
            return httpx.Response(self._failures.pop(0), text="unavailable")
        auth = request.headers.get("authorization", "")
        held = self._tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        if held is None:
            return httpx.Response(401, json={"type": "error", "error": {"message": "Unauthorized"}})
        account, scopes = held
        if path == "/user":
            return httpx.Response(200, json={"type": "user", "uuid": account.uuid,
                                             "nickname": account.nickname, "display_name": "Ada L.",
                                             "account_id": "557058:ada"})
        if path == "/user/emails":
            return self._page(request, account.emails) if "email" in scopes else self._forbidden()
        if path == "/user/workspaces":
            if "team" not in scopes:
                return self._forbidden()
            q = re.fullmatch(r'workspace\.slug="([^"]+)"', params.get("q", ""))
            self._check(q is not None, f"workspace filter {params.get('q')!r}")
            assert q is not None
            found = [{"type": "workspace_access", "administrator": False,
                      "workspace": {"type": "workspace_base", "slug": w, "uuid": "{w-" + w + "}"}}
                     for w in account.workspaces if w == q[1]]
            return self._page(request, found)
        if m := re.fullmatch(r"/repositories/([^/]+)", path):
            if "repository" not in scopes:
                return self._forbidden()
            self._check(params.get("role") == "contributor", f"role {params.get('role')!r}")
            q = re.fullmatch(r'full_name="([^"]+)"', params.get("q", ""))
            self._check(q is not None, f"repository filter {params.get('q')!r}")
            assert q is not None
            # role=contributor: the repositories the user may write to
            found = [{"type": "repository", "full_name": name} for name, level in
                     account.repositories.items()
                     if name == q[1] and name.startswith(m[1] + "/") and level in ("write", "admin")]
            return self._page(request, found)
        return httpx.Response(404, json={"type": "error", "error": {"message": "Not found"}})

    def _forbidden(self) -> httpx.Response:
        return httpx.Response(403, json={"type": "error", "error": {"message": "Access denied: scope"}})

    def _page(self, request: httpx.Request, items: list[dict[str, Any]]) -> httpx.Response:
        params = request.url.params
        pagelen = min(int(params.get("pagelen", "10")), self.max_pagelen)
        page = int(params.get("page", "1"))
        body: dict[str, Any] = {"pagelen": pagelen, "page": page, "size": len(items),
                                "values": items[(page - 1) * pagelen: page * pagelen]}
        if page * pagelen < len(items):
            body["next"] = str(request.url.copy_set_param("page", str(page + 1)))
        if self.next_override is not None and "next" in body:
            body["next"] = self.next_override
        return httpx.Response(200, json=body)
