"""Decision + Session -> the identity headers of a 2xx answer (oauth2-proxy's names).

Every configured header is always sent, empty if need be: Envoy and some Caddy versions keep a
client-supplied copy when the auth answer lacks the header (proxy-contracts.md §8).
"""

from __future__ import annotations

import base64
import re

from .config import Settings
from .models import Session

#: sessions whose encoded headers are remembered (the session cache holds 4096)
_RAW_MEMO = 4096
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def header_value(value: str) -> str:
    """A value safe to emit: no CR/LF or other controls (header injection), Latin-1 only."""
    value = _UNSAFE.sub("", value)
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        # RFC 9110 §5.5: field values are octets; non-Latin-1 text is percent-encoded, not sent raw
        value = "".join(c if ord(c) < 256 else f"%{ord(c):X}" for c in value)
        value = value.encode("utf-8", "backslashreplace").decode("latin-1", "replace")
    return value


class IdentityHeaders:
    """Which headers to send, decided once from settings."""

    def __init__(self, settings: Settings) -> None:
        self.xauthrequest = settings.set_xauthrequest
        self.access_token = settings.set_xauthrequest and settings.pass_access_token
        self.authorization = settings.set_authorization_header
        #: oauth2-proxy's set_basic_auth: Authorization: Basic base64(user:basic_auth_password)
        self.basic = settings.set_basic_auth
        self._basic_password = settings.basic_auth_password.get_secret_value()
        self._basic_email = settings.prefer_email_to_user
        self._raw: dict[int, tuple[Session, list[tuple[bytes, bytes]]]] = {}

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
        if self.access_token:
            out.append("X-Auth-Request-Access-Token")
        if self.authorization or self.basic:
            out.append("Authorization")
        return tuple(out)

    def empty(self) -> dict[str, str]:
        """Every configured header, empty: a public (skipped) route names nobody, and an empty
        value still overwrites a client's copy (Envoy and Caddy keep one the answer lacks)."""
        return dict.fromkeys(self.names, "")

    def raw_for_session(self, session: Session) -> list[tuple[bytes, bytes]]:
        """`for_session`, encoded for the ASGI response, remembered per session object.

        The session cache hands out the same Session object for a cookie until it expires, so
        a page's burst of checks encodes its headers once. Bounded; an entry holds its session,
        so an id is never reused while it is remembered.
        """
        hit = self._raw.get(id(session))
        if hit is not None and hit[0] is session:
            return hit[1]
        raw = [(k.lower().encode(), v.encode("latin-1")) for k, v in self.for_session(session).items()]
        if len(self._raw) >= _RAW_MEMO:
            self._raw.clear()
        self._raw[id(session)] = (session, raw)
        return raw

    def for_session(self, session: Session) -> dict[str, str]:
        """The identity headers for a signed-in session."""
        ident = session.identity
        out: dict[str, str] = {}
        if self.xauthrequest:
            out["X-Auth-Request-User"] = header_value(ident.user)
            out["X-Auth-Request-Email"] = header_value(ident.email)
            out["X-Auth-Request-Preferred-Username"] = header_value(ident.preferred_username)
            out["X-Auth-Request-Groups"] = header_value(",".join(ident.groups))
        if self.access_token:
            out["X-Auth-Request-Access-Token"] = header_value(session.tokens.access_token)
        if self.authorization:
            token = session.tokens.id_token
            out["Authorization"] = header_value(f"Bearer {token}") if token else ""
        elif self.basic:
            # prefer_email_to_user: the e-mail, falling back to the user when there is none
            name = (ident.email or ident.user) if self._basic_email else ident.user
            pair = f"{name}:{self._basic_password}".encode()
            out["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return out
