"""Client authentication with a signed JWT: `private_key_jwt` (OIDC Core §9, RFC 7523 §2.2).

Instead of a shared secret the client sends, with each token request, a short-lived JWT signed
with its own RSA key, whose public half the IdP holds (login.gov takes nothing else). The claims
are what OIDC Core §9 requires: iss = sub = client_id, aud = the token endpoint, a fresh jti
(the IdP refuses a replay), exp a minute away. joserfc signs it (authlib's RFC 7523 client
builds the same JWT with the deprecated authlib.jose; STYLE.md).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from joserfc import jwt
from joserfc.jwk import RSAKey

from ..clock import Clock
from ..config import Settings
from ..config.client_key import client_key
from ..errors import ConfigError

#: RFC 7523 §2.2: the client_assertion_type of a JWT client assertion
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: seconds an assertion is valid: one token request, plus the clock skew IdPs allow
LIFETIME = 60


def _jti() -> str:
    return secrets.token_urlsafe(24)


class ClientAssertions:
    """Signs one client assertion per token request."""

    def __init__(
        self, key: RSAKey, client_id: str, clock: Clock, new_id: Callable[[], str] = _jti
    ) -> None:
        self._key = key
        self._client_id = client_id
        self._clock = clock
        self._new_id = new_id

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> ClientAssertions | None:
        """The signer for the configured jwt_key / jwt_key_file, or None without one."""
        try:
            key = client_key(settings.jwt_key.get_secret_value(), settings.jwt_key_file)
        except ValueError as exc:  # checked at start-up already; the file may have gone since
            option, _, problem = str(exc).removeprefix("@").partition("@ ")
            raise ConfigError(f"invalid option {option}: {problem}") from None
        return cls(key, settings.client_id, clock) if key is not None else None

    def form(self, token_endpoint: str) -> dict[str, str]:
        """The token request's client authentication parameters (RFC 7521 §4.2)."""
        now = int(self._clock())
        claims = {
            "iss": self._client_id,
            "sub": self._client_id,
            # OIDC Core §9: the audience SHOULD be the token endpoint's URL
            "aud": token_endpoint,
            "jti": self._new_id(),
            "iat": now,
            "exp": now + LIFETIME,
        }
        assertion = jwt.encode({"alg": "RS256", "typ": "JWT"}, claims, self._key, algorithms=["RS256"])
        return {"client_id": self._client_id, "client_assertion_type": JWT_BEARER,
                "client_assertion": assertion}

    def __repr__(self) -> str:  # the key never reaches a log line through a repr
        return f"ClientAssertions(client_id={self._client_id!r})"
