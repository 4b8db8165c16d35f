"""Response helpers every endpoint shares: no-cache headers, redirects, Set-Cookie, error pages."""

from __future__ import annotations

import html
import logging

from starlette.responses import HTMLResponse, RedirectResponse, Response

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


def add_cookies(response: Response, set_cookies: list[str]) -> Response:
    """Attach Set-Cookie header values to a response."""
    for value in set_cookies:
        response.raw_headers.append((b"set-cookie", value.encode("latin-1")))
    return response


def redirect(location: str, set_cookies: list[str] | None = None) -> Response:
    """A 302 that no cache keeps."""
    response = RedirectResponse(location, 302, headers=NO_CACHE)
    return add_cookies(response, set_cookies or [])


def error_page(status: int, title: str, detail: str, retry: str = "", code: str = "") -> Response:
    """A small HTML error page; `detail` is user-safe text, never a token; `code` the error's
    machine name (errors.py), for support requests and scripts."""
    link = f'<p><a href="{html.escape(retry)}">Sign in again</a></p>' if retry else ""
    named = f'<p id="error-code"><code>{html.escape(code)}</code></p>' if code else ""
    body = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(detail)}</p>{named}{link}"
        "</body></html>"
    )
    return HTMLResponse(body, status, headers=NO_CACHE)


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
