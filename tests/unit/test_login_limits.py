"""Unfinished logins leave bounded traces: a few login cookies per browser, a bounded state record.

A page of 30 `<img src=/oauth2/start>` used to leave 30 login cookies (~310 bytes each, for 15
minutes) and push the Cookie header past nginx's 8 KB line. Now a browser holds at most
`cookie_csrf_per_request_limit` (slots), the newest, even when starts race; a start that is no
navigation sets none; parallel logins still complete. The record of spent states is bounded,
O(1) per callback, and written only by a code exchange.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from authsvc.config import ConfigError
from authsvc.cookies import is_login_cookie, login_cookie_name
from authsvc.login.state import LOGIN_COOKIE_BYTES, SpentStates
from tests.conftest import make_settings
from tests.support.app_driver import Browser, browser_on, cookie_header, fake_idp_settings
from tests.support.fake_idp import FakeIdP, ManualClock

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


async def test_racing_starts_still_leave_at_most_the_limit(browser: Browser, fake_idp: FakeIdP) -> None:
    # a browser attaches cookies when a request starts: 30 images on one page all carry the
    # same Cookie header, and none of them sees the cookies the others are given
    held: dict[str, str] = {}
    locations = []
    for i in range(30):
        browser.client.cookies.clear()
        response = await browser.start(f"/race/{i}")
        locations.append((f"/race/{i}", response.headers["location"]))
        for line in response.headers.get_list("set-cookie"):
            name, _, rest = line.partition("=")
            if "Max-Age=0" in line:
                held.pop(name, None)
            else:
                held[name] = rest.split(";", 1)[0]
    kept = {k: v for k, v in held.items() if is_login_cookie("_authsvc", k)}
    assert 1 <= len(kept) <= 5
    assert header_bytes(kept) <= LOGIN_COOKIE_BYTES
    # whichever logins kept their slot complete; the others are told to sign in again
    done = []
    for rd, location in locations:
        browser.client.cookies.clear()
        answer = await browser.client.get(fake_idp.callback_url(location), headers=cookie_header(kept))
        assert answer.status_code in (302, 403)
        done += [rd] if answer.status_code == 302 else []
    assert len(done) == len(kept)


@pytest.mark.parametrize("mode", ["no-cors", "cors", "same-origin", "websocket"])
async def test_a_start_that_is_no_navigation_leaves_no_cookie(browser: Browser, mode: str) -> None:
    # <img src=/oauth2/start>, <script>, fetch(): Fetch Metadata says so (Sec-Fetch-Mode)
    headers = {"Sec-Fetch-Mode": mode, "Sec-Fetch-Dest": "image"}
    response = await browser.client.get("/oauth2/start", params={"rd": "/x"}, headers=headers)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    assert not login_cookies(browser)


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"},
                                     {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}, {}])
async def test_navigations_and_older_browsers_start_logins(browser: Browser, headers: dict[str, str]) -> None:
    response = await browser.client.get("/oauth2/start", params={"rd": "/x"}, headers=headers)
    assert response.status_code == 302
    assert len(login_cookies(browser)) == 1


async def test_a_login_begun_before_slots_still_completes(browser: Browser, fake_idp: FakeIdP) -> None:
    """Logins in flight across the upgrade: a state without a slot, its cookie named by its hash."""
    location = httpx.URL((await browser.start("/legacy")).headers["location"])
    (name, sealed), = login_cookies(browser).items()
    sealer = browser.services.login_sealer
    raw = json.loads(sealer.unseal(sealed, name.encode()))
    legacy_state = raw[0].rpartition(".")[0]
    legacy_name = login_cookie_name("_authsvc", legacy_state)
    assert legacy_name != name and is_login_cookie("_authsvc", legacy_name)
    legacy = json.dumps([legacy_state, *raw[1:4], int(raw[4])], separators=(",", ":"))
    browser.client.cookies.clear()
    jar = {legacy_name: sealer.seal(legacy.encode(), legacy_name.encode())}
    url = fake_idp.callback_url(str(location.copy_merge_params({"state": legacy_state})))
    done = await browser.client.get(url, headers=cookie_header(jar))
    assert (done.status_code, done.headers["location"]) == (302, "/legacy")


async def test_older_per_state_cookies_are_expired_by_the_next_start(browser: Browser) -> None:
    for i in range(30):  # what an older authsvc left: 30 per-state cookies
        browser.client.cookies.set(login_cookie_name("_authsvc", f"old-{i}"), "x" * 300,
                                   domain="app.example.test")  # fmt: skip
    await browser.start("/x")
    assert len(login_cookies(browser)) == 1


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


# --- spent states -----------------------------------------------------------------------------
async def test_a_callback_without_a_code_does_not_spend_its_state(
    browser: Browser, fake_idp: FakeIdP
) -> None:
    url = httpx.URL(fake_idp.callback_url((await browser.start("/x")).headers["location"]))
    jar = dict(browser.client.cookies)
    no_code = url.copy_with(params={"state": url.params["state"]})
    for _ in range(3):
        assert (await browser.client.get(no_code, headers=cookie_header(jar))).status_code == 400
    browser.client.cookies.clear()
    done = await browser.client.get(url, headers=cookie_header(jar))  # the real callback, later
    assert (done.status_code, done.headers["location"]) == (302, "/x")


async def test_a_state_is_spent_by_its_code_exchange_even_when_it_fails(
    browser: Browser, fake_idp: FakeIdP
) -> None:
    url = httpx.URL(fake_idp.callback_url((await browser.start("/x")).headers["location"]))
    jar = dict(browser.client.cookies)
    bogus = url.copy_merge_params({"code": "not-a-code"})
    assert (await browser.client.get(bogus, headers=cookie_header(jar))).status_code == 403
    assert fake_idp.calls["token"] == 1
    for replay in (url, bogus):  # the state is spent, whichever code comes with it
        browser.client.cookies.clear()
        assert (await browser.client.get(replay, headers=cookie_header(jar))).status_code == 403
    assert fake_idp.calls["token"] == 1  # refused before another exchange


async def test_a_replay_is_refused_for_as_long_as_the_login_could_be_valid(fake_idp: FakeIdP) -> None:
    clock = ManualClock(time.time())
    async with browser_on(fake_idp_settings(fake_idp), fake_idp, clock=clock) as browser:
        url = fake_idp.callback_url((await browser.start("/x")).headers["location"])
        jar = dict(browser.client.cookies)
        assert (await browser.client.get(url)).status_code == 302
        for wait in (60, 13 * 60):  # cookie_csrf_expire is 15m
            clock.advance(wait)
            browser.client.cookies.clear()
            assert (await browser.client.get(url, headers=cookie_header(jar))).status_code == 403


def test_spent_states_are_bounded() -> None:
    spent = SpentStates(lifetime=900, max_entries=100)
    for i in range(250):
        spent.spend(f"state-{i}", now=1000.0 + i)
    assert len(spent) == 100
    assert spent.spent("state-249", 1300.0) and spent.spent("state-150", 1300.0)
    assert not spent.spent("state-149", 1300.0)  # the oldest were forgotten first


def test_spent_states_expire_with_the_login() -> None:
    spent = SpentStates(lifetime=900)
    spent.spend("a", now=1000.0)
    spent.spend("b", now=1500.0)
    assert spent.spent("a", 1899.0) and len(spent) == 2
    assert not spent.spent("a", 1900.0) and spent.spent("b", 1900.0)
    assert len(spent) == 1  # forgotten, not just hidden
    assert not spent.spent("b", 2400.0) and len(spent) == 0


def test_a_callback_costs_the_same_with_100k_spent_states() -> None:
    # the old record was rebuilt on every callback: 21 ms of event loop each at 100,000 states
    spent = SpentStates(lifetime=3600)
    for i in range(100_000):
        spent.spend(f"s{i}", now=float(i) / 1000)
    started = time.perf_counter()
    for i in range(2000):
        assert not spent.spent(f"new{i}", now=200.0)
        spent.spend(f"new{i}", now=200.0)
    per_callback = (time.perf_counter() - started) / 2000
    assert per_callback < 200e-6, f"{per_callback * 1e6:.0f} us per callback"
    assert len(spent) == 100_000  # MAX_SPENT_STATES: the oldest made room
