"""Revoke nginx's cached decision for a session: a PURGE to each `nginx_cache_purge_url`.

nginx may cache `/oauth2/auth`'s 2xx under a key computed from the session cookie
(`proxy_cache_key $authsvc_cache_key`, sessions/cache_key.py, examples/nginx/README.md). Ending a
session in its store does not reach that cache, so sign-out, refresh and back-channel logout ask
every nginx replica to drop the entry: `PURGE <url>` with the key in `X-Authsvc-Cache-Key`
(ngx_cache_purge's `proxy_cache_purge <zone> $http_x_authsvc_cache_key`; a header, so nginx's
access log does not show it). Neither the cookie value nor the key is ever logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qs, urlsplit

import httpx

from .cache_key import CacheKeys

log = logging.getLogger("authsvc.purge")

#: seconds one purge may take: sign-out waits for it (loopback or the same pod, normally < 1 ms)
PURGE_TIMEOUT = 2.0
#: purges in flight at once: a back-channel logout by `sub` may name many sessions, times every
#: replica; below httpx's pool (100), so none waits for a connection past PURGE_TIMEOUT
MAX_PARALLEL = 32
#: the request header that carries the key, to nginx's purge location and (from the auth
#: location) to the check
KEY_HEADER = "X-Authsvc-Cache-Key"
#: the auth location's own path ($uri), from the auth location to the check: nginx keys the
#: cache by key + location, so one location's 2xx is never another's (another rule set)
LOCATION_HEADER = "X-Authsvc-Cache-Location"


def purged_location(url: str) -> str:
    """The auth location a purge URL purges (its `location` query parameter), "" if none."""
    values = parse_qs(urlsplit(url).query).get("location", [])
    return values[0] if len(values) == 1 else ""


class CachePurge:
    """Drops sessions' cached decisions from every nginx replica's cache."""

    def __init__(self, urls: Sequence[str], keys: CacheKeys, http: httpx.AsyncClient) -> None:
        self._urls = tuple(urls)
        self.keys = keys
        #: the auth locations whose entries purges reach: only their 2xx may be cached
        self.locations = frozenset(filter(None, map(purged_location, self._urls)))
        self._http = http

    @property
    def enabled(self) -> bool:
        return bool(self._urls)

    async def purge(self, value: str) -> bool:
        """PURGE the entry of session cookie `value` everywhere (`purge_keys`)."""
        if not value:
            return True
        return await self.purge_keys([self.keys.of(value)])

    async def purge_keys(self, keys: Iterable[str]) -> bool:
        """PURGE these keys' entries everywhere; whether every replica confirmed each (200:
        purged, 404: nothing cached). Unconfigured, or no key: True (nothing to revoke)."""
        wanted = [k for k in dict.fromkeys(keys) if k]
        if not self._urls or not wanted:
            return True
        slots = asyncio.Semaphore(MAX_PARALLEL)
        results = await asyncio.gather(*(self._one(url, key, slots) for url in self._urls for key in wanted))
        return all(results)

    async def _one(self, url: str, key: str, slots: asyncio.Semaphore) -> bool:
        async with slots:
            return await self._send(url, key)

    async def _send(self, url: str, key: str) -> bool:
        try:
            # only the status matters: the body is never read (it could be of any size)
            async with self._http.stream(
                "PURGE", url, headers={KEY_HEADER: key}, timeout=PURGE_TIMEOUT
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
