"""The cookie session store and the session codec: round trips, expiry, rotation, hostile data."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import zlib
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from authsvc.config import Settings
from authsvc.cookies import (
    MAX_SET_COOKIE,
    CookieSettings,
    parse_cookie_header,
    read_chunked,
    session_set_cookies,
)
from authsvc.crypto import Sealer
from authsvc.errors import InvalidSession
from authsvc.models import Identity, Session, Tokens
from authsvc.sessions import CookieSessionStore, SessionStore, codec, create_store

T = TypeVar("T")
SettingsFactory = Callable[..., Settings]
NOW = 1_700_000_000
SECRET_A = base64.urlsafe_b64encode(b"a" * 32).decode()
SECRET_B = base64.urlsafe_b64encode(b"b" * 32).decode()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_session(groups: int = 2, expires_in: int = 3600) -> Session:
    identity = Identity(
        user="alice", email="alice@example.com", preferred_username="alice",
        groups=tuple(hashlib.sha256(str(i).encode()).hexdigest() for i in range(groups)),
        email_verified=True, subject="sub-1", sid="sid-1", extra=(("tenant", "t1"),),
    )  # fmt: skip
    tokens = Tokens(access_token="at", id_token="it", refresh_token="rt", expires_at=NOW + 300)
    return Session(
        identity=identity, tokens=tokens, created_at=NOW, expires_at=NOW + expires_in,
        refreshed_at=NOW,
    )  # fmt: skip


# --- codec ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "session",
    [
        make_session(),
        make_session(groups=150),
        Session(identity=Identity(user="bob")),
        Session(identity=Identity(user="é ü 世界", email_verified=False)),
    ],
    ids=["typical", "150-groups", "minimal", "unicode"],
)
def test_codec_round_trip(session: Session) -> None:
    data = codec.encode(session)
    assert codec.decode(data) == session


def test_codec_compresses_only_when_smaller() -> None:
    assert codec.encode(Session(identity=Identity(user="bob")))[0] == codec.RAW
    assert codec.encode(make_session(groups=150))[0] == codec.ZLIB


def _raw(obj: object) -> bytes:
    return bytes([codec.RAW]) + json.dumps(obj).encode()


BAD_CODEC: list[bytes] = [
    b"",
    b"\x00",
    b"\x03{}",
    b"\x01",
    b"\x01not json",
    b"\x01\xff\xfe",
    b"\x02not zlib",
    bytes([codec.ZLIB]) + zlib.compress(b'{"u":"a"}')[:-3],  # truncated stream
    bytes([codec.ZLIB]) + zlib.compress(b'{"u":"a"}') + b"junk",
    bytes([codec.ZLIB]) + zlib.compress(b" " * (codec.MAX_DECODED + 10)),  # zip bomb
    _raw("[" * 100_000),  # deep nesting
    _raw([]),
    _raw({}),
    _raw({"u": ""}),
    _raw({"u": 1}),
    _raw({"u": "a", "e": None}),
    _raw({"u": "a", "g": "admins"}),
    _raw({"u": "a", "g": [1]}),
    _raw({"u": "a", "v": "yes"}),
    _raw({"u": "a", "x": "soon"}),
    _raw({"u": "a", "x": -1}),
    _raw({"u": "a", "x": True}),
    _raw({"u": "a", "x": 1.5}),
    _raw({"u": "a", "xc": [["k"]]}),
    _raw({"u": "a", "xc": {"k": "v"}}),
]


@pytest.mark.parametrize("data", BAD_CODEC, ids=lambda d: repr(d)[:30])
def test_codec_rejects_malformed(data: bytes) -> None:
    with pytest.raises(InvalidSession):
        codec.decode(data)


# --- store ---------------------------------------------------------------------------------


@pytest.fixture
def settings(settings_factory: SettingsFactory) -> Settings:
    return settings_factory(cookie_expire="1h")


def test_factory_builds_cookie_store(settings: Settings) -> None:
    store: SessionStore = create_store(settings, FakeClock())
    assert isinstance(store, CookieSessionStore)
    run(store.ping())
    run(store.close())


def test_save_load_round_trip(settings: Settings) -> None:
    store = CookieSessionStore(settings, FakeClock())
    session = make_session()
    value = run(store.save(session))
    assert run(store.load(value)) == session
    run(store.clear(value))  # a no-op: the cookie still opens (the caller expires it)
    assert run(store.load(value)) == session


def test_expired_session_is_refused(settings: Settings) -> None:
    clock = FakeClock()
    store = CookieSessionStore(settings, clock)
    value = run(store.save(make_session(expires_in=3600)))
    clock.now = NOW + 3599
    run(store.load(value))
    clock.now = NOW + 3600
    with pytest.raises(InvalidSession, match="expired"):
        run(store.load(value))


def test_session_without_expiry_ends_cookie_expire_after_sealing(settings: Settings) -> None:
    clock = FakeClock()
    store = CookieSessionStore(settings, clock)
    clock.now = NOW + 100
    value = run(store.save(Session(identity=Identity(user="bob"))))
    clock.now = NOW + 100 + 3599
    run(store.load(value))
    clock.now = NOW + 100 + 3600
    with pytest.raises(InvalidSession, match="expired"):
        run(store.load(value))


def test_key_rotation(settings_factory: SettingsFactory) -> None:
    clock = FakeClock()
    old_store = CookieSessionStore(settings_factory(cookie_secret=SECRET_A), clock)
    value = run(old_store.save(make_session()))
    rotated = CookieSessionStore(settings_factory(cookie_secret=f"{SECRET_B},{SECRET_A}"), clock)
    assert run(rotated.load(value)) == make_session()
    removed = CookieSessionStore(settings_factory(cookie_secret=SECRET_B), clock)
    with pytest.raises(InvalidSession):
        run(removed.load(value))


def test_value_moved_to_another_cookie_name_fails(settings_factory: SettingsFactory) -> None:
    clock = FakeClock()
    value = run(CookieSessionStore(settings_factory(cookie_name="one"), clock).save(make_session()))
    with pytest.raises(InvalidSession):
        run(CookieSessionStore(settings_factory(cookie_name="two"), clock).load(value))


def test_login_state_value_does_not_open_as_session(settings: Settings) -> None:
    login = Sealer(settings.secret_keys, "login").seal(b"x" * 40, settings.cookie_name.encode())
    with pytest.raises(InvalidSession):
        run(CookieSessionStore(settings, FakeClock()).load(login))


@pytest.mark.parametrize("payload", [b"", b"\x01short", b"\x09" + bytes(16) + b"\x01{}"])
def test_malformed_payload_behind_a_valid_seal(settings: Settings, payload: bytes) -> None:
    value = Sealer(settings.secret_keys, "session").seal(payload, settings.cookie_name.encode())
    with pytest.raises(InvalidSession):
        run(CookieSessionStore(settings, FakeClock()).load(value))


@pytest.mark.parametrize("value", ["", "garbage", "A" * 5000, "%%%", "\x00"])
def test_garbage_cookie_is_invalid_session(settings: Settings, value: str) -> None:
    with pytest.raises(InvalidSession):
        run(CookieSessionStore(settings, FakeClock()).load(value))


def test_150_groups_chunk_and_read_back(settings: Settings) -> None:
    store = CookieSessionStore(settings, FakeClock())
    big = make_session(groups=150)
    value = run(store.save(big))
    lines = session_set_cookies(value, CookieSettings.from_settings(settings), "app.example.com")
    chunks = [line for line in lines if "Max-Age=0" not in line]
    assert len(chunks) >= 2
    assert all(len(line.encode()) < 4096 and len(line.encode()) <= MAX_SET_COOKIE for line in lines)
    header = "; ".join(line.split(";", 1)[0] for line in chunks)
    joined = read_chunked(parse_cookie_header(header), settings.cookie_name)
    assert joined is not None
    assert run(store.load(joined)) == big
