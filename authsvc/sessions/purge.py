"""Revoke nginx's cached decision for a session: a PURGE to each `nginx_cache_purge_url`.

nginx may cache `/oauth2/auth`'s 2xx keyed by the session cookie (`proxy_cache_key
$cookie__authsvc`, examples/nginx/README.md). Ending the session in its store does not reach that
cache, so sign-out and refresh ask every nginx replica to drop the entry (ngx_cache_purge's
`proxy_cache_purge <zone> $cookie__authsvc`): the purge request carries the session cookie, so
nginx builds the same key from the same variable. The cookie value is never logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import httpx

log = logging.getLogger("authsvc.purge")

#: seconds one purge may take: sign-out waits for it (loopback or the same pod, normally < 1 ms)
PURGE_TIMEOUT = 2.0


class CachePurge:
    """Drops a session's cached decision from every nginx replica's cache."""

    def __init__(self, urls: Sequence[str], cookie_name: str, http: httpx.AsyncClient) -> None:
        self._urls = tuple(urls)
        self._cookie = cookie_name
        self._http = http

    @property
    def enabled(self) -> bool:
        return bool(self._urls)

    async def purge(self, value: str) -> bool:
        """PURGE `value`'s entry everywhere; whether every replica confirmed (200: purged, 404:
        nothing cached). Unconfigured: True (there is no cache authsvc knows of)."""
        if not self._urls or not value:
            return True
        results = await asyncio.gather(*(self._one(url, value) for url in self._urls))
        return all(results)

    async def _one(self, url: str, value: str) -> bool:
        try:
            # only the status matters: the body is never read (it could be of any size)
            async with self._http.stream(
                "PURGE", url, headers={"cookie": f"{self._cookie}={value}"}, timeout=PURGE_TIMEOUT
            ) as response:
                status = response.status_code
        except httpx.HTTPError as exc:
            log.warning("cache purge at %s failed: %s", url, type(exc).__name__,
                        extra={"outcome": "error", "reason": "cache_purge_failed"})  # fmt: skip
            return False
        if status not in (200, 404):
            log.warning("cache purge at %s answered HTTP %d", url, status,
                        extra={"outcome": "error", "reason": "cache_purge_failed"})  # fmt: skip
            return False
        return True
