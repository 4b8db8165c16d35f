"""sessions/purge.py: the PURGE that revokes nginx's cached decision, and sign-out failing closed."""

from __future__ import annotations

import logging
from typing import Any, cast

import httpx
import pytest

from authsvc import cookies
from authsvc.errors import TokenError
from authsvc.models import Identity, Session, Tokens
from authsvc.sessions.purge import CachePurge
from authsvc.sessions.refresh import Refresher
from tests.conftest import make_settings
from tests.support.auth_app import AuthApp
from tests.support.fake_idp import ManualClock

pytestmark = pytest.mark.anyio

SECRET_VALUE = "v4lue-of-the-session"


def _purger(statuses: dict[str, int], seen: list[httpx.Request]) -> CachePurge:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "down":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(statuses[request.url.host])

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    urls = [f"http://{host}/purge" for host in statuses]
    return CachePurge(urls, "_authsvc", http)


async def test_every_replica_gets_a_purge_with_the_session_cookie() -> None:
    seen: list[httpx.Request] = []
    purge = _purger({"a": 200, "b": 404}, seen)  # 404: nothing was cached there
    assert await purge.purge(SECRET_VALUE)
    assert sorted(r.url.host for r in seen) == ["a", "b"]
    assert {r.method for r in seen} == {"PURGE"}
    assert {r.headers["cookie"] for r in seen} == {f"_authsvc={SECRET_VALUE}"}


@pytest.mark.parametrize("statuses", [{"a": 200, "b": 500}, {"a": 403}, {"a": 200, "down": 200}])
async def test_one_replica_that_does_not_confirm_fails_the_purge(
    statuses: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "authsvc.purge"):
        assert not await _purger(statuses, []).purge(SECRET_VALUE)
    assert "cache purge" in caplog.text
    assert SECRET_VALUE not in caplog.text


async def test_unconfigured_or_without_a_value_nothing_is_sent() -> None:
    seen: list[httpx.Request] = []
    assert await CachePurge([], "_authsvc", httpx.AsyncClient()).purge(SECRET_VALUE)
    assert await _purger({"a": 200}, seen).purge("")
    assert seen == []


async def test_sign_out_whose_purge_fails_is_not_reported_as_done(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The session is gone from its store, but a cached 2xx would still open the door until
    proxy_cache_valid: the 503 page and the retry cookie, as for a store that failed."""
    settings = make_settings(email_domains=["example.com"],
                             nginx_cache_purge_url=["http://127.0.0.1:9/purge"])  # fmt: skip
    async with AuthApp.start(settings) as app:
        cookie = await app.cookie()
        with caplog.at_level(logging.WARNING):
            r = await app.client().get("/oauth2/sign_out", headers={"Cookie": cookie})
        assert r.status_code == 503
        pending = cookies.signout_cookie_name(settings.cookie_name)
        assert any(c.startswith(f"{pending}=") for c in r.headers.get_list("set-cookie"))
        assert cookie.split("=", 1)[1] not in caplog.text


class _Store:
    """The cookie store's shape: every save is a new value."""

    def __init__(self) -> None:
        self.cleared: list[str] = []

    async def save(self, session: Session, previous: str | None = None) -> str:
        return "new-value"

    async def clear(self, value: str) -> None:
        self.cleared.append(value)


class _Provider:
    def __init__(self, refuse: bool) -> None:
        self.refuse = refuse

    async def refresh(self, tokens: Tokens) -> tuple[Identity | None, Tokens]:
        if self.refuse:
            raise TokenError("invalid_grant")
        return None, Tokens(access_token="at-2", refresh_token="rt-2")


@pytest.mark.parametrize("refuse", [False, True])
async def test_a_refresh_purges_the_old_value(refuse: bool) -> None:
    """The cached 2xx of the old cookie carries the old token in its headers (or, refused, a
    session that has ended): nginx must not serve it any more."""
    purged: list[str] = []

    async def purge(value: str) -> bool:
        purged.append(value)
        return True

    clock = ManualClock()
    session = Session(Identity(user="u-1"), Tokens(access_token="at-1", refresh_token="rt-1"),
                      created_at=0, expires_at=10**10, refreshed_at=int(clock()) - 120)  # fmt: skip
    refresher = Refresher(60, cast(Any, _Store()), cast(Any, _Provider(refuse)), clock, purge=purge)
    loaded = await refresher.check("old-value", session)
    assert purged == ["old-value"]
    assert (loaded.session is None) == refuse
