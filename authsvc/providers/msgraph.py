"""Microsoft Graph, for one question: which groups is the signed-in user in.

Two ways to ask, by what names a group: its object id (`POST /me/getMemberObjects`, on groups
overage) or another property such as `displayName` (`GET /me/transitiveMemberOf`, as
oauth2-proxy's azure provider asks on every login: providers/azure.go at 14af2951,
getMicrosoftGraphGroupsURL).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import httpx

from ..errors import TokenError
from . import http as idp

log = logging.getLogger(__name__)

GRAPH_URL = "https://graph.microsoft.com/v1.0"
#: @odata.nextLink pages followed at most (getMemberObjects answers up to 11 000 ids in one)
MAX_PAGES = 20
#: transitiveMemberOf's largest page (Graph paging: $top up to 999)
TOP = 999
#: an Entra object id (a GUID): the form of the ids the token's `groups` claim carries
_OBJECT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


class MicrosoftGraph:
    """The few Graph calls the Entra ID provider makes, with the user's access token."""

    def __init__(self, http: httpx.AsyncClient, base_url: str = GRAPH_URL) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")
        self._origin = httpx.URL(self.base_url)

    async def member_objects(self, access_token: str) -> tuple[str, ...]:
        """Ids of the user's groups, transitively (POST /me/getMemberObjects; needs User.Read)."""
        url = httpx.URL(f"{self.base_url}/me/getMemberObjects")
        return await self._pages(access_token, url, {"securityEnabledOnly": False},
                                 lambda v: v if isinstance(v, str) else None, {},
                                 " (is User.Read in scope?)")

    async def group_names(self, access_token: str, field: str) -> tuple[str, ...]:
        """Each security group the user is in (transitively), named by its `field` property.

        GET /me/transitiveMemberOf with oauth2-proxy's query: security groups only, and
        `$filter` with `$count` is an advanced query, which Graph answers only with
        `ConsistencyLevel: eventual`. Without a permission that reads groups (User.Read alone)
        Graph returns them without their properties: those are left out, with a warning.
        """
        select = ",".join(dict.fromkeys(("displayName", "id", field)))
        # `field` is a property name (config checks it), so the query needs no escaping
        url = httpx.URL(f"{self.base_url}/me/transitiveMemberOf?$count=true"
                        f"&$filter=securityEnabled+eq+true&$select={select}&$top={TOP}")
        unnamed = idlike = 0

        def name(value: object) -> str | None:
            nonlocal unnamed, idlike
            item = value if isinstance(value, dict) else {}
            found = item.get(field)
            if isinstance(found, str) and found:
                # names join the token's ids in one list and allowed_groups may list ids: a
                # name shaped like an object id (anyone allowed to create a group may choose
                # any displayName) would pass for the group that has that id
                if _OBJECT_ID.fullmatch(found.strip()) and found != item.get("id"):
                    idlike += 1
                    return None
                return found
            unnamed += 1
            return None

        names = await self._pages(access_token, url, None, name, {"ConsistencyLevel": "eventual"},
                                  " (is GroupMember.Read.All in scope?)")
        if unnamed:
            log.warning("Microsoft Graph: %d groups without %s (is GroupMember.Read.All in scope?); "
                        "they are left out", unnamed, field)
        if idlike:
            log.warning("Microsoft Graph: %d group named like an object id but not its own by %s; "
                        "left out (it would pass for the group with that id)", idlike, field)
        return names

    async def _pages(self, access_token: str, url: httpx.URL, json: dict[str, Any] | None,
                     pick: Callable[[object], str | None], extra: dict[str, str],
                     hint: str) -> tuple[str, ...]:
        """`pick` of each `value` item, following @odata.nextLink (on Graph's own host only)."""
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json", **extra}
        out: list[str] = []
        method = "POST" if json is not None else "GET"
        for _ in range(MAX_PAGES):
            what = f"Microsoft Graph {url.path}"
            response = await idp.call(self._http, method, url, what=what, hint=hint,
                                      headers=headers, json=json)
            body = idp.json_object(response, what)
            values = body.get("value")
            if isinstance(values, list):
                out.extend(v for v in map(pick, values) if v is not None)
            nxt = body.get("@odata.nextLink")
            if not isinstance(nxt, str) or not nxt:
                return tuple(dict.fromkeys(out))
            url = httpx.URL(nxt)
            if (url.scheme, url.host) != (self._origin.scheme, self._origin.host):
                # the user's token only ever goes to Graph itself
                raise TokenError(f"Microsoft Graph sent a next page on another host: {url.host}")
            method, json = "GET", None
        log.warning("Microsoft Graph: more than %d pages of groups; the rest is ignored", MAX_PAGES)
        return tuple(dict.fromkeys(out))
