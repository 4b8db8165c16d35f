"""The Redis store over TLS (rediss://, a CA file, skip-verify) and with an ACL user and password."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from authsvc.errors import StoreUnavailable
from authsvc.sessions import RedisSessionStore
from tests.conftest import make_settings
from tests.support.fake_idp import ManualClock
from tests.support.redis_servers import HOST, RedisServer
from tests.support.redis_tls import start_secured
from tests.support.sessions import NOW, session

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

USER, PASSWORD = "authsvc", "s3cret-pw"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, Path]]:
    server, ca = start_secured(tmp_path_factory.mktemp("redis-tls"), USER, PASSWORD)
    yield server, ca
    server.stop()


def store(server: RedisServer, **options: Any) -> RedisSessionStore:
    defaults = {"redis_username": USER, "redis_password": PASSWORD}
    settings = make_settings(
        session_store_type="redis", redis_connection_url=f"rediss://{HOST}:{server.port}",
        **{**defaults, **options},
    )  # fmt: skip
    return RedisSessionStore(settings, ManualClock(NOW))


@pytest.mark.parametrize("verify", ["ca-file", "skip-verify"])
async def test_tls_with_acl_user_round_trip(secured: tuple[RedisServer, Path], verify: str) -> None:
    server, ca = secured
    options = {"redis_ca_path": str(ca)} if verify == "ca-file" else {"redis_insecure_skip_tls_verify": True}
    s = store(server, **options)
    try:
        value = await s.save(session())
        assert await s.load(value) == session()
    finally:
        await s.close()


@pytest.mark.parametrize(
    "options",
    [
        {},  # the self-signed certificate is not trusted without the CA file
        {"redis_insecure_skip_tls_verify": True, "redis_password": "wrong"},
        {"redis_insecure_skip_tls_verify": True, "redis_username": "default"},
    ],
    ids=["untrusted-certificate", "wrong-password", "disabled-user"],
)
async def test_refused_connections_are_store_unavailable(
    secured: tuple[RedisServer, Path], options: dict[str, Any]
) -> None:
    s = store(secured[0], **options)
    try:
        with pytest.raises(StoreUnavailable):
            await s.ping()
    finally:
        await s.close()
