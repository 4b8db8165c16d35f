"""A login started over plain http with cookie_secure on: one warning per process, naming why."""

from __future__ import annotations

import logging

import httpx
import pytest

from authsvc.config.feedback import is_loopback
from authsvc.context import Context
from authsvc.web.app import create_app
from tests.support.app_driver import fake_idp_settings
from tests.support.fake_idp import FakeIdP

pytestmark = pytest.mark.anyio


async def _starts(fake_idp: FakeIdP, origin: str, times: int, **settings: object) -> None:
    config = fake_idp_settings(fake_idp, **settings)
    app = create_app(Context.build(config))
    transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=origin) as client:
        for _ in range(times):
            assert (await client.get("/oauth2/start", params={"rd": "/"})).status_code == 302


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "authsvc.login" and r.levelno == logging.WARNING and "plain http" in r.getMessage()]


async def test_warned_once_however_many_logins_start(fake_idp: FakeIdP,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="authsvc")
    await _starts(fake_idp, "http://app.example.test", 3)
    found = _warnings(caplog)
    assert len(found) == 1
    assert "http://app.example.test" in found[0]
    assert "drops the Secure login cookie" in found[0] and "cookie_secure = false" in found[0]


@pytest.mark.parametrize(("origin", "settings"), [
    ("https://app.example.test", {}),
    ("http://localhost:4180", {}),
    ("http://127.0.0.1:4180", {}),
    ("http://app.localhost", {}),
    ("http://app.example.test", {"cookie_secure": False}),
])
async def test_not_warned_where_the_cookie_arrives(fake_idp: FakeIdP, caplog: pytest.LogCaptureFixture,
                                                   origin: str, settings: dict[str, object]) -> None:
    caplog.set_level(logging.WARNING, logger="authsvc")
    await _starts(fake_idp, origin, 2, **settings)
    assert _warnings(caplog) == []


@pytest.mark.parametrize(("host", "loopback"), [
    ("localhost", True), ("LOCALHOST.", True), ("app.localhost", True), ("127.0.0.2", True),
    ("[::1]", True), ("::1", True), ("192.0.2.2", False), ("example.com", False),
    ("localhost.example.com", False), ("", False),
])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    """Where Chromium keeps a Secure cookie set over plain http (192.0.2.2 it drops; checked)."""
    assert is_loopback(host) is loopback
