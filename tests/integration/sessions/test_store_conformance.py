"""One conformance suite, run against every session store: cookie, Redis, Sentinel, Cluster."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from authsvc.errors import InvalidSession
from authsvc.models import Identity, Session, Tokens
from authsvc.sessions import SessionStore, create_store
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
