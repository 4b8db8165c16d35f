"""The one exception tree of authsvc. Each error knows the HTTP status it maps to.

    AuthsvcError                 base; never escapes as a 500 from a route
    ├── ConfigError              a setting is invalid (start-up; not an HTTP error)
    ├── InvalidSession (401)     a cookie or ticket that does not open: tampered, expired, foreign
    ├── LoginError (400)         the login flow cannot go on: bad/missing/replayed state, IdP error=
    │   ├── IssuerMismatch (403) the authorization response names another issuer (RFC 9207)
    │   └── TokenError (403)     the IdP's answer failed verification (ID token, nonce, claims)
    │       └── ClientRejected (502) the IdP refused our client credentials (invalid_client)
    ├── Forbidden (403)          signed in, but a rule denies
    ├── ProviderUnavailable (502) the IdP (or its metadata/JWKS) cannot be reached
    └── StoreUnavailable (503)   the session store (Redis) cannot be reached
"""

from __future__ import annotations


class AuthsvcError(Exception):
    """Base of every error authsvc raises on purpose."""

    status: int = 500
    #: short, user-safe text for the response body (never a token or secret)
    public: str = "internal error"

    def __init__(self, reason: str = "", *, status: int | None = None) -> None:
        super().__init__(reason or self.public)
        self.reason = reason or self.public
        if status is not None:
            self.status = status


class ConfigError(AuthsvcError):
    """A setting is missing or invalid; the message names the option."""

    status = 500
    public = "configuration error"


class InvalidSession(AuthsvcError):
    """A session cookie or ticket could not be opened (treated as 'no session')."""

    status = 401
    public = "unauthorized"


class LoginError(AuthsvcError):
    """The login flow cannot continue (state missing, forged, replayed; IdP error)."""

    status = 400
    public = "login failed"


class IssuerMismatch(LoginError):
    """The authorization response's `iss` is not our IdP's, or is missing though the IdP
    promises it: the mix-up attack RFC 9207 defends against (or a misconfiguration)."""

    status = 403
    public = "the sign-in answer did not come from the configured identity provider"


class TokenError(LoginError):
    """The IdP's tokens failed verification (signature, iss, aud, exp, nonce, claims)."""

    status = 403
    public = "login rejected"


class ClientRejected(TokenError):
    """The IdP refused authsvc's own client credentials: a configuration problem, not the user's
    (RFC 6749 §5.2 `invalid_client`, or a 401 from the token endpoint). Retrying cannot help."""

    status = 502
    public = "the identity provider refused this service's client credentials"


class Forbidden(AuthsvcError):
    """Signed in, but a rule denies access."""

    status = 403
    public = "forbidden"


class ProviderUnavailable(AuthsvcError):
    """The identity provider, its metadata or its keys cannot be reached."""

    status = 502
    public = "identity provider unavailable"


class StoreUnavailable(AuthsvcError):
    """The session store cannot be reached."""

    status = 503
    public = "session store unavailable"
