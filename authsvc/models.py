"""Value objects that cross module boundaries. Frozen: built once, read many times."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

#: Identity.extra key prefix of the claims kept for `claim_headers` ("claim:tid"); the other
#: extra entries (htpasswd's marker, DPoP's cnf.jkt) never start with it
KEPT_CLAIM = "claim:"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the caller is, in our own terms (not the IdP's claim names)."""

    user: str
    email: str = ""
    groups: tuple[str, ...] = ()
    preferred_username: str = ""
    email_verified: bool | None = None
    #: the IdP's own subject and session id, for back-channel logout
    subject: str = ""
    sid: str = ""
    #: claims kept for rules and `claim_headers` (small; one pair per value of a list claim)
    extra: tuple[tuple[str, str], ...] = ()
    #: a machine (client credentials): no user behind it, admitted only by `allowed_clients`
    machine: bool = False
    #: the OAuth client the token was issued to (`client_id` / `azp`), "" when unknown
    client_id: str = ""
    #: the access token's scopes; None when unknown (a browser session): a scope rule denies it
    scopes: frozenset[str] | None = None
    #: the access token's audiences (`aud`); empty when unknown
    audiences: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Tokens:
    """What the token endpoint gave us."""

    access_token: str = ""
    id_token: str = ""
    refresh_token: str = ""
    #: unix time the access token expires, 0 when unknown
    expires_at: int = 0


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser (or API client). Times are unix seconds."""

    identity: Identity
    tokens: Tokens = field(default_factory=Tokens)
    created_at: int = 0
    #: when the session ends regardless of activity (cookie_expire after login)
    expires_at: int = 0
    #: last time the tokens were refreshed (== created_at when never)
    refreshed_at: int = 0
    #: the app that signed it in ("" = the implicit single app, and every session from before
    #: apps existed); another app's loader refuses it (config/apps.py)
    app: str = ""
    #: the issuer that signed it in (the provider's oidc_issuer_url; "" for non-OIDC providers
    #: and for sessions from before it was recorded)
    issuer: str = ""

    def with_tokens(self, tokens: Tokens, now: int, identity: Identity | None = None) -> Session:
        """A copy after a refresh: new tokens (and identity if the IdP sent a new ID token)."""
        return replace(
            self, tokens=tokens, refreshed_at=now, identity=identity or self.identity
        )

    def expired(self, now: int) -> bool:
        return self.expires_at != 0 and now >= self.expires_at


@dataclass(frozen=True, slots=True)
class LoginState:
    """One login attempt, kept in a short-lived encrypted cookie named after it."""

    state: str
    nonce: str
    code_verifier: str
    rd: str
    created_at: int


class OriginalRequest(NamedTuple):
    """The request the proxy is asking about, normalised from whatever headers it sends.

    A named tuple, not a frozen dataclass: one or two are built on every check, and a frozen
    dataclass's `__init__` (an `object.__setattr__` per field) cost ~0.3 µs more each.
    """

    method: str
    scheme: str
    host: str
    #: path plus query, as the client sent it (percent-encoded)
    uri: str
    #: whether method and path are evidence of the original request: the request line of a
    #: trusted proxy's check, or headers the configured proxy kind always sets (overwriting the
    #: client's copy), with no other description disagreeing (check/forwarded.py). Only then may a
    #: rule relax the decision (skip_auth_routes, skip_auth_preflight); the rest (sign-in
    #: redirect target, api_routes) uses the best description there is.
    verified: bool = False

    @property
    def path(self) -> str:
        """The path only: query and fragment cut off (rules never see the query)."""
        cut = len(self.uri)
        for sep in ("?", "#"):
            i = self.uri.find(sep)
            if i != -1 and i < cut:
                cut = i
        return self.uri[:cut] or "/"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}{self.uri}"


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to 'may this caller see this request?'."""

    allowed: bool
    #: why not, for the log (never shown to the client); the edge answers a refusal with 403
    reason: str = ""
    #: the scopes a per-route rule requires, for `WWW-Authenticate: Bearer scope=` (RFC 6750 §3)
    scope: str = ""


ALLOW = Decision(True)
