"""A fake GitLab REST API (`GET /api/v4/projects/:id`) next to a FakeIdP playing GitLab's OIDC.

Projects are found by URL-encoded path (`acme%2Fapp`, as GitLab requires) and answered with the
documented `permissions.project_access` / `group_access` shape for the token's user; 404 when
the user cannot see the project; 401 for a token the IdP never issued.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx
import respx

from tests.support.fake_idp import FakeIdP


@dataclass
class FakeGitLabAPI:
    """Projects by path; members by the user's `sub` -> (project level, group level)."""

    idp: FakeIdP
    projects: dict[str, dict[str, tuple[int | None, int | None]]] = field(default_factory=dict)
    archived: set[str] = field(default_factory=set)
    status: int = 200
    calls: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def mount(self, router: respx.MockRouter) -> None:
        """Add our route to a respx router."""
        router.get(url__startswith=f"{self.idp.issuer}/api/v4/projects/").mock(side_effect=self._project)

    def _check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.errors.append(problem)
            raise AssertionError(f"FakeGitLabAPI: {problem}")

    def _project(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        raw = request.url.raw_path.decode().split("/api/v4/projects/", 1)[1]
        self._check("/" not in raw, f"project path not URL-encoded: {raw}")
        path = unquote(raw)
        self.calls[path] += 1
        if self.status != 200:
            return httpx.Response(self.status, json={"message": "unavailable"})
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        user = self.idp._access.get(token)  # the fake IdP's record of what it issued
        if user is None:
            return httpx.Response(401, json={"message": "401 Unauthorized"})
        members = self.projects.get(path)
        if members is None or str(user["sub"]) not in members:
            return httpx.Response(404, json={"message": "404 Project Not Found"})
        project_level, group_level = members[str(user["sub"])]
        body: dict[str, Any] = {
            "id": 42, "path_with_namespace": path, "archived": path in self.archived,
            "permissions": {
                "project_access": None if project_level is None
                else {"access_level": project_level, "notification_level": 3},
                "group_access": None if group_level is None
                else {"access_level": group_level, "notification_level": 3},
            },
        }
        return httpx.Response(200, json=body)
