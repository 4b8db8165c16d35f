"""A fake Microsoft Graph: POST /v1.0/me/getMemberObjects (groups overage) and
GET /v1.0/me/transitiveMemberOf (groups named by another property, e.g. displayName).

It accepts only access tokens its FakeIdP issued, checks the documented requests (JSON body with
`securityEnabledOnly`; the advanced query's `ConsistencyLevel: eventual`, `$count` with
`$filter`, and a `$select` naming id and displayName), and answers
`{"@odata.context": ..., "value": [...]}`; with `page_size` it pages through `@odata.nextLink`.
Violations land in `errors` and raise AssertionError.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

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
    #: group id -> displayName (transitiveMemberOf); a group without one comes back with its id
    #: only, as Graph answers a caller that may not read groups (User.Read alone)
    names: dict[str, str] = field(default_factory=dict)

    def mount(self, router: respx.MockRouter) -> None:
        """Add our routes to a respx router."""
        router.route(url__startswith=f"{GRAPH}/me/getMemberObjects").mock(side_effect=self._handle)
        router.route(url__startswith=f"{GRAPH}/me/transitiveMemberOf").mock(side_effect=self._transitive)

    def _user(self, request: httpx.Request) -> dict[str, Any] | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return self.idp._access.get(token)  # the fake IdP's own record of what it issued

    def _transitive(self, request: httpx.Request) -> httpx.Response:
        self.calls["transitiveMemberOf"] += 1
        self.requests.append(request)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": {"code": "serviceUnavailable"}})
        user = self._user(request)
        if user is None:
            return httpx.Response(401, json={"error": {"code": "InvalidAuthenticationToken"}})
        params = request.url.params
        self._check(request.method == "GET", "transitiveMemberOf is a GET")
        self._check(request.headers.get("consistencylevel") == "eventual",
                    "$count/$filter is an advanced query: ConsistencyLevel: eventual")
        self._check(params.get("$count") == "true" and params.get("$filter") == "securityEnabled eq true",
                    f"not oauth2-proxy's security-group query: {request.url.query!r}")
        select = params.get("$select", "").split(",")
        self._check({"id", "displayName"} <= set(select), f"$select {select}")
        ids = self.groups.get(str(user["sub"]), [])
        skip = int(params.get("$skiptoken", "0"))
        size = self.page_size or len(ids) or 1
        items: list[dict[str, str]] = []
        for gid in ids[skip : skip + size]:
            item = {"@odata.type": "#microsoft.graph.group", "id": gid}
            if gid in self.names:
                item["displayName"] = self.names[gid]
            items.append(item)
        body: dict[str, object] = {"@odata.context": f"{GRAPH}/$metadata#directoryObjects", "value": items}
        if skip + size < len(ids):
            rest = request.url.copy_remove_param("$skiptoken")
            body["@odata.nextLink"] = f"{rest}&$skiptoken={skip + size}"
        return httpx.Response(200, json=body)

    def _check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.errors.append(problem)
            raise AssertionError(f"FakeGraph: {problem}")

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.calls["getMemberObjects"] += 1
        self.requests.append(request)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": {"code": "serviceUnavailable"}})
        user = self._user(request)
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
