"""Shared fixtures. Add yours with a small edit; keep the others'."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import respx

from authsvc.config import Settings, load_settings
from tests.support.fake_idp import FakeIdP

SECRET_A = base64.urlsafe_b64encode(b"A" * 32).decode()
SECRET_B = base64.urlsafe_b64encode(b"B" * 32).decode()

SettingsFactory = Callable[..., Settings]


def make_settings(**overrides: Any) -> Settings:
    """Valid Settings for tests; keyword arguments override any option."""
    options: dict[str, Any] = {
        "cookie_secret": SECRET_A,
        "client_id": "c",
        "client_secret": "s",
        "oidc_issuer_url": "https://idp.example",
    }
    options.update(overrides)
    return load_settings(**options)


@pytest.fixture
def settings_factory() -> SettingsFactory:
    """Build Settings with overrides: `settings_factory(cookie_domains=".example.com")`."""
    return make_settings


@pytest.fixture
def anyio_backend() -> str:
    """`@pytest.mark.anyio` tests run on asyncio only."""
    return "asyncio"


@pytest.fixture
def fake_idp() -> Iterator[FakeIdP]:
    """A FakeIdP at https://idp.example.test (client "client"/"secret") on respx routes.

    Loopback requests pass through (real servers started by tests); any other unmocked host
    fails the test. Protocol violations the IdP saw fail the test at teardown too.
    """
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        router.route(host__in=("127.0.0.1", "localhost", "::1")).pass_through()
        idp = FakeIdP()
        idp.mount(router)
        yield idp
    assert not idp.errors, f"FakeIdP saw protocol violations: {idp.errors}"
