"""One conformance suite, run against every session store: cookie, Redis, Sentinel, Cluster;
with two apps (docs/apps.md), one app's session is refused by the other under each."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, cast

import pytest

from authsvc.errors import InvalidSession
from authsvc.models import Identity, Session, Tokens
from authsvc.providers.base import Provider
from authsvc.sessions import SessionStore, create_store
from authsvc.sessions.cache import SessionCache
from authsvc.sessions.loader import SessionLoader
from authsvc.sessions.refresh import Refresher
from tests.conftest import SECRET_A, SECRET_B, make_settings
from tests.support.fake_idp import ManualClock
from tests.support.sessions import NOW, session

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

SECRET_C = base64.urlsafe_b64encode(b"C" * 32).decode()
StoreKind = tuple[str, dict[str, Any]]


@asynccontextmanager
async def open_store(
    kind: StoreKind, clock: Callable[[], float], **overrides: Any
) -> AsyncIterator[SessionStore]:
    """A store of `kind` with settings overrides; closed afterwards."""
    store = create_store(make_settings(**{**kind[1], **overrides}), clock)
    try:
        yield store
    finally:
        await store.close()


def server_side(kind: StoreKind) -> bool:
    return kind[0] != "cookie"


@pytest.mark.parametrize(
    "original",
    [session(), Session(Identity(user="bob"), expires_at=NOW + 60), session(user="é ü 世界")],
    ids=["typical", "minimal", "unicode"],
)
async def test_round_trip(store_kind: StoreKind, original: Session) -> None:
    clock = ManualClock(NOW)
    async with open_store(store_kind, clock) as store:
        value = await store.save(original)
        assert await store.load(value) == original


async def test_large_session_round_trip(store_kind: StoreKind) -> None:
    """An Entra ID user in 150 groups; Redis keeps the cookie a short ticket."""
    clock = ManualClock(NOW)
    big = session(groups=150)
    async with open_store(store_kind, clock) as store:
        value = await store.save(big)
        assert await store.load(value) == big
        if server_side(store_kind):
            assert len(value) < 200


async def test_tampered_values_are_refused(store_kind: StoreKind) -> None:
    clock = ManualClock(NOW)
    async with open_store(store_kind, clock) as store:
        value = await store.save(session())
        for i in range(0, len(value), max(1, len(value) // 25)):
            flipped = value[:i] + ("A" if value[i] != "A" else "B") + value[i + 1 :]
            with pytest.raises(InvalidSession):
                await store.load(flipped)
        for junk in ["", "x", "A" * 64, value[:-4], value + "AAAA", "../" + value]:
            with pytest.raises(InvalidSession):
                await store.load(junk)


async def test_expiry_follows_the_injected_clock(store_kind: StoreKind) -> None:
    clock = ManualClock(NOW)
    async with open_store(store_kind, clock) as store:
        value = await store.save(session(expires_in=600))
        clock.advance(599)
        assert (await store.load(value)).identity.user == "alice"
        clock.advance(1)
        with pytest.raises(InvalidSession, match="expired"):
            await store.load(value)


async def test_cookie_expire_bounds_a_session_without_expiry(store_kind: StoreKind) -> None:
    clock = ManualClock(NOW)
    async with open_store(store_kind, clock, cookie_expire="1h") as store:
        value = await store.save(Session(Identity(user="bob")))
        clock.advance(3599)
        await store.load(value)
        clock.advance(1)
        with pytest.raises(InvalidSession):
            await store.load(value)


async def test_clear(store_kind: StoreKind) -> None:
    clock = ManualClock(NOW)
    async with open_store(store_kind, clock) as store:
        value = await store.save(session())
        other = await store.save(session(user="bob"))
        await store.clear(value)
        await store.clear(value)  # twice is fine
        await store.clear("not-a-session")  # junk is fine
        if server_side(store_kind):
            with pytest.raises(InvalidSession, match="not found"):
                await store.load(value)
        assert (await store.load(other)).identity.user == "bob"


async def test_cookie_secret_rotation(store_kind: StoreKind) -> None:
    clock = ManualClock(NOW)
    async with open_store(store_kind, clock, cookie_secret=SECRET_A) as old:
        value = await old.save(session())
    async with open_store(store_kind, clock, cookie_secret=f"{SECRET_B},{SECRET_A}") as rotating:
        assert (await rotating.load(value)).identity.user == "alice"
        fresh = await rotating.save(session(user="bob"))
    async with open_store(store_kind, clock, cookie_secret=SECRET_B) as new:
        assert (await new.load(fresh)).identity.user == "bob"
        with pytest.raises(InvalidSession):
            await new.load(value)
    async with open_store(store_kind, clock, cookie_secret=SECRET_C) as stranger:
        with pytest.raises(InvalidSession):
            await stranger.load(fresh)


async def test_value_is_bound_to_the_cookie_name(store_kind: StoreKind) -> None:
    clock = ManualClock(NOW)
    async with open_store(store_kind, clock, cookie_name="_one") as one:
        value = await one.save(session())
    async with open_store(store_kind, clock, cookie_name="_two") as two:
        with pytest.raises(InvalidSession):
            await two.load(value)


async def test_save_over_previous_value(store_kind: StoreKind) -> None:
    """A refresh saves over the browser's value: Redis keeps its ticket (no new cookie)."""
    clock = ManualClock(NOW)
    async with open_store(store_kind, clock) as store:
        value = await store.save(session())
        clock.advance(60)
        refreshed = session().with_tokens(Tokens(access_token="at2", refresh_token="rt2"), NOW + 60)
        new_value = await store.save(refreshed, value)
        assert await store.load(new_value) == refreshed
        if server_side(store_kind):
            assert new_value == value
            await store.clear(value)
            with pytest.raises(InvalidSession):  # a session logged out meanwhile stays gone
                await store.save(refreshed, value)


