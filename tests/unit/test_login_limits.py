"""Unfinished logins leave bounded traces: a few login cookies per browser.

A page of 30 `<img src=/oauth2/start>` used to leave 30 login cookies (~310 bytes each, for 15
minutes) and push the Cookie header past nginx's 8 KB line. Now each start keeps the newest
`cookie_csrf_per_request_limit` and expires the rest, and parallel logins still complete.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from authsvc.config import ConfigError
from authsvc.cookies import is_login_cookie
from authsvc.login_state import LOGIN_COOKIE_BYTES
from tests.conftest import make_settings
from tests.support.app_driver import Browser, browser_on, fake_idp_settings
from tests.support.fake_idp import FakeIdP

pytestmark = pytest.mark.anyio


def login_cookies(browser: Browser) -> dict[str, str]:
    return {k: v for k, v in browser.client.cookies.items() if is_login_cookie("_authsvc", k)}


def header_bytes(jar: dict[str, str]) -> int:
    return len("; ".join(f"{k}={v}" for k, v in jar.items()))


@pytest.fixture
async def browser(fake_idp: FakeIdP) -> AsyncIterator[Browser]:
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as b:
        yield b


@pytest.mark.parametrize("limit", [1, 3, 5, 20])
async def test_thirty_starts_leave_the_newest_few_and_they_complete(fake_idp: FakeIdP, limit: int) -> None:
    settings = fake_idp_settings(fake_idp, cookie_csrf_per_request_limit=limit)
    async with browser_on(settings, fake_idp) as browser:
        starts = []
        for i in range(30):  # a page of 30 <img src=/oauth2/start>
            starts.append((f"/page/{i}", (await browser.start(f"/page/{i}")).headers["location"]))
            assert len(login_cookies(browser)) <= limit
            assert header_bytes(login_cookies(browser)) <= LOGIN_COOKIE_BYTES
        kept = len(login_cookies(browser))
        # up to 5 fit the byte budget; 20 is then the budget's (about 9 cookies of ~310 bytes)
        assert kept == limit if limit <= 5 else 5 < kept < limit
        newest, dropped = starts[-kept:], starts[:-kept]
        for rd, location in random.Random(limit).sample(newest, len(newest)):  # in any order
            done = await browser.client.get(fake_idp.callback_url(location))
            assert (done.status_code, done.headers.get("location")) == (302, rd), done.text
        for _rd, location in dropped[-3:]:  # crowded out: "no login in progress"
            assert (await browser.client.get(fake_idp.callback_url(location))).status_code == 403
        assert not login_cookies(browser)  # each callback cleared its own


async def test_the_oldest_go_first_and_in_the_same_response(browser: Browser) -> None:
    names = []
    for i in range(7):
        await browser.start(f"/{i}")
        names.append(next(n for n in login_cookies(browser) if n not in names))
    response = await browser.start("/last")
    expired = [c.split("=", 1)[0] for c in response.headers.get_list("set-cookie") if "Max-Age=0" in c]
    assert expired == [names[2]]  # 0 and 1 went at the 6th and 7th start
    kept = set(login_cookies(browser))
    assert len(kept) == 5 and kept > set(names[3:])  # the four newest, and the new one


async def test_long_redirects_cannot_grow_the_header_either(browser: Browser, fake_idp: FakeIdP) -> None:
    rd = "/" + "r" * 2000  # a login cookie of ~3 KB
    locations = [(await browser.start(rd)).headers["location"] for _ in range(10)]
    kept = login_cookies(browser)
    assert len(kept) == 1 and header_bytes(kept) < 4000
    done = await browser.client.get(fake_idp.callback_url(locations[-1]))
    assert (done.status_code, done.headers["location"]) == (302, rd)


async def test_parallel_tabs_within_the_limit_all_complete(browser: Browser, fake_idp: FakeIdP) -> None:
    tabs = [(f"/tab/{i}", (await browser.start(f"/tab/{i}")).headers["location"]) for i in range(5)]
    for rd, location in [tabs[2], tabs[0], tabs[4], tabs[1], tabs[3]]:
        done = await browser.client.get(fake_idp.callback_url(location))
        assert (done.status_code, done.headers["location"]) == (302, rd)


async def test_other_cookies_are_never_expired(browser: Browser) -> None:
    others = {"x_csrf_token": "app", "_authsvc_csrf_notahash": "1", "_authsvc_csrf_0123456789abcdeF": "2",
              "_authsvc": "session-ish", "_authsvc_0": "chunk"}  # fmt: skip
    for name, value in others.items():
        browser.client.cookies.set(name, value, domain="app.example.test")
    for i in range(8):
        response = await browser.start(f"/{i}")
        expired = {c.split("=", 1)[0] for c in response.headers.get_list("set-cookie") if "Max-Age=0" in c}
        assert not expired & set(others)


@pytest.mark.parametrize("value", [0, -1, 21])
def test_the_limit_is_never_off(value: int) -> None:
    with pytest.raises(ConfigError, match="cookie_csrf_per_request_limit"):
        make_settings(cookie_csrf_per_request_limit=value)


def test_the_limit_has_oauth2_proxys_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHSVC_COOKIE_CSRF_PER_REQUEST_LIMIT", "3")
    assert make_settings().cookie_csrf_per_request_limit == 3
