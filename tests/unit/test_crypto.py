"""Sealer: round trip, rotation, purpose and context binding, and hostile input."""

from __future__ import annotations

import base64
import random
import time

import pytest

from authsvc.crypto import MAX_TOKEN_CHARS, Sealer, b64decode, b64encode, random_token
from authsvc.errors import ConfigError, InvalidSession

OLD = b"o" * 32
NEW = b"n" * 32
CTX = b"_authsvc"


def _flip(token: str, index: int) -> str:
    """The token with one byte of its decoded form changed."""
    raw = bytearray(b64decode(token))
    raw[index] ^= 0x01
    return b64encode(bytes(raw))


def test_round_trip() -> None:
    sealer = Sealer([NEW], "session")
    for data in (b"", b"x", b"hello" * 1000, bytes(range(256))):
        token = sealer.seal(data, CTX)
        assert sealer.unseal(token, CTX) == data


def test_token_is_cookie_safe_and_fresh_each_time() -> None:
    sealer = Sealer([NEW], "session")
    first, second = sealer.seal(b"same", CTX), sealer.seal(b"same", CTX)
    assert first != second  # random nonce
    for token in (first, second):
        assert "=" not in token and ";" not in token and "," not in token
        assert token.isascii()


def test_key_rotation() -> None:
    old_token = Sealer([OLD], "session").seal(b"data", CTX)
    rotated = Sealer([NEW, OLD], "session")
    assert rotated.unseal(old_token, CTX) == b"data"
    # new tokens use the newest key: they no longer open with the old one alone
    with pytest.raises(InvalidSession):
        Sealer([OLD], "session").unseal(rotated.seal(b"data", CTX), CTX)
    with pytest.raises(InvalidSession, match="unknown key"):
        Sealer([NEW], "session").unseal(old_token, CTX)


def test_wrong_purpose() -> None:
    token = Sealer([NEW], "login").seal(b"state", CTX)
    with pytest.raises(InvalidSession):
        Sealer([NEW], "session").unseal(token, CTX)


def test_wrong_context() -> None:
    sealer = Sealer([NEW], "session")
    token = sealer.seal(b"data", b"_authsvc")
    with pytest.raises(InvalidSession, match="does not open"):
        sealer.unseal(token, b"_other")
    with pytest.raises(InvalidSession):
        sealer.unseal(token)


@pytest.mark.parametrize("index", [0, 1, 4, 5, 10, 17, 20, -17, -1])
def test_tampered_byte(index: int) -> None:
    sealer = Sealer([NEW], "session")
    token = sealer.seal(b"some session data", CTX)
    with pytest.raises(InvalidSession):
        sealer.unseal(_flip(token, index), CTX)


@pytest.mark.parametrize("keep", [0, 1, 5, 10, 20, 32, 40, -1])
def test_truncated(keep: int) -> None:
    sealer = Sealer([NEW], "session")
    token = sealer.seal(b"some session data", CTX)
    with pytest.raises(InvalidSession):
        sealer.unseal(token[:keep], CTX)


def test_rejects_appended_data() -> None:
    sealer = Sealer([NEW], "session")
    token = sealer.seal(b"data", CTX)
    with pytest.raises(InvalidSession):
        sealer.unseal(token + "AAAA", CTX)


_VALID = Sealer([NEW], "session").seal(b"data", CTX)

MALFORMED: list[object] = [
    "",
    " ",
    "=",
    "====",
    "A",
    "AA",
    "AAA",
    "AAAA",
    "A" * 45,
    "!!!!",
    "abc def",
    "abc\n",
    "abc%3D",
    "YWJj+/==",  # standard base64 alphabet and padding, not base64url
    _VALID + "=",
    _VALID[:-1] + ("A" if _VALID[-1] != "A" else "B"),
    " " + _VALID,
    _VALID + "\x00",
    "é" * 40,
    "\udcff" * 40,  # a lone surrogate cannot even be encoded
    b64encode(b"\x02" + bytes(60)),  # unknown version
    b64encode(b"\x01" + bytes(60)),  # right version, unknown key id
    "A" * (MAX_TOKEN_CHARS + 4),
    b"bytes-not-text",
    None,
    12345,
]


@pytest.mark.parametrize("token", MALFORMED, ids=lambda t: repr(t)[:30])
def test_malformed_input(token: object) -> None:
    with pytest.raises(InvalidSession):
        Sealer([NEW], "session").unseal(token, CTX)  # type: ignore[arg-type]


def test_fuzz_random_bytes_and_mutations() -> None:
    sealer = Sealer([NEW, OLD], "session")
    valid = sealer.seal(b"x" * 100, CTX)
    rng = random.Random(1234)
    for _ in range(2000):
        kind = rng.randrange(3)
        if kind == 0:
            token = b64encode(rng.randbytes(rng.randrange(0, 200)))
        elif kind == 1:
            token = "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(60)))
        else:
            chars = list(valid)
            chars[rng.randrange(len(chars))] = rng.choice("AZaz09-_")
            token = "".join(chars)
            if token == valid:
                continue
        with pytest.raises(InvalidSession):
            sealer.unseal(token, CTX)


def test_huge_input_is_refused_fast() -> None:
    sealer = Sealer([NEW], "session")
    start = time.perf_counter()
    for token in ("A" * 10_000_000, "!" * 10_000_000):
        with pytest.raises(InvalidSession, match="too long"):
            sealer.unseal(token, CTX)
    assert time.perf_counter() - start < 0.5


def test_key_id_collision_still_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("authsvc.crypto.key_id", lambda key: b"same")
    old_token = Sealer([OLD], "session").seal(b"data", CTX)
    assert Sealer([NEW, OLD], "session").unseal(old_token, CTX) == b"data"


def test_constructor_refuses_no_keys() -> None:
    with pytest.raises(ConfigError):
        Sealer([], "session")
    with pytest.raises(ConfigError):
        Sealer([NEW], "")


def test_random_token() -> None:
    token = random_token(32)
    assert len(base64.urlsafe_b64decode(token + "=")) == 32
    assert random_token(16, random=lambda n: b"\x00" * n) == "AAAAAAAAAAAAAAAAAAAAAA"
    assert random_token() != random_token()