async def test_ping(store_kind: StoreKind) -> None:
    async with open_store(store_kind, ManualClock(NOW)) as store:
        await store.ping()


def _loader(app: str, store: SessionStore, cookie_name: str, clock: ManualClock) -> SessionLoader:
    """App `app`'s session step as Context.build wires it (no cache, no refresh)."""
    refresher = Refresher(0, store, cast(Provider, None), clock)  # interval 0: never asks the IdP
    return SessionLoader(cookie_name, store, SessionCache(0, None, clock), refresher, clock, app)


async def test_a_session_of_one_app_is_refused_by_the_other(store_kind: StoreKind) -> None:
    """Two apps on one store backend (one Redis), the cookie secret inherited from the top level:
    app a's session is no session at app b, under b's cookie name or a's (docs/apps.md)."""
    clock = ManualClock(NOW)
    async with (open_store(store_kind, clock, cookie_name="_app_a") as a,
                open_store(store_kind, clock, cookie_name="_app_b") as b):
        value = await a.save(replace(session(), app="a"))
        at_a, at_b = _loader("a", a, "_app_a", clock), _loader("b", b, "_app_b", clock)
        assert (await at_a.load(f"_app_a={value}")).session is not None
        for cookie in (f"_app_b={value}", f"_app_a={value}", f"_app_a={value}; _app_b={value}"):
            assert (await at_b.load(cookie)).session is None, cookie
        with pytest.raises(InvalidSession):  # b's store does not open it at all
            await b.load(value)


async def test_a_session_recording_another_app_is_no_session(store_kind: StoreKind) -> None:
    """Behind the sealing: a session that does open (a misconfigured shared cookie name) but
    records another app is still refused by the loader."""
    clock = ManualClock(NOW)
    async with open_store(store_kind, clock, cookie_name="_shared") as store:
        value = await store.save(replace(session(), app="a"))
        assert (await _loader("a", store, "_shared", clock).load(f"_shared={value}")).session
        assert (await _loader("b", store, "_shared", clock).load(f"_shared={value}")).session is None
        assert (await _loader("", store, "_shared", clock).load(f"_shared={value}")).session is None
