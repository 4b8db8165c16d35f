"""Session <-> bytes: compact JSON with short keys, zlib-compressed when that is smaller.

Layout: one flag byte (`RAW` or `ZLIB`) then the (compressed) JSON object. Empty and default
fields are left out, so a typical session is a few hundred bytes. Store-agnostic: the cookie
store seals these bytes into the cookie, the Redis store into Redis. `decode` trusts nothing:
any wrong type, missing field or oversized input raises InvalidSession.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from ..errors import InvalidSession
from ..models import Identity, Session, Tokens

RAW = 0x01
ZLIB = 0x02
#: decompressed size cap, so a small compressed input cannot expand without bound
MAX_DECODED = 1024 * 1024

# short key -> (field, type); identity, tokens and session times share one flat object
_STR = {
    "u": "user", "e": "email", "p": "preferred_username", "s": "subject", "i": "sid",
    "at": "access_token", "it": "id_token", "rt": "refresh_token", "ap": "app",
    "is": "issuer",
}  # fmt: skip
_INT = {"te": "expires_at", "c": "created_at", "x": "expires_at", "r": "refreshed_at"}


def encode(session: Session) -> bytes:
    """The session as compact bytes (flag byte + JSON, compressed when smaller)."""
    ident, tok = session.identity, session.tokens
    obj: dict[str, Any] = {"u": ident.user}
    for key, value in (
        ("e", ident.email), ("p", ident.preferred_username), ("s", ident.subject),
        ("i", ident.sid), ("at", tok.access_token), ("it", tok.id_token),
        ("rt", tok.refresh_token), ("te", tok.expires_at), ("c", session.created_at),
        ("x", session.expires_at), ("r", session.refreshed_at), ("ap", session.app),
        ("is", session.issuer),
    ):  # fmt: skip
        if value:
            obj[key] = value
    if ident.groups:
        obj["g"] = list(ident.groups)
    if ident.email_verified is not None:
        obj["v"] = ident.email_verified
    if ident.extra:
        obj["xc"] = [list(pair) for pair in ident.extra]
    raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    packed = zlib.compress(raw, 6)
    if len(packed) < len(raw):
        return bytes([ZLIB]) + packed
    return bytes([RAW]) + raw


def decode(data: bytes) -> Session:
    """The session in `data`; raises InvalidSession on anything malformed."""
    if not isinstance(data, bytes | bytearray) or not data:
        raise InvalidSession("empty session data")
    flag, body = data[0], bytes(data[1:])
    if flag == ZLIB:
        body = _inflate(body)
    elif flag != RAW:
        raise InvalidSession("unknown session encoding")
    if len(body) > MAX_DECODED:
        raise InvalidSession("session data too large")
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidSession("session data is not JSON") from None
    if not isinstance(obj, dict):
        raise InvalidSession("session data is not an object")
    return _session(obj)


def _inflate(body: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(body, MAX_DECODED)
    except zlib.error:
        raise InvalidSession("session data does not decompress") from None
    if inflater.unconsumed_tail or not inflater.eof or inflater.unused_data:
        raise InvalidSession("session data truncated, oversized or trailed by junk")
    return out


def _session(obj: dict[str, Any]) -> Session:
    strs = {key: _str(obj, key) for key in _STR}
    ints = {key: _int(obj, key) for key in _INT}
    if not strs["u"]:
        raise InvalidSession("session has no user")
    verified = obj.get("v")
    if verified is not None and not isinstance(verified, bool):
        raise InvalidSession("session field 'v' is not a boolean")
    identity = Identity(
        user=strs["u"], email=strs["e"], preferred_username=strs["p"], subject=strs["s"],
        sid=strs["i"], groups=_groups(obj.get("g", [])), email_verified=verified,
        extra=_extra(obj.get("xc", [])),
    )  # fmt: skip
    tokens = Tokens(
        access_token=strs["at"], id_token=strs["it"], refresh_token=strs["rt"],
        expires_at=ints["te"],
    )  # fmt: skip
    return Session(
        identity=identity, tokens=tokens, created_at=ints["c"], expires_at=ints["x"],
        refreshed_at=ints["r"], app=strs["ap"], issuer=strs["is"],
    )  # fmt: skip


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key, "")
    if not isinstance(value, str):
        raise InvalidSession(f"session field {key!r} is not a string")
    return value


def _int(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key, 0)
    # bool is an int subclass in Python; a boolean time is malformed, not 0/1
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidSession(f"session field {key!r} is not a non-negative integer")
    return value


def _groups(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise InvalidSession("session field 'g' is not a list of strings")
    return tuple(value)


def _extra(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise InvalidSession("session field 'xc' is not a list")
    pairs: list[tuple[str, str]] = []
    for pair in value:
        if not (
            isinstance(pair, list) and len(pair) == 2
            and isinstance(pair[0], str) and isinstance(pair[1], str)
        ):  # fmt: skip
            raise InvalidSession("session field 'xc' holds a malformed claim")
        pairs.append((pair[0], pair[1]))
    return tuple(pairs)
