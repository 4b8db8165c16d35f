"""Response helpers every endpoint shares: no-cache headers, redirects, Set-Cookie, error pages."""

from __future__ import annotations

import html

from starlette.responses import HTMLResponse, RedirectResponse, Response

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


def error_page(status: int, title: str, detail: str, retry: str = "") -> Response:
    """A small HTML error page; `detail` is user-safe text, never a token."""
    link = f'<p><a href="{html.escape(retry)}">Sign in again</a></p>' if retry else ""
    body = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(detail)}</p>{link}"
        "</body></html>"
    )
    return HTMLResponse(body, status, headers=NO_CACHE)
