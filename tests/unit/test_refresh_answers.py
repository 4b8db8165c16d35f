"""What /oauth2/auth answers around a refresh: refreshes are counted, and a refreshed session
too large for the cookies still gets its check answered (never a 400, which nginx turns into a
500)."""

from __future__ import annotations

import logging
import time

import pytest

from authsvc.context import Context
from authsvc.cookies import MAX_CHUNKS, MAX_SET_COOKIE
from authsvc.models import Session
from authsvc.sessions.cookie import CookieSessionStore
from tests.conftest import make_settings
from tests.support.auth_client import AuthClient, idp_options, set_cookies
from tests.support.fake_idp import FakeIdP, ManualClock

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock(fake_idp: FakeIdP) -> ManualClock:
    clock = ManualClock(time.time())
    fake_idp.clock = clock
    return clock


def refreshes(app: AuthClient, result: str) -> float:
    value = app.services.metrics.registry.get_sample_value("authsvc_refreshes_total", {"result": result})
    return value or 0.0


async def test_a_refresh_is_counted_as_a_success(fake_idp: FakeIdP, clock: ManualClock) -> None:
    async with AuthClient.open(fake_idp, clock) as app:
        value = await app.login(email="ada@example.com")
        clock.advance(61)
        assert (await app.auth(value)).status_code == 202
        assert (refreshes(app, "success"), refreshes(app, "failed")) == (1, 0)


async def test_a_refused_refresh_is_counted_as_failed(fake_idp: FakeIdP, clock: ManualClock) -> None:
    async with AuthClient.open(fake_idp, clock) as app:
        value = await app.login(email="ada@example.com")
        fake_idp.refresh_error = "invalid_grant"
        clock.advance(61)
        assert (await app.auth(value)).status_code == 401
        assert (refreshes(app, "success"), refreshes(app, "failed")) == (0, 1)


class GrowsOnRefresh(CookieSessionStore):
    """A cookie store whose refreshed sessions encode to more than MAX_CHUNKS cookies hold (a
    refresh that brought many more groups)."""

    async def save(self, session: Session, previous: str | None = None) -> str:
        value = await super().save(session, previous)
        return value if previous is None else value + "A" * (MAX_CHUNKS * MAX_SET_COOKIE)


async def test_a_refreshed_session_too_large_for_cookies_still_answers(
    fake_idp: FakeIdP, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Failing safe: the refresh succeeded, so the check is answered with the refreshed session
    and no Set-Cookie; the old cookie keeps working (the refresher's memo), and the log says why.
    (It was a 400 "login failed" from /oauth2/auth, which nginx answers as a 500.)"""
    settings = make_settings(**idp_options(fake_idp))
    services = Context.build(settings, clock=clock, store=GrowsOnRefresh(settings, clock))
    app = AuthClient(services, fake_idp)
    try:
        value = await app.login(email="ada@example.com")
        clock.advance(61)
        with caplog.at_level(logging.WARNING, "authsvc.refresh"):
            answer = await app.auth(value)
            again = await app.auth(value)
        assert answer.status_code == 202, answer.text
        assert not set_cookies(answer)
        assert answer.headers["x-auth-request-email"] == "ada@example.com"
        assert again.status_code == 202
        assert refreshes(app, "success") == 1
        assert "session too large" in caplog.text
    finally:
        await app.http.aclose()
        await services.aclose()
