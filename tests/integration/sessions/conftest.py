"""Real Redis deployments for the session-store tests, started once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.redis_servers import (
    ClusterSetup,
    RedisServer,
    SentinelSetup,
    start_cluster,
    start_sentinel,
    start_standalone,
)

STORES = ["cookie", "redis", "sentinel", "cluster"]


@pytest.fixture(scope="session")
def redis_standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A standalone redis-server on a free port."""
    server = start_standalone(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelSetup]:
    """A master and a sentinel."""
    setup = start_sentinel(tmp_path_factory.mktemp("sentinel"))
    yield setup
    setup.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterSetup]:
    """A 3-master Redis Cluster."""
    setup = start_cluster(tmp_path_factory.mktemp("cluster"))
    yield setup
    setup.stop()


def store_options(kind: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings overrides selecting one store (starting its Redis deployment on first use)."""
    if kind == "cookie":
        return {"session_store_type": "cookie"}
    if kind == "redis":
        server: RedisServer = request.getfixturevalue("redis_standalone")
        return {"session_store_type": "redis", "redis_connection_url": server.url}
    if kind == "sentinel":
        sentinel: SentinelSetup = request.getfixturevalue("redis_sentinel")
        return {
            "session_store_type": "redis",
            "redis_use_sentinel": True,
            "redis_sentinel_master_name": sentinel.master_name,
            "redis_sentinel_connection_urls": sentinel.sentinel.url,
        }
    cluster: ClusterSetup = request.getfixturevalue("redis_cluster")
    return {
        "session_store_type": "redis",
        "redis_use_cluster": True,
        "redis_cluster_connection_urls": ",".join(cluster.urls),
    }


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Each store in turn: (name, settings overrides)."""
    kind: str = request.param
    return kind, store_options(kind, request)
