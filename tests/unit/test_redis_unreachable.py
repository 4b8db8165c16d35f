"""Every topology fails closed and fast when nothing listens: StoreUnavailable, never a hang."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from authsvc.errors import StoreUnavailable
from authsvc.sessions import RedisSessionStore
from tests.conftest import make_settings
from tests.support.fake_idp import ManualClock
from tests.support.sessions import session

pytestmark = pytest.mark.anyio


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def topology(kind: str, url: str) -> dict[str, Any]:
    if kind == "standalone":
        return {"redis_connection_url": url}
    if kind == "sentinel":
        return {"redis_use_sentinel": True, "redis_sentinel_master_name": "m",
                "redis_sentinel_connection_urls": url}  # fmt: skip
    return {"redis_use_cluster": True, "redis_cluster_connection_urls": url}


@pytest.mark.parametrize("kind", ["standalone", "sentinel", "cluster"])
async def test_unreachable_redis_is_store_unavailable(kind: str) -> None:
    settings = make_settings(
        session_store_type="redis", redis_connect_timeout="200ms", redis_command_timeout="100ms",
        **topology(kind, f"redis://127.0.0.1:{closed_port()}"),
    )  # fmt: skip
    store = RedisSessionStore(settings, ManualClock())
    started = time.perf_counter()
    try:
        with pytest.raises(StoreUnavailable):
            await store.save(session())
        with pytest.raises(StoreUnavailable):
            await store.ping()
    finally:
        await store.close()
    assert time.perf_counter() - started < 2 * 0.6 + 0.5
