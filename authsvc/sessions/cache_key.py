"""The key of a session's entry in nginx's decision cache: hex(HMAC-SHA256(secret, cookie value)).

nginx computes it in the auth location (set-misc's `set_hmac_sha256` then `set_encode_hex`, over
`$cookie__authsvc`, examples/nginx/nginx-cache.conf) and uses it as `proxy_cache_key`; authsvc
computes the same from the same cookie value with the same `nginx_cache_key_secret`, records it
with the session in Redis (so back-channel logout, which knows only a `sid`/`sub`, can name the
entry) and purges by it. Why a keyed hash and not the cookie itself:

* nginx writes the key in clear into every cache file (`KEY: ...`): keyed by the cookie, a read
  of the cache directory would hand out every cached session's cookie. A key is not a cookie:
  nginx hashes what the client sends, so presenting a key opens nothing.
* Redis may hold the key (a dump must reveal nothing usable, DESIGN.md §4): the cookie itself
  there would be a credential, the key only names a cache entry.
* HMAC rather than a bare hash (set-misc has SHA-1 and MD5 bare, SHA-256 only as HMAC): without
  the secret, keys in Redis or the cache directory cannot even be matched to a cookie value
  found elsewhere. What is left to someone holding a key is purging that entry, and only through
  the purge listener, which answers authsvc alone.

Never log a key: it is the handle of a session's cached decision.
"""

from __future__ import annotations

import hashlib
import hmac

#: what a key looks like (nginx's set_encode_hex writes lowercase)
KEY_LENGTH = 64


class CacheKeys:
    """Computes nginx cache keys of cookie values; disabled (empty keys) without a secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def of(self, value: str) -> str:
        """The key nginx uses for a request carrying session cookie `value` ("" when disabled)."""
        if not self._secret:
            return ""
        # nginx hashes the header's bytes; the ASGI server decoded them as latin-1
        return hmac.digest(self._secret, value.encode("latin-1", "replace"), hashlib.sha256).hex()

    def matches(self, value: str, key: str) -> bool:
        """Whether `key` (what nginx says it cached under) is the key of cookie `value`."""
        return bool(self._secret) and hmac.compare_digest(key.encode("latin-1", "replace"),
                                                          self.of(value).encode())  # fmt: skip


def is_key(text: str) -> bool:
    """Whether `text` has the form of a key (64 lowercase hex digits)."""
    return len(text) == KEY_LENGTH and all(c in "0123456789abcdef" for c in text)
