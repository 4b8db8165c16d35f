"""Microsoft Graph, for one question: which groups is the signed-in user in (groups overage)."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from ..errors import ProviderUnavailable, TokenError
from ..jsonin import response_json
from .metadata import HTTP_TIMEOUT

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
        request = self._http.build_request(
            "POST", f"{self.base_url}/me/getMemberObjects", headers=headers,
            json={"securityEnabledOnly": False}, timeout=HTTP_TIMEOUT,
        )
        for _ in range(MAX_PAGES):
            body = await self._send(request)
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
            request = self._http.build_request("GET", url, headers=headers, timeout=HTTP_TIMEOUT)
        log.warning("Microsoft Graph: more than %d pages of groups; the rest is ignored", MAX_PAGES)
        return tuple(ids)

    async def _send(self, request: httpx.Request) -> dict[str, Any]:
        try:
            response = await self._http.send(request)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"Microsoft Graph: {type(exc).__name__}") from None
        status = response.status_code
        if status >= 500 or status == 429:  # 429: throttled, try again later
            raise ProviderUnavailable(f"Microsoft Graph {request.url.path}: HTTP {status}")
        if status != 200:
            hint = " (is User.Read in scope?)" if status in (401, 403) else ""
            raise TokenError(f"Microsoft Graph {request.url.path}: HTTP {status}{hint}")
        try:
            body = response_json(response)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise TokenError(f"Microsoft Graph {request.url.path}: the answer is not a JSON object")
        return body
