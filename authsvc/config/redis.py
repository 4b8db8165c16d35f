"""The Redis session store: standalone, Sentinel or Cluster (oauth2-proxy's option names)."""

from __future__ import annotations

import re
import ssl
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator

from .loading import CommaList, Duration, Problems, parse_duration

_REDIS_URL = re.compile(r"^rediss?://[^\s/?#]*[^\s/?#@:](:\d{1,5})?(/\d{0,2})?$")
#: a Unix socket, as go-redis' ParseURL (oauth2-proxy) and redis-py's from_url both read it:
#: `unix://[user:pass@]/path/to/redis.sock[?db=N]`
_UNIX_URL = re.compile(r"^unix://([^\s/?#@]*@)?/[^\s?#]+(\?db=\d{1,2})?$")


class RedisOptions(BaseModel):
    """Where the Redis deployment is, how to authenticate, and how long to wait for it."""

    redis_connection_url: str = Field(
        "",
        description=(
            "`redis://[user:pass@]host:port[/db]`, `rediss://` for TLS, or "
            "`unix:///path/to/redis.sock[?db=N]`"
        ),
        json_schema_extra={"default_note": "(required for standalone Redis)"},
    )
    redis_use_sentinel: bool = Field(
        False,
        description="find the master through Redis Sentinel (excludes `redis_use_cluster`)",
    )
    redis_sentinel_master_name: str = Field(
        "",
        description="the master's name at the sentinels",
        json_schema_extra={"default_note": "(required with Sentinel)"},
    )
    redis_sentinel_connection_urls: CommaList = Field(
        default_factory=list,
        description=(
            "sentinel addresses, `redis://host:26379,...` (the first URL's `/db` selects "
            "the database)"
        ),
    )
    redis_sentinel_password: SecretStr = Field(
        SecretStr(""),
        description="password of the sentinels themselves (`redis_password` is the master's)",
    )
    redis_use_cluster: bool = Field(
        False,
        description="talk to a Redis Cluster (excludes `redis_use_sentinel`)",
    )
    redis_cluster_connection_urls: CommaList = Field(
        default_factory=list,
        description="one or more cluster nodes, `redis://host:port,...`",
    )
    redis_username: str = Field(
        "",
        description="Redis ACL user",
    )
    redis_password: SecretStr = Field(
        SecretStr(""),
        description="Redis password",
    )
    redis_ca_path: str = Field(
        "",
        description="CA bundle for `rediss://`",
    )
    redis_insecure_skip_tls_verify: bool = Field(
        False,
        description="do not verify the Redis server's certificate (testing only)",
    )
    redis_connect_timeout: Duration = Field(
        1.0,
        description="how long opening a Redis connection may take",
    )
    redis_command_timeout: Duration = Field(
        0.5,
        description=(
            "how long one Redis command may take; a request fails with `503` after at "
            "most 2 x (connect + command) timeouts, never hangs"
        ),
    )

    @field_validator("redis_connect_timeout", "redis_command_timeout", mode="before")
    @classmethod
    def _redis_durations(cls, value: object) -> float:
        return parse_duration(value)

    # Called by `Settings` only when session_store_type = redis: unused Redis options are not errors.
    def check_redis(self, problems: Problems) -> None:
        """The Redis options must name one reachable deployment: standalone, Sentinel or Cluster."""
        if self.redis_use_sentinel and self.redis_use_cluster:
            problems.add("redis_use_sentinel", "and redis_use_cluster exclude each other")
        elif self.redis_use_sentinel and not self.redis_sentinel_master_name:
            problems.add("redis_sentinel_master_name", "is required with redis_use_sentinel")
        if self.redis_use_sentinel:
            urls, option = self.redis_sentinel_connection_urls, "redis_sentinel_connection_urls"
        elif self.redis_use_cluster:
            urls, option = self.redis_cluster_connection_urls, "redis_cluster_connection_urls"
        else:
            urls, option = [u for u in [self.redis_connection_url] if u], "redis_connection_url"
        if not urls:
            problems.add(option, "is required with session_store_type = redis")
        standalone = option == "redis_connection_url"
        bad = [url for url in urls if not (_REDIS_URL.match(url) or (standalone and _UNIX_URL.match(url)))]
        if bad:
            also = " or unix:///path/to/redis.sock" if standalone else " (a Unix socket only for standalone)"
            problems.add(option, f"{mask_urls(bad[0])!r} is not redis://host:port or rediss://...{also}")
        for timeout in ("redis_connect_timeout", "redis_command_timeout"):
            if getattr(self, timeout) <= 0:
                problems.add(timeout, "must be greater than 0 (e.g. 1s, 500ms)")
        if self.redis_ca_path:
            # read only when the first rediss:// connection is made: a bad path would fail
            # every request with 503 instead of stopping start-up
            try:
                ssl.create_default_context(cafile=self.redis_ca_path)
            except (OSError, ssl.SSLError) as exc:
                problems.add("redis_ca_path", f"{self.redis_ca_path!r} is not a readable PEM CA file "
                             f"({getattr(exc, 'strerror', None) or exc})")


def mask_urls(value: object) -> Any:
    """Redis URLs with any password replaced by ****."""
    if isinstance(value, list):
        return [mask_urls(v) for v in value]
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1****@", value) if isinstance(value, str) else value
