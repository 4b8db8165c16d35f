"""Decision + Session -> the identity headers of a 2xx answer (oauth2-proxy's names).

Every configured header is always sent, empty if need be: Envoy and some Caddy versions keep a
client-supplied copy when the auth answer lacks the header (proxy-contracts.md §8).

The encoding is injective, so two different identities never give the same headers, and an
app can always tell what authsvc meant (README "Identity headers"):

- a printable ASCII character other than `%` and `,` is sent as is, and so is a space inside a
  value (plain names, e-mails and group lists look exactly as oauth2-proxy sends them);
- `%`, `,`, a space at either end of a value or list item (RFC 9110 §5.5: parsers strip it),
  control characters and anything outside ASCII are sent as `%XX`, one per UTF-8 byte
  (RFC 3986 §2.1), so the value is `urllib.parse.unquote` / `decodeURIComponent` away;
- a list (groups) is its items, each encoded as above, joined with `,`: a group named
  `x,admins` is `x%2Cadmins`, never membership of `admins`. Empty names are not groups
  (claims.py drops them) and are skipped.

Where machine identities can pass (`allowed_clients` is set), every 2xx also carries
`X-Auth-Request-Identity-Type` (`user` or `machine`; empty on a public route) and
`X-Auth-Request-Client-Id` (the OAuth client a bearer token was issued to; empty for a browser
session), so an app can tell a service from a person (docs/api-clients.md).

`claim_headers` adds one header per mapped claim (`X-Auth-Request-Tenant=tid`), always sent,
empty when the identity lacks the claim: its values, kept in the session at login
(providers/claims.py `kept_claims`), encoded as a list like groups (a single value is a list of
one, so `a,b` in a string claim is `a%2Cb`).

Text that is not valid Unicode (a lone surrogate, which JSON can carry) has no UTF-8 form, and
a token with anything but printable ASCII (or a space at either end) cannot be passed on
unchanged: such a session gets a 403 and a log line, never a header that says something else.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable
from urllib.parse import unquote

from ..config.headers import HeaderOptions
from ..memo import BoundedMemo
from ..models import KEPT_CLAIM, Identity, Session

log = logging.getLogger("authsvc")

#: sessions whose encoded headers are remembered (the session cache holds 4096)
_RAW_MEMO = 4096

#: sent as is: printable ASCII but "%" (the escape) and "," (the list separator), with inner spaces
_SAFE = frozenset(chr(c) for c in range(0x21, 0x7F)) - {"%", ","}
_PLAIN = re.compile(r"(?:[!-$&-+\--~](?:[ !-$&-+\--~]*[!-$&-+\--~])?)?")
#: tokens go on unchanged or not at all: RFC 6749 A.12 allows %x20-7E; a space at either end
#: would not survive a header parser (RFC 9110 §5.5)
_TOKEN = re.compile(r"(?:[!-~](?:[ -~]*[!-~])?)?")

Raw = list[tuple[bytes, bytes]]


class Unrepresentable(ValueError):
    """A value that no header value can carry unchanged (the check answers 403)."""


def encode_value(text: str) -> str:
    """One identity value as a header value (module docstring); Unrepresentable if invalid."""
    if _PLAIN.fullmatch(text):
        return text
    last = len(text) - 1
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch in _SAFE or (ch == " " and 0 < i < last):
            out.append(ch)
            continue
        try:
            octets = ch.encode("utf-8")
        except UnicodeEncodeError:
            raise Unrepresentable("not valid Unicode text (a lone surrogate)") from None
        out.append("".join(f"%{b:02X}" for b in octets))
    return "".join(out)


def encode_list(items: Iterable[str]) -> str:
    """A list of names (groups) as one header value: encoded items joined with ","."""
    return ",".join(encode_value(item) for item in items if item)


def decode_value(value: str) -> str:
    """What an app does to read a value back (the inverse of `encode_value`)."""
    return unquote(value, errors="strict")


def decode_list(value: str) -> list[str]:
    """What an app does to read a list back (the inverse of `encode_list`)."""
    return [decode_value(item) for item in value.split(",")] if value else []


def token_value(token: str) -> str:
    """A token passed on verbatim (the app hands it to an API): printable ASCII only."""
    if not _TOKEN.fullmatch(token):
        raise Unrepresentable("the token holds characters a header cannot carry unchanged")
    return token


class IdentityHeaders:
    """Which headers to send, decided once from settings."""

    def __init__(self, settings: HeaderOptions, machines: bool = False) -> None:
        self.xauthrequest = settings.set_xauthrequest
        #: machine identities may pass (allowed_clients): say which kind each identity is
        self.machines = machines and settings.set_xauthrequest
        self.access_token = settings.set_xauthrequest and settings.pass_access_token
        self.authorization = settings.set_authorization_header
        #: oauth2-proxy's set_basic_auth: Authorization: Basic base64(user:basic_auth_password)
        self.basic = settings.set_basic_auth
        self._basic_password = settings.basic_auth_password.get_secret_value()
        self._basic_email = settings.prefer_email_to_user
        self._raw: BoundedMemo[int, tuple[Session, Raw | None]] = BoundedMemo(_RAW_MEMO)
        #: (header, Identity.extra key) per `claim_headers` entry
        self.claims = tuple((name, KEPT_CLAIM + path) for name, path in settings.claim_header_map)

    @property
    def names(self) -> tuple[str, ...]:
        """The headers a 2xx carries (for proxy configs and docs)."""
        out: list[str] = []
        if self.xauthrequest:
            out += [
                "X-Auth-Request-User",
                "X-Auth-Request-Email",
                "X-Auth-Request-Preferred-Username",
                "X-Auth-Request-Groups",
            ]
        if self.machines:
            out += ["X-Auth-Request-Identity-Type", "X-Auth-Request-Client-Id"]
        if self.access_token:
            out.append("X-Auth-Request-Access-Token")
        if self.authorization or self.basic:
            out.append("Authorization")
        out += [name for name, _ in self.claims]
        return tuple(out)

    def empty(self) -> dict[str, str]:
        """Every configured header, empty: a public (skipped) route names nobody, and an empty
        value still overwrites a client's copy (Envoy and Caddy keep one the answer lacks)."""
        return dict.fromkeys(self.names, "")

    def raw_for_session(self, session: Session) -> Raw | None:
        """`for_session`, encoded for the ASGI response, remembered per session object; None
        when the session's identity cannot be sent (logged once per remembered session).

        The session cache hands out the same Session object for a cookie until it expires, so
        a page's burst of checks encodes its headers once. Bounded; an entry holds its session,
        so an id is never reused while it is remembered.
        """
        hit = self._raw.data.get(id(session))
        if hit is not None and hit[0] is session:
            return hit[1]
        raw: Raw | None
        try:
            raw = [(k.lower().encode(), v.encode("ascii")) for k, v in self.for_session(session).items()]
        except Unrepresentable as exc:
            # the user id is safe to log (it is in every access line); the value is not quoted
            log.warning(
                "auth: identity of user=%r cannot be sent as headers: %s; answering 403",
                session.identity.user, exc, extra={"user": session.identity.user, "reason": str(exc)},
            )
            raw = None
        self._raw.put(id(session), (session, raw))
        return raw

    def refusal(self, session: Session) -> str | None:
        """Why this session's identity cannot be sent as headers, or None (login checks it before
        writing a session it could never let through)."""
        try:
            self.for_session(session)
        except Unrepresentable as exc:
            return str(exc)
        return None

    def for_session(self, session: Session) -> dict[str, str]:
        """The identity headers for a signed-in session; Unrepresentable if it has none."""
        ident = session.identity
        out: dict[str, str] = {}
        if self.xauthrequest:
            out["X-Auth-Request-User"] = encode_value(ident.user)
            out["X-Auth-Request-Email"] = encode_value(ident.email)
            out["X-Auth-Request-Preferred-Username"] = encode_value(ident.preferred_username)
            out["X-Auth-Request-Groups"] = encode_list(ident.groups)
        if self.machines:
            out["X-Auth-Request-Identity-Type"] = "machine" if ident.machine else "user"
            out["X-Auth-Request-Client-Id"] = encode_value(ident.client_id)
        if self.access_token:
            out["X-Auth-Request-Access-Token"] = token_value(session.tokens.access_token)
        if self.authorization:
            token = session.tokens.id_token
            out["Authorization"] = f"Bearer {token_value(token)}" if token else ""
        elif self.basic:
            # prefer_email_to_user: the e-mail, falling back to the user when there is none
            name = (ident.email or ident.user) if self._basic_email else ident.user
            try:
                pair = f"{name}:{self._basic_password}".encode()
            except UnicodeEncodeError:
                raise Unrepresentable("not valid Unicode text (a lone surrogate)") from None
            out["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        for name, key in self.claims:
            out[name] = encode_list(_kept(ident, key))
        return out


def _kept(identity: Identity, key: str) -> list[str]:
    return [value for name, value in identity.extra if name == key]
