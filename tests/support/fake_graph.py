"""A fake Microsoft Graph for the groups overage: POST /v1.0/me/getMemberObjects.

It accepts only access tokens its FakeIdP issued, checks the documented request (JSON body with
`securityEnabledOnly`), and answers `{"@odata.context": ..., "value": [ids]}`; with `page_size`
it pages through `@odata.nextLink`. Violations land in `errors` and raise AssertionError.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import httpx
import respx

from tests.support.fake_idp import FakeIdP

GRAPH = "https://graph.microsoft.com/v1.0"
_CONTEXT = f"{GRAPH}/$metadata#Collection(Edm.String)"


@dataclass
class FakeGraph:
    """Group memberships by the user's `sub`, served to that user's access token."""

    idp: FakeIdP
    groups: dict[str, list[str]] = field(default_factory=dict)
    #: 0: everything in one answer (getMemberObjects' documented shape); else ids per page
    page_size: int = 0
    #: answer every request with this status instead (e.g. 503, 403)
    status: int = 200
    calls: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def mount(self, router: respx.MockRouter) -> None:
        """Add our routes to a respx router."""
        router.route(url__startswith=f"{GRAPH}/me/getMemberObjects").mock(side_effect=self._handle)

    def _check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.errors.append(problem)
            raise AssertionError(f"FakeGraph: {problem}")

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.calls["getMemberObjects"] += 1
        self.requests.append(request)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": {"code": "serviceUnavailable"}})
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        user = self.idp._access.get(token)  # the fake IdP's own record of what it issued
        if user is None:
            return httpx.Response(401, json={"error": {"code": "InvalidAuthenticationToken",
                                                       "message": "Access token validation failure."}})
        ids = self.groups.get(str(user["sub"]), [])
        skip = int(request.url.params.get("$skiptoken", "0"))
        if skip == 0:
            self._check(request.method == "POST", "getMemberObjects is a POST")
            self._check(request.headers.get("content-type") == "application/json", "not JSON")
            self._check(json.loads(request.content) == {"securityEnabledOnly": False},
                        f"unexpected body {request.content!r}")
        else:
            self._check(request.method == "GET", "@odata.nextLink is fetched with GET")
        size = self.page_size or len(ids) or 1
        body: dict[str, object] = {"@odata.context": _CONTEXT, "value": ids[skip : skip + size]}
        if skip + size < len(ids):
            body["@odata.nextLink"] = f"{GRAPH}/me/getMemberObjects?$skiptoken={skip + size}"
        return httpx.Response(200, json=body)
