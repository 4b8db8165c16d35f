"""The Redis store's cookie: a sealed ticket (a session id plus that session's own key).

The id names the Redis record; the 32-byte key encrypts it (AES-256-GCM), so a dump of Redis
alone reveals nothing, and the cookie alone holds no session data. The ticket is sealed with
the cookie secrets (purpose "session-ticket", bound to the cookie name), so rotating the secret
works the same as for the cookie store.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..clock import Random
from ..crypto import Sealer
from ..errors import InvalidSession

ID_LEN = 16
KEY_LEN = 32
_NONCE_LEN = 12
_VERSION = 1
#: version | sealed_at | expires_at (0 = none), in front of the codec bytes
_HEAD = struct.Struct(">BQQ")


@dataclass(frozen=True, slots=True)
class Ticket:
    """A session id and the key its Redis record is encrypted with."""

    id: bytes
    key: bytes

    @classmethod
    def new(cls, random: Random) -> Ticket:
        """A fresh ticket: 128 random bits of id, 256 of key."""
        return cls(random(ID_LEN), random(KEY_LEN))

    @property
    def hex(self) -> str:
        return self.id.hex()


class TicketCodec:
    """Ticket <-> cookie value, and session bytes <-> the Redis record of a ticket."""

    def __init__(self, sealer: Sealer, cookie_name: str, random: Random) -> None:
        self._sealer = sealer
        self._context = cookie_name.encode()
        self._random = random

    def to_cookie(self, ticket: Ticket) -> str:
        """The cookie value holding the ticket."""
        return self._sealer.seal(ticket.id + ticket.key, self._context)

    def from_cookie(self, value: str) -> Ticket:
        """The ticket in a cookie value; InvalidSession when it does not open."""
        raw = self._sealer.unseal(value, self._context)
        if len(raw) != ID_LEN + KEY_LEN:
            raise InvalidSession("session ticket has the wrong length")
        return Ticket(raw[:ID_LEN], raw[ID_LEN:])

    def seal_record(self, ticket: Ticket, sealed_at: int, expires_at: int, body: bytes) -> bytes:
        """The Redis record: nonce | AES-GCM(head | body), bound to the ticket id."""
        nonce = self._random(_NONCE_LEN)
        plain = _HEAD.pack(_VERSION, sealed_at, max(expires_at, 0)) + body
        return nonce + AESGCM(ticket.key).encrypt(nonce, plain, ticket.id)

    def open_record(self, ticket: Ticket, record: bytes) -> tuple[int, int, bytes]:
        """(sealed_at, expires_at, body) of a record; InvalidSession when it does not open."""
        if len(record) < _NONCE_LEN + 16 + _HEAD.size:
            raise InvalidSession("session record too short")
        try:
            plain = AESGCM(ticket.key).decrypt(record[:_NONCE_LEN], record[_NONCE_LEN:], ticket.id)
        except InvalidTag:
            raise InvalidSession("session record does not open (tampered)") from None
        version, sealed_at, expires_at = _HEAD.unpack_from(plain)
        if version != _VERSION:
            raise InvalidSession("unknown session record version")
        return sealed_at, expires_at, plain[_HEAD.size :]
