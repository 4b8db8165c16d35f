"""One Redis client from settings: standalone, Sentinel or Cluster; auth, TLS and timeouts.

Every call goes through `guarded`, which bounds it by the configured timeouts and turns any
Redis or socket error into StoreUnavailable (503), so a dead or hung Redis can never hang a
request. The client reconnects by itself: a broken pooled connection is dropped and the next
call opens a new one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError
from redis.retry import Retry

from ..config.redis import RedisOptions
from ..errors import StoreUnavailable

log = logging.getLogger("authsvc.redis")

T = TypeVar("T")
RedisClient = Redis | RedisCluster


def _tls(settings: RedisOptions, urls: list[str], from_url: bool = False) -> dict[str, Any]:
    """TLS keyword arguments when the URLs say rediss:// (from_url picks TLS by the scheme)."""
    if not any(u.startswith("rediss://") for u in urls):
        return {}
    options: dict[str, Any] = {} if from_url else {"ssl": True}
    if settings.redis_ca_path:
        options["ssl_ca_certs"] = settings.redis_ca_path
    if settings.redis_insecure_skip_tls_verify:
        options["ssl_cert_reqs"] = "none"
        options["ssl_check_hostname"] = False
    return options


def _common(settings: RedisOptions) -> dict[str, Any]:
    """Connection options shared by every topology."""
    options: dict[str, Any] = {
        "socket_connect_timeout": settings.redis_connect_timeout,
        "socket_timeout": settings.redis_command_timeout,
        # one immediate retry on a fresh connection: after a Redis restart every pooled
        # connection is dead, and the first call on each should not fail the request
        "retry": Retry(NoBackoff(), 1),
        "health_check_interval": 0,
    }
    if settings.redis_username:
        options["username"] = settings.redis_username
    if settings.redis_password.get_secret_value():
        options["password"] = settings.redis_password.get_secret_value()
    return options


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379


def _url_db(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    return int(path) if path.isdigit() else 0


def create_client(settings: RedisOptions) -> RedisClient:
    """The client for the configured topology; nothing connects until the first call."""
    common = _common(settings)
    if settings.redis_use_cluster:
        urls = settings.redis_cluster_connection_urls
        nodes = [ClusterNode(*_host_port(u)) for u in urls]
        return RedisCluster(
            startup_nodes=nodes, **common, **_tls(settings, urls)
        )
    if settings.redis_use_sentinel:
        urls = settings.redis_sentinel_connection_urls
        sentinel_auth: dict[str, Any] = dict(_tls(settings, urls))
        if settings.redis_sentinel_password.get_secret_value():
            sentinel_auth["password"] = settings.redis_sentinel_password.get_secret_value()
        sentinel_kwargs = {
            "socket_connect_timeout": settings.redis_connect_timeout,
            "socket_timeout": settings.redis_command_timeout,
            **sentinel_auth,
        }
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            [_host_port(u) for u in urls], sentinel_kwargs=sentinel_kwargs,
            **common, **_tls(settings, urls),
        )  # fmt: skip
        # the sentinel URL's /db is the master's database (oauth2-proxy #2052 ignores it)
        master: Redis = sentinel.master_for(
            settings.redis_sentinel_master_name, db=_url_db(urls[0])
        )
        return master
    url = settings.redis_connection_url
    return Redis.from_url(url, **common, **_tls(settings, [url], from_url=True))


class Guard:
    """Runs Redis calls under one deadline; every failure becomes StoreUnavailable."""

    def __init__(self, settings: RedisOptions) -> None:
        # a connect, then a command, then the one retry's connect and command
        self.deadline = 2 * (settings.redis_connect_timeout + settings.redis_command_timeout)

    async def __call__(self, what: str, call: Awaitable[T]) -> T:
        """Await `call`; StoreUnavailable (logged) on an error or after the deadline."""
        try:
            async with asyncio.timeout(self.deadline):
                return await call
        # RedisClusterException (no reachable node) is not a RedisError
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            reason = f"redis {what}: {type(exc).__name__}: {str(exc)[:120]}"
            log.error("session store unavailable: %s", reason)
            raise StoreUnavailable(reason) from None
