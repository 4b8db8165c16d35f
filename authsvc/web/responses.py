"""Response helpers every endpoint shares: no-cache headers, redirects, Set-Cookie, error pages."""

from __future__ import annotations

import logging

from starlette.responses import RedirectResponse, Response

from .. import cookies
from ..errors import SessionTooLarge
from ..models import Session

#: the refresh's lines keep the logger they always had
refresh_log = logging.getLogger("authsvc.refresh")

NO_CACHE = {
    "Cache-Control": "no-cache, no-store, must-revalidate, max-age=0",
    "Expires": "Thu, 01 Jan 1970 00:00:00 GMT",
    "X-Accel-Expires": "0",
}


Raw = list[tuple[bytes, bytes]]


def encode_head(raw: Raw) -> bytes:
    """HTTP/1.1 header lines of `raw`; ValueError when a name or value holds CR, LF or NUL
    (one would start a header of its own: response splitting)."""
    if len(raw) == 1:  # the usual rest of a check's answer: its X-Request-ID alone
        name, value = raw[0]
        block = b"%s: %s\r\n" % (name, value)
    else:
        block = b"".join(n + b": " + v + b"\r\n" for n, v in raw)
    if block.count(b"\n") != len(raw) or block.count(b"\r") != len(raw) or b"\0" in block:
        raise ValueError("a header name or value holds CR, LF or NUL")
    return block


class Prepared(Response):
    """A response whose first headers also come encoded and checked (`head`, the lines of
    `raw_headers[:count]`, made once per distinct answer), so web/lean.py writes them as they
    are; what is appended later (X-Request-ID, a Set-Cookie) is encoded per answer. Over ASGI
    it is an ordinary Response. `template` is a Response built as usual, so the headers
    Starlette adds (content-length, content-type) are its own.
    """

    def __init__(self, template: Response, extra: Raw | None = None) -> None:
        self.status_code = template.status_code
        self.background = None
        self.body = template.body
        self.raw_headers = [*template.raw_headers, *(extra or ())]
        self.count = len(self.raw_headers)
        self.head = encode_head(self.raw_headers)

    def copy(self) -> Prepared:
        """A fresh answer with the same status, body and headers (the head is not re-encoded)."""
        out = object.__new__(Prepared)
        out.status_code, out.background, out.body = self.status_code, None, self.body
        out.raw_headers = self.raw_headers[:]
        out.count, out.head = self.count, self.head
        return out


def add_cookies(response: Response, set_cookies: list[str]) -> Response:
    """Attach Set-Cookie header values to a response."""
    for value in set_cookies:
        response.raw_headers.append((b"set-cookie", value.encode("latin-1")))
    return response


def redirect(location: str, set_cookies: list[str] | None = None) -> Response:
    """A 302 that no cache keeps."""
    response = RedirectResponse(location, 302, headers=NO_CACHE)
    return add_cookies(response, set_cookies or [])


def refreshed_cookie(
    value: str | None, session: Session | None, cs: cookies.CookieSettings, host: str, now: int
) -> str | None:
    """ONE Set-Cookie for a refreshed session's new cookie value (nginx relays only one from an
    auth answer), living as long as the session has left; None when there is nothing to set.

    A value that needs chunks, or does not fit at all (SessionTooLarge), sets nothing: the
    request is answered with the refreshed session, and the old value keeps working through
    the refresher's memo for REPLACED_TTL only, so such sessions belong in Redis. Failing
    safe here means answering the check normally: the refresh itself succeeded, and a 400
    from /oauth2/auth would reach the browser as a 500 from nginx.
    """
    if value is None or session is None:
        return None
    left = session.expires_at - now if session.expires_at else None
    try:
        values = cookies.session_set_cookies(value, cs, host, (), left)
    except SessionTooLarge as exc:
        refresh_log.warning("refresh: %s; the old cookie is kept", exc.reason,
                            extra={"code": exc.code})
        return None
    if len(values) == 1:
        return values[0]
    refresh_log.warning("refresh: the refreshed session needs %d cookies; use the Redis store", len(values))
    return None
