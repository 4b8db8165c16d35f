"""oauth2-proxy's `redis_connection_url = "unix:///path/redis.sock"` (go-redis' ParseURL reads
the unix scheme, `?db=N` included): sessions are kept in that Redis, over the socket."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from authsvc.config.sources import ConfigInput, check
from tests.support.auth_app import AuthApp
from tests.support.redis_servers import RedisServer, free_port, server_args

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

COOKIE = "OQINaROshtE9TcZkNAm-5Zs2Pv3xaWytBmc5W7sPX7w="


@pytest.fixture(scope="module")
def unix_redis() -> Iterator[tuple[RedisServer, str]]:
    # a short directory: a socket path may be ~100 bytes at most
    workdir = Path(tempfile.mkdtemp(prefix="rsock"))
    socket = str(workdir / "redis.sock")
    server = RedisServer(workdir, free_port(), ["--unixsocket", socket, "--unixsocketperm", "700",
                                                *server_args(False)]).start()
    try:
        yield server, socket
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def test_sessions_live_in_redis_behind_a_unix_socket(tmp_path: Path,
                                                           unix_redis: tuple[RedisServer, str]) -> None:
    _, socket = unix_redis
    cfg = tmp_path / "oauth2-proxy.cfg"
    options = {"provider": "oidc", "oidc_issuer_url": "https://idp.example", "client_id": "c",
               "client_secret": "s", "cookie_secret": COOKIE, "email_domains": ["*"],
               "session_store_type": "redis", "redis_connection_url": f"unix://{socket}?db=3"}
    cfg.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in options.items()))
    checked = check(ConfigInput(str(cfg)), environ={})
    assert checked.report is not None, checked.errors
    async with AuthApp.start(checked.report.settings) as app:
        cookie = await app.cookie(email="ada@example.com")
        assert (await app.auth(cookie=cookie)).status_code == 202
        assert (await app.auth()).status_code == 401
    client = Redis.from_url(f"unix://{socket}?db=3")
    try:
        keys = [key async for key in client.scan_iter("_oauth2_proxy:*")]
        assert keys, "the session was not stored in database 3 of the socket's Redis"
    finally:
        await client.aclose()
