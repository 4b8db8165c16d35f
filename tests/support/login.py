"""Walk the real login flow without a browser: proxy -> authsvc -> IdP login form -> back.

`browse()` behaves like a browser navigation (Accept: text/html, redirects followed across
hosts, the oidc-provider development login form filled in) and records every URL it visited,
so tests can assert on the path as well as on where it ended.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*method="post"', re.IGNORECASE)


@dataclass
class Walk:
    """Where a navigation went: every (status, url) and the final response."""

    final: httpx.Response
    hops: list[tuple[int, str]] = field(default_factory=list)

    def visited(self, prefix: str) -> bool:
        return any(url.startswith(prefix) for _, url in self.hops)


def browse(
    client: httpx.Client,
    url: str,
    *,
    login: str | None = None,
    headers: Mapping[str, str] | None = None,
    max_hops: int = 25,
) -> Walk:
    """GET `url` like a browser; sign in at the IdP as `login` if its form shows up."""
    hdrs = {"Accept": BROWSER_ACCEPT, **(headers or {})}
    hops: list[tuple[int, str]] = []
    response = client.get(url, headers=hdrs)
    for _ in range(max_hops):
        hops.append((response.status_code, str(response.url)))
        if response.is_redirect:
            target = urljoin(str(response.url), response.headers["location"])
            response = client.get(target, headers=hdrs)
            continue
        form = _FORM.search(response.text) if response.status_code == 200 else None
        if form and login is not None and 'name="login"' in response.text:
            action = urljoin(str(response.url), form.group(1))
            response = client.post(
                action,
                data={"prompt": "login", "login": login, "password": "any-password"},
                headers=hdrs,
            )
            login = None  # once: a second form means the login failed
            continue
        return Walk(response, hops)
    raise AssertionError(f"more than {max_hops} hops: {hops}")


_LOGOUT_FORM = re.compile(r'<form[^>]*id="op.logoutForm"[^>]*action="([^"]+)"', re.IGNORECASE)
_XSRF = re.compile(r'name="xsrf" value="([^"]+)"')


def idp_logout(client: httpx.Client, issuer: str) -> httpx.Response:
    """Sign out at the node OP itself (its confirmation form, then "yes"), as from another app.
    oidc-provider sends its back-channel logout POSTs and awaits them before it answers
    (lib/actions/end_session.js, `await Promise.all(back)`)."""
    page = client.get(f"{issuer}/session/end", headers={"Accept": BROWSER_ACCEPT})
    form, xsrf = _LOGOUT_FORM.search(page.text), _XSRF.search(page.text)
    assert form and xsrf, page.text[:500]
    done = client.post(urljoin(f"{issuer}/session/end", form.group(1)),
                       data={"xsrf": xsrf.group(1), "logout": "yes"})  # fmt: skip
    assert done.status_code in (200, 302, 303), done.text[:500]
    return done


class HostMap(httpx.BaseTransport):
    """Send requests for some host names to a loopback port instead (a client-side DNS).

    The request keeps its URL (so cookies, Host and redirects behave as for the real name);
    only the connection goes to `127.0.0.1:<port>` over plain http.
    """

    def __init__(self, mapping: Mapping[str, int]) -> None:
        self.mapping = dict(mapping)
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        port = self.mapping.get(request.url.host)
        if port is not None:
            request = httpx.Request(
                request.method,
                request.url.copy_with(scheme="http", host="127.0.0.1", port=port),
                headers=request.headers,  # Host stays the public name
                content=request.content,
            )
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
