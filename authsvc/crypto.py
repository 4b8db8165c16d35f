"""Sealing: authenticated encryption of cookie values, with key rotation and a purpose per key.

A token is URL-safe base64 (no padding) of::

    version (1) | key id (4) | nonce (12) | AES-256-GCM ciphertext + tag (16)

Each configured secret is stretched with HKDF-SHA256 into one key per *purpose* ("session",
"login", ...), so a value sealed for one purpose never opens for another. The key id is a short
HMAC of the derived key: unseal picks the key directly instead of trying each in turn, and the
id reveals nothing about the secret. The version, the key id and the caller's context (the
cookie name) are the associated data, so a token moved to another cookie name fails to open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .clock import Random, system_random
from .errors import ConfigError, InvalidSession

VERSION = 1
_KID_LEN = 4
_NONCE_LEN = 12
_TAG_LEN = 16
_HEADER_LEN = 1 + _KID_LEN
_MIN_RAW = _HEADER_LEN + _NONCE_LEN + _TAG_LEN
#: ten 4 KB cookie chunks fit well below this; anything longer is refused before decoding
MAX_TOKEN_CHARS = 64 * 1024
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_HKDF_SALT = b"authsvc seal v1"


def b64encode(data: bytes) -> str:
    """URL-safe base64 without padding: a valid cookie value as is (RFC 6265 cookie-octet)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict inverse of `b64encode`; raises InvalidSession on anything else."""
    if not _B64URL.fullmatch(text):
        raise InvalidSession("not base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidSession("bad base64 length") from None
    # Only the canonical encoding is accepted, so one token has exactly one spelling.
    if b64encode(raw) != text:
        raise InvalidSession("non-canonical base64")
    return raw


def random_token(nbytes: int = 32, random: Random = system_random) -> str:
    """A random, cookie- and URL-safe string carrying `nbytes` of randomness."""
    return b64encode(random(nbytes))


def derive_key(secret: bytes, purpose: str) -> bytes:
    """The 32-byte AEAD key for one secret and one purpose (HKDF-SHA256, RFC 5869)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=purpose.encode())
    return hkdf.derive(secret)


def key_id(key: bytes) -> bytes:
    """A short, non-secret name for a derived key."""
    return hmac.new(key, b"authsvc key id", hashlib.sha256).digest()[:_KID_LEN]


class Sealer:
    """Seal with the newest secret (first listed), open with any listed one."""

    def __init__(
        self, keys: Sequence[bytes], purpose: str, random: Random = system_random
    ) -> None:
        if not keys:
            raise ConfigError("cookie_secret: at least one secret is required")
        if not purpose:
            raise ConfigError("a sealing purpose is required")
        self.purpose = purpose
        self._random = random
        # Built once: AESGCM objects are reused on every request (the hot path).
        aeads: list[tuple[bytes, AESGCM]] = []
        for secret in keys:
            derived = derive_key(secret, purpose)
            aeads.append((key_id(derived), AESGCM(derived)))
        self._kid, self._aead = aeads[0]
        # A 4-byte id can collide (1 in 2**32 per pair): keep every key under its id.
        self._by_kid: dict[bytes, list[AESGCM]] = {}
        for kid, aead in aeads:
            self._by_kid.setdefault(kid, []).append(aead)

    def seal(self, data: bytes, context: bytes = b"") -> str:
        """Encrypt and authenticate `data`, bound to `context` (e.g. the cookie name)."""
        header = bytes([VERSION]) + self._kid
        # A random 96-bit nonce per message (NIST SP 800-38D 8.2.2).
        nonce = self._random(_NONCE_LEN)
        sealed = self._aead.encrypt(nonce, data, header + context)
        return b64encode(header + nonce + sealed)

    def unseal(self, token: str, context: bytes = b"") -> bytes:
        """The data sealed in `token`; raises InvalidSession for anything that does not open."""
        if not isinstance(token, str):
            raise InvalidSession("token is not text")
        if not isinstance(context, bytes):
            raise InvalidSession("context is not bytes")
        if not token:
            raise InvalidSession("empty token")
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidSession("token too long")
        raw = b64decode(token)
        if len(raw) < _MIN_RAW:
            raise InvalidSession("token too short")
        if raw[0] != VERSION:
            raise InvalidSession("unknown token version")
        header = raw[:_HEADER_LEN]
        candidates = self._by_kid.get(raw[1:_HEADER_LEN])
        if candidates is None:
            raise InvalidSession("unknown key (secret rotated out, or another purpose)")
        nonce = raw[_HEADER_LEN : _HEADER_LEN + _NONCE_LEN]
        body = raw[_HEADER_LEN + _NONCE_LEN :]
        for aead in candidates:
            try:
                return aead.decrypt(nonce, body, header + context)
            except InvalidTag:
                continue
        raise InvalidSession("token does not open (tampered, or another cookie)")
