"""Microsoft Graph, for one question: which groups is the signed-in user in (groups overage)."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from ..errors import TokenError
from . import http as idp

log = logging.getLogger(__name__)

GRAPH_URL = "https://graph.microsoft.com/v1.0"
#: @odata.nextLink pages followed at most (getMemberObjects answers up to 11 000 ids in one)
MAX_PAGES = 20


class MicrosoftGraph:
    """The few Graph calls the Entra ID provider makes, with the user's access token."""

    def __init__(self, http: httpx.AsyncClient, base_url: str = GRAPH_URL) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")
        self._origin = httpx.URL(self.base_url)

    async def member_objects(self, access_token: str) -> tuple[str, ...]:
        """Ids of the user's groups, transitively (POST /me/getMemberObjects; needs User.Read)."""
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        ids: list[str] = []
        method, url = "POST", httpx.URL(f"{self.base_url}/me/getMemberObjects")
        json: dict[str, Any] | None = {"securityEnabledOnly": False}
        for _ in range(MAX_PAGES):
            what = f"Microsoft Graph {url.path}"
            response = await idp.call(
                self._http, method, url, what=what, hint=" (is User.Read in scope?)",
                headers=headers, json=json,
            )  # fmt: skip
            body = idp.json_object(response, what)
            values = body.get("value")
            if isinstance(values, list):
                ids.extend(v for v in values if isinstance(v, str))
            nxt = body.get("@odata.nextLink")
            if not isinstance(nxt, str) or not nxt:
                return tuple(ids)
            url = httpx.URL(nxt)
            if (url.scheme, url.host) != (self._origin.scheme, self._origin.host):
                # the user's token only ever goes to Graph itself
                raise TokenError(f"Microsoft Graph sent a next page on another host: {url.host}")
            method, json = "GET", None
        log.warning("Microsoft Graph: more than %d pages of groups; the rest is ignored", MAX_PAGES)
        return tuple(ids)
