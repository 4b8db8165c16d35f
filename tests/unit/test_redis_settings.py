"""Settings of the Redis store and of sign-out: validation names the option at fault."""

from __future__ import annotations

from typing import Any

import pytest

from authsvc.errors import ConfigError
from authsvc.sessions.redis_client import Guard, create_client
from tests.conftest import make_settings

REDIS = {"session_store_type": "redis"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "redis_connection_url .* is required"),
        ({"redis_connection_url": "http://redis:6379"}, "redis_connection_url .* is not redis://"),
        ({"redis_connection_url": "redis://"}, "is not redis://"),
        ({"redis_use_sentinel": True, "redis_use_cluster": True}, "exclude each other"),
        ({"redis_use_sentinel": True, "redis_sentinel_connection_urls": "redis://s:26379"},
         "redis_sentinel_master_name .* is required"),
        ({"redis_use_sentinel": True, "redis_sentinel_master_name": "m"},
         "redis_sentinel_connection_urls .* is required"),
        ({"redis_use_cluster": True}, "redis_cluster_connection_urls .* is required"),
        ({"redis_connection_url": "redis://r:6379", "redis_command_timeout": "0s"},
         "redis_command_timeout .* greater than 0"),
        ({"redis_connection_url": "redis://r:6379", "redis_connect_timeout": "soon"},
         "redis_connect_timeout"),
    ],
)  # fmt: skip
def test_invalid_redis_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_settings(**REDIS, **options)


def test_redis_options_are_ignored_by_the_cookie_store() -> None:
    make_settings(redis_use_sentinel=True, redis_use_cluster=True)


def test_passwords_are_masked() -> None:
    settings = make_settings(
        **REDIS, redis_connection_url="redis://user:hunter2@r:6379/2", redis_password="pw",
    )  # fmt: skip
    masked = settings.masked()
    assert "hunter2" not in str(masked)
    assert masked["redis_connection_url"] == "redis://user:****@r:6379/2"
    assert masked["redis_password"] == "****"


def test_durations_and_deadline() -> None:
    settings = make_settings(
        **REDIS, redis_connection_url="redis://r", redis_connect_timeout="200ms",
        redis_command_timeout="100ms",
    )  # fmt: skip
    assert Guard(settings).deadline == pytest.approx(0.6)


@pytest.mark.parametrize(
    "options",
    [
        {"redis_connection_url": "rediss://r:6380/1", "redis_insecure_skip_tls_verify": True},
        {"redis_use_sentinel": True, "redis_sentinel_master_name": "m",
         "redis_sentinel_connection_urls": "redis://s1:26379,redis://s2:26379/3"},
        {"redis_use_cluster": True, "redis_cluster_connection_urls": "redis://a:7000,redis://b:7001"},
    ],
    ids=["tls", "sentinel", "cluster"],
)  # fmt: skip
def test_clients_build_without_connecting(options: dict[str, Any]) -> None:
    assert create_client(make_settings(**REDIS, redis_username="u", **options)) is not None


def test_post_logout_redirect_must_be_absolute() -> None:
    with pytest.raises(ConfigError, match="oidc_post_logout_redirect_url"):
        make_settings(oidc_post_logout_redirect_url="/bye")
