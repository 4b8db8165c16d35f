"""GitLab (gitlab.com or self-hosted): OpenID Connect at the instance URL, plus group and
project restrictions.

Groups come from the OIDC userinfo `groups` claim: the full paths of every group the user is a
member of, directly or through an ancestor group (so `acme` members also match `acme/ops`).
Projects are asked of the REST API (`GET /api/v4/projects/:path`, scope `read_api`); a project
where the user has at least the configured access level becomes the group `project:<path>`.
With gitlab_group or gitlab_project set, the user must match at least one of them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx

from ..clock import Clock
from ..config import Settings
from ..config.provider_specific import gitlab_projects
from ..errors import TokenError
from ..models import Identity
from . import http as idp
from .idtoken import Claims
from .oidc import OIDCProvider


class GitLabProvider(OIDCProvider):
    """Sign in with GitLab; `gitlab_group` / `gitlab_project` restrict who may."""

    name = "GitLab"

    def __init__(self, settings: Settings, http: httpx.AsyncClient, clock: Clock) -> None:
        base = settings.gitlab_base_url.rstrip("/")
        self._projects = gitlab_projects(settings)
        update: dict[str, Any] = {"oidc_issuer_url": base}
        if "scope" not in settings.model_fields_set:
            # read_api only when projects must be looked up: it reads everything the user can
            update["scope"] = "openid email profile" + (" read_api" if self._projects else "")
        super().__init__(settings.model_copy(update=update), http, clock)
        self.api_url = f"{base}/api/v4"
        self._groups = frozenset(g.strip("/").lower() for g in settings.gitlab_group)

    async def _identity(self, claims: Claims, access_token: str) -> Identity:
        """The OIDC identity (groups from userinfo), plus projects, then the restrictions."""
        identity = await super()._identity(claims, access_token)
        groups = list(identity.groups)
        for path, level in self._projects:
            if await self._access_level(path, access_token) >= level:
                groups.append(f"project:{path}")
        if self._groups or self._projects:
            have = {g.lower() for g in groups}
            wanted = self._groups | {f"project:{path.lower()}" for path, _ in self._projects}
            if not have & wanted:
                who = identity.preferred_username or identity.user
                raise TokenError(f"GitLab user {who!r} is in none of gitlab_group / gitlab_project")
        return replace(identity, groups=tuple(groups))

    async def _access_level(self, path: str, access_token: str) -> int:
        """The user's access level in project `path` (0: none, unknown or archived)."""
        # the API takes a project path URL-encoded, slashes included
        url = f"{self.api_url}/projects/{quote(path, safe='')}"
        what = "GitLab API /projects"
        response = await idp.call(
            self._http, "GET", url, what=what, ok=(200, 404), hint=" (is read_api in scope?)",
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )  # fmt: skip
        if response.status_code == 404:
            return 0  # not visible to this user, or no such project
        project = idp.json_value(response, what)
        if not isinstance(project, dict) or project.get("archived") is True:
            return 0
        perms = project.get("permissions")
        levels = [0]
        for kind in ("project_access", "group_access"):
            access = perms.get(kind) if isinstance(perms, dict) else None
            if isinstance(access, dict) and isinstance(access.get("access_level"), int):
                levels.append(access["access_level"])
        return max(levels)
