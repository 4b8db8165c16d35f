"""The one exception tree of authsvc. Each class knows its HTTP status and a machine `code`.

    AuthsvcError                      base; never escapes as a 500 from a route
    ├── ConfigError                   a setting is invalid (start-up; not an HTTP error)
    ├── InvalidSession (401)          a cookie or ticket that does not open: tampered, expired, foreign
    ├── LoginError (400)              the login flow cannot go on with this request (no code)
    │   ├── LoginStateError (403)     the login state is missing, forged, expired or replayed
    │   ├── IssuerMismatch (403)      the authorization response names another issuer (RFC 9207)
    │   ├── IdPLoginError (403)       the IdP answered the callback with `error=`
    │   └── IdentityUnsendable (403)  no identity header could say who this is
    ├── TokenError (403)              a token failed verification or was refused: an ID token, a
    │   │                             bearer or logout token, a refresh token, an API's answer
    │   └── ProviderRefused (403)     the IdP answered 4xx (its OAuth `error` kept), providers/http.py
    │       └── ClientRejected (502)  the IdP refused our own client credentials (invalid_client)
    ├── SessionTooLarge (400)         a session does not fit in MAX_CHUNKS cookies
    ├── BodyTimeout (408)             a request body did not arrive in time (web/bodies.py)
    ├── BodyTooLarge (413)            a request body over max_request_body_bytes
    ├── ProviderUnavailable (502)     the IdP (or its metadata/JWKS) cannot be reached; retry later
    ├── StoreUnavailable (503)        the session store (Redis) cannot be reached
    └── PasswordChecksBusy (503)      too many htpasswd bcrypt checks at once (check/htpasswd.py)

`status` and `public` (user-safe text) decide the answer; `code` names the error for logs and
pages (stable, snake_case, never a secret). A class per status, so no raise site picks one.
"""

from __future__ import annotations


class AuthsvcError(Exception):
    """Base of every error authsvc raises on purpose."""

    status: int = 500
    code: str = "internal_error"
    #: short, user-safe text for the response body (never a token or secret)
    public: str = "internal error"

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason or self.public)
        self.reason = reason or self.public


class ConfigError(AuthsvcError):
    """A setting is missing or invalid; the message names the option."""

    status = 500
    code = "config_error"
    public = "configuration error"


class InvalidSession(AuthsvcError):
    """A session cookie or ticket could not be opened (treated as 'no session')."""

    status = 401
    code = "invalid_session"
    public = "unauthorized"


class LoginError(AuthsvcError):
    """The login flow cannot continue with this request (e.g. a callback without a code)."""

    status = 400
    code = "login_failed"
    public = "login failed"


class IssuerMismatch(LoginError):
    """The authorization response's `iss` is not our IdP's, or is missing though the IdP
    promises it: the mix-up attack RFC 9207 defends against (or a misconfiguration)."""

    status = 403
    code = "issuer_mismatch"
    public = "the sign-in answer did not come from the configured identity provider"


class LoginStateError(LoginError):
    """The login state is missing, forged, from another browser, too old or already used."""

    status = 403
    code = "invalid_state"


class IdPLoginError(LoginError):
    """The identity provider answered the callback with an `error` parameter."""

    status = 403
    code = "idp_error"


class IdentityUnsendable(LoginError):
    """Signed in, but no identity header value can say exactly who this is (check/headers.py)."""

    status = 403
    code = "identity_unsendable"


class TokenError(AuthsvcError):
    """A token failed verification or was refused (signature, iss, aud, exp, nonce, claims;
    an IdP's 4xx to a token, refresh or API request). Not a LoginError: bearer and logout
    tokens and refreshes raise it too, and each caller decides what it means."""

    status = 403
    code = "invalid_token"
    public = "login rejected"


class ProviderRefused(TokenError):
    """The IdP refused a request of ours with a 4xx (not 429); `error` is the OAuth error code
    it sent (RFC 6749 §5.2: invalid_grant, invalid_client, ...), "" when none."""

    code = "provider_refused"

    def __init__(self, reason: str = "", *, error: str = "", http_status: int = 0) -> None:
        super().__init__(reason)
        self.error = error
        #: the IdP's HTTP status (0: an error inside a 200)
        self.http_status = http_status


class ClientRejected(ProviderRefused):
    """The IdP refused authsvc's own client credentials: a configuration problem, not the user's
    (RFC 6749 §5.2 `invalid_client`, or a 401 from the token endpoint). Retrying cannot help."""

    status = 502
    code = "client_rejected"
    public = "the identity provider refused this service's client credentials"


class SessionTooLarge(AuthsvcError):
    """A session value needs more than MAX_CHUNKS cookies (use the Redis store)."""

    status = 400
    code = "session_too_large"
    public = "login failed"


class BodyTimeout(AuthsvcError):
    """A request body still incomplete `request_body_timeout` after the app began to read it."""

    status = 408
    code = "body_timeout"
    public = "request body timeout"


class BodyTooLarge(AuthsvcError):
    """A request body over `max_request_body_bytes`."""

    status = 413
    code = "body_too_large"
    public = "request body too large"


class ProviderUnavailable(AuthsvcError):
    """The identity provider, its metadata or its keys cannot be reached, or it asked us to
    come back later (5xx, 429): `retry_after` seconds when it said so."""

    status = 502
    code = "provider_unavailable"
    public = "identity provider unavailable"

    def __init__(self, reason: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class StoreUnavailable(AuthsvcError):
    """The session store cannot be reached."""

    status = 503
    code = "store_unavailable"
    public = "session store unavailable"


class PasswordChecksBusy(AuthsvcError):
    """Too many Basic passwords are being verified at once (check/htpasswd.py): this one was
    not checked; the client may retry."""

    status = 503
    code = "password_checks_busy"
    public = "too many password checks at once, retry shortly"
