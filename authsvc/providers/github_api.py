"""GitHub's REST API, the parts the GitHub provider needs: user, e-mails, orgs, teams, repos.

Every call sends the documented media type and API version. Failures map to our errors:
no answer, 5xx or a rate limit is ProviderUnavailable (try again later); anything else GitHub
refuses is a TokenError (the login is refused).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import httpx

from ..errors import ProviderUnavailable, TokenError
from ..jsonin import response_json
from . import http as idp

log = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"
PER_PAGE = 100
#: pages followed per list (10 000 orgs or teams); a longer list is cut short and logged
MAX_PAGES = 100


class GitHubAPI:
    """A small client for api.github.com (or a GitHub Enterprise Server's /api/v3)."""

    def __init__(self, http: httpx.AsyncClient, api_url: str) -> None:
        self._http = http
        self.api_url = api_url.rstrip("/")
        self._origin = httpx.URL(self.api_url)

    async def request(
        self, method: str, path: str, token: str, ok: tuple[int, ...] = (200,)
    ) -> httpx.Response:
        """One API call; a status outside `ok` is mapped to our errors."""
        url = path if path.startswith(("https://", "http://")) else self.api_url + path
        headers = {
            "Accept": MEDIA_TYPE,
            "X-GitHub-Api-Version": API_VERSION,
            "Authorization": f"Bearer {token}",
            "User-Agent": "authsvc",
        }
        path = httpx.URL(url).path
        what = f"GitHub API {path}"
        response = await idp.send(self._http, method, url, what=what, headers=headers)
        status = response.status_code
        # docs.github.com "Rate limits for the REST API": a 403 with none remaining is a 429
        if status == 403 and response.headers.get("x-ratelimit-remaining") == "0":
            wait = idp.retry_after(response)
            raise ProviderUnavailable(f"{what}: rate limited (HTTP 403)", retry_after=wait)
        hint = ""
        if status in (403, 404) and path.endswith(("/user/orgs", "/user/teams", "/user/emails")):
            needed = "user:email" if path.endswith("/emails") else "read:org"
            hint = f" (does the scope include {needed}?)"
        return idp.check(response, what, ok=ok, hint=hint)

    async def get_json(self, path: str, token: str) -> Any:
        """GET a JSON document (TokenError when it is not JSON)."""
        response = await self.request("GET", path, token)
        return idp.json_value(response, f"GitHub API {path}")

    async def pages(self, path: str, token: str) -> list[dict[str, Any]]:
        """Every item of a paginated list, following `Link: <...>; rel="next"`."""
        items: list[dict[str, Any]] = []
        url: str | None = f"{self.api_url}{path}?per_page={PER_PAGE}"
        for _ in range(MAX_PAGES):
            if url is None:
                return items
            response = await self.request("GET", url, token)
            page = idp.json_value(response, f"GitHub API {path}")
            if not isinstance(page, list):
                raise TokenError(f"GitHub API {path}: the answer is not a JSON list")
            items.extend(item for item in page if isinstance(item, dict))
            url = self._next(response)
        log.warning("GitHub API %s: more than %d pages; the rest is ignored", path, MAX_PAGES)
        return items

    def _next(self, response: httpx.Response) -> str | None:
        """The rel="next" URL, only on the API's own origin (the token goes along)."""
        url = response.links.get("next", {}).get("url")
        if not url:
            return None
        nxt = httpx.URL(url)
        if (nxt.scheme, nxt.host, nxt.port) != (self._origin.scheme, self._origin.host, self._origin.port):
            log.warning("GitHub API: ignoring a next page on another origin: %s", nxt.host)
            return None
        return url

    # --- the calls the provider makes ---------------------------------------------------
    async def user(self, token: str) -> tuple[int, str]:
        """(id, login) of the token's user."""
        data = await self.get_json("/user", token)
        if not isinstance(data, dict) or not isinstance(data.get("login"), str):
            raise TokenError("GitHub API /user: no login in the answer")
        uid = data.get("id")
        return (uid if isinstance(uid, int) else 0), data["login"]

    async def primary_email(self, token: str) -> str:
        """The primary e-mail address if it is verified, else "" (needs scope user:email)."""
        data = await self.get_json("/user/emails", token)
        for entry in data if isinstance(data, list) else []:
            if isinstance(entry, dict) and entry.get("primary") is True:
                email = entry.get("email")
                return email if entry.get("verified") is True and isinstance(email, str) else ""
        return ""

    async def orgs(self, token: str) -> list[str]:
        """Logins of the user's organisations (needs scope read:org)."""
        return [o["login"] for o in await self.pages("/user/orgs", token)
                if isinstance(o.get("login"), str)]

    async def teams(self, token: str) -> list[tuple[str, str]]:
        """(org login, team slug) of the user's teams (needs scope read:org)."""
        out = []
        for team in await self.pages("/user/teams", token):
            org = team.get("organization")
            if isinstance(org, dict) and isinstance(org.get("login"), str) and isinstance(
                team.get("slug"), str
            ):
                out.append((org["login"], team["slug"]))
        return out

    async def is_collaborator(self, repo: str, login: str, token: str) -> bool:
        """Whether `login` collaborates on `repo` (asked with a token that may see it)."""
        path = f"/repos/{repo}/collaborators/{quote(login, safe='')}"
        # documented answers: 204 is a collaborator, 404 is not
        response = await self.request("GET", path, token, ok=(204, 404))
        return response.status_code == 204

    async def can_use_repo(self, repo: str, token: str) -> bool:
        """Whether the user may push to `repo`, or pull from it when it is private."""
        response = await self.request("GET", f"/repos/{repo}", token, ok=(200, 404))
        if response.status_code == 404:
            return False  # private repositories the user cannot see answer 404
        try:
            data = response_json(response)
        except ValueError:
            return False
        perms = data.get("permissions") if isinstance(data, dict) else None
        if not isinstance(perms, dict):
            return False
        # anyone can pull a public repository, so only push counts there (as in oauth2-proxy)
        return perms.get("push") is True or (data.get("private") is True and perms.get("pull") is True)
