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
    store_options,
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


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Each store in turn: (name, settings overrides)."""
    kind: str = request.param
    return kind, store_options(kind, request.getfixturevalue)
