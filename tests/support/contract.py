"""The checks every proxy must pass (issue 3, "Must be true"), shared by the proxy modules.

Each function drives one proxy's public URL with httpx and asserts what the client and the
upstream (the echo server) saw. The proxy modules call them with their own base URL.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import httpx
from websockets.sync.client import connect as ws_connect

from .echo import Echoed
from .login import BROWSER_ACCEPT, Walk, browse
from .processes import wait_until

#: a path and query with the characters that break naive redirects: & % = + and a space
TRICKY_PATH = "/app/page?x=1&y=a%26b&z=100%25&q=c+d%20e"
IDENTITY = (
    "X-Auth-Request-User",
    "X-Auth-Request-Email",
    "X-Auth-Request-Preferred-Username",
    "X-Auth-Request-Groups",
)
Transport = httpx.BaseTransport | None
SPOOFED = {
    "X-Auth-Request-User": "mallory",
    "X-Auth-Request-Email": "ceo@example.com",
    "X-Auth-Request-Groups": "admins",
    "X-Auth-Request-Preferred-Username": "ceo",
    "X-Auth-Request-Access-Token": "forged",
}
SPOOFED_UNDERSCORE = {
    "X_Auth_Request_Email": "ceo@example.com",
    "X_Auth_Request_User": "mallory",
}


def is_sign_in(url: str) -> bool:
    """A step into sign-in: authsvc's /oauth2/start, or the IdP's authorization request (where
    a proxy serves /oauth2/start in place of the protected URL, as behind NGF)."""
    return "/oauth2/start" in url or "response_type=code" in url


def new_client(transport: Transport = None) -> httpx.Client:
    """A client as the tests use it (with a HostMap transport for non-loopback names)."""
    return httpx.Client(timeout=15, transport=transport)


def echoed(response: httpx.Response) -> Echoed:
    """The echo upstream's report inside a proxied response."""
    assert response.status_code == 200, (response.status_code, response.text[:300])
    return Echoed.parse(json.loads(response.text))


@contextmanager
def signed_in(base: str, login: str, *, transport: Transport = None) -> Iterator[httpx.Client]:
    """A client that went through the real login as `login` and landed back on the app."""
    with new_client(transport) as client:
        walk = browse(client, f"{base}/app/signed-in", login=login)
        assert walk.final.status_code == 200, walk.hops
        yield client


def assert_login_round_trip(
    base: str, login: str = "alice@example.com", *, transport: Transport = None
) -> Walk:
    """1: anonymous -> sign-in -> IdP -> back on the exact URL, identity at the upstream."""
    with new_client(transport) as client:
        walk = browse(client, base + TRICKY_PATH, login=login)
        assert str(walk.final.url) == base + TRICKY_PATH, walk.hops
        seen = echoed(walk.final)
        assert seen.path == TRICKY_PATH
        assert seen.get("X-Auth-Request-Email") == login
        assert seen.get("X-Auth-Request-User") == login
        assert seen.get("X-Auth-Request-Preferred-Username") == login.split("@")[0]
        assert seen.get("X-Auth-Request-Groups") == "admins,devs"
        return walk


def assert_sign_in_redirect(base: str, response: httpx.Response) -> None:
    """A browser navigation without a session: 302 to <base>/oauth2/start, rd = the URL."""
    assert response.status_code == 302, (response.status_code, response.text[:200])
    location = response.headers["location"]
    assert location.startswith(f"{base}/oauth2/start?"), location
    rd = parse_qs(urlsplit(location).query)["rd"][0]
    # decoded once, rd is the original request (as a path or as an absolute URL)
    assert rd in (TRICKY_PATH, base + TRICKY_PATH), rd


def assert_spoofing_stopped(base: str, client: httpx.Client) -> None:
    """2: a client's own X-Auth-Request-* (and X_Auth_Request_*) never reach the upstream."""
    seen = echoed(client.get(base + "/app/x", headers={**SPOOFED, **SPOOFED_UNDERSCORE}))
    email = "alice@example.com"
    assert seen.all("X-Auth-Request-Email") == [email], seen.headers
    assert seen.all("X-Auth-Request-User") == [email], seen.headers
    assert seen.all("X-Auth-Request-Groups") == ["admins,devs"], seen.headers
    assert seen.all("X-Auth-Request-Preferred-Username") == ["alice"], seen.headers
    assert "forged" not in seen.all("X-Auth-Request-Access-Token"), seen.headers
    leaked = {name.lower() for name in SPOOFED_UNDERSCORE} & seen.names()
    assert not leaked, f"underscored identity headers reached the upstream: {leaked}"


def assert_anonymous_spoof_denied(base: str, *, transport: Transport = None) -> None:
    """2 (without a session): spoofed identity headers do not get anyone in."""
    with new_client(transport) as client:
        r = client.get(base + "/app/x", headers={**SPOOFED, "Accept": "application/json"})
        assert r.status_code == 401, r.status_code
        assert "x-auth-request-user" not in r.headers


def assert_forbidden_domain(
    base: str, login: str = "mallory@evil.example", *, transport: Transport = None
) -> None:
    """3: a user from another domain ends on a 403, after one trip to the IdP (no loop)."""
    with new_client(transport) as client:
        walk = browse(client, base + "/app/forbidden", login=login)
        assert walk.final.status_code == 403, walk.hops
        # one authorization request at the IdP (counted there: behind NGF the /oauth2/start
        # hop is invisible, its error_page serves authsvc's 302 at the app's own URL)
        trips = [url for _, url in walk.hops if "response_type=code" in url]
        assert len(trips) == 1, walk.hops
        # and the next visit is not let in either (no session was written)
        r = client.get(base + "/app/forbidden", headers={"Accept": "application/json"})
        assert r.status_code in (302, 401, 403), r.status_code


def assert_sign_out(base: str, client: httpx.Client) -> None:
    """4: after sign-out the next request goes to sign-in again."""
    assert client.get(base + "/app/before", headers={"Accept": BROWSER_ACCEPT}).status_code == 200
    # not followed: the IdP still has its own session and would sign straight back in (SSO)
    r = client.get(base + "/oauth2/sign_out?rd=%2Fapp%2Fafter")
    assert r.status_code == 302, (r.status_code, r.text[:200])
    assert r.headers["location"] in ("/app/after", f"{base}/app/after"), r.headers["location"]
    r = client.get(base + "/app/after", headers={"Accept": BROWSER_ACCEPT})
    assert r.status_code == 302, (r.status_code, r.text[:200])
    assert is_sign_in(r.headers["location"]), r.headers["location"]


def assert_xhr_gets_401(base: str, *, transport: Transport = None) -> None:
    """5: XHR and API calls without a session get 401, never a redirect."""
    with new_client(transport) as client:
        for headers in (
            {"Accept": "application/json"},
            {"X-Requested-With": "XMLHttpRequest", "Accept": "*/*"},
            {"X-Requested-With": "XMLHttpRequest", "Accept": BROWSER_ACCEPT},
            {"Sec-Fetch-Mode": "cors", "Accept": "*/*"},  # fetch() in a browser
        ):
            r = client.get(base + "/app/api", headers=headers)
            assert r.status_code == 401, (headers, r.status_code, r.headers)
            assert "location" not in r.headers
            assert "x-auth-request-user" not in r.headers


def assert_big_session(base: str, login: str = "many@example.com", *, transport: Transport = None) -> None:
    """6: a session cookie over 4 KB (200 groups) still passes through the proxy."""
    with new_client(transport) as client:
        walk = browse(client, base + "/app/big", login=login)
        seen = echoed(walk.final)
        assert len((seen.get("X-Auth-Request-Groups") or "").split(",")) == 200
        cookie = seen.get("Cookie") or ""
        assert len(cookie) > 4096, len(cookie)
        again = echoed(client.get(base + "/app/big-again"))
        assert again.get("X-Auth-Request-Email") == login


def assert_websocket(
    base: str, client: httpx.Client, *, port: int | None = None, transport: Transport = None
) -> None:
    """A websocket upgrade is checked once and reaches the app with the identity headers.

    `port`: connect to 127.0.0.1:`port` while the URL (and Host) stay `base`'s.
    """
    ws_base = "ws://" + base.split("://", 1)[1]
    cookies = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar if c.name.startswith("_authsvc"))
    sock = socket.create_connection(("127.0.0.1", port), timeout=10) if port is not None else None
    with ws_connect(
        ws_base + "/app/socket", sock=sock, additional_headers={"Cookie": cookies}, open_timeout=10
    ) as ws:
        ws.send("hello")
        report = json.loads(ws.recv(timeout=10))
    seen = Echoed.parse(report)
    assert seen.path == "/app/socket"
    assert seen.get("X-Auth-Request-Email") == "alice@example.com"
    assert report["body"] == "hello"
    # without a session the upgrade is refused before the app (401, or 302 to sign-in)
    upgrade = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    with new_client(transport) as anonymous:
        refused = anonymous.get(base + "/app/socket", headers=upgrade)
    assert refused.status_code in (302, 401), refused.status_code


def assert_refreshed_cookie_reaches_the_browser(base: str, *, transport: Transport = None) -> None:
    """With cookie_refresh set, a check that refreshes the tokens hands the new cookie on."""
    with signed_in(base, "alice@example.com", transport=transport) as client:
        before = client.cookies.get("_authsvc")
        refreshed: list[httpx.Response] = []

        def refreshed_once() -> bool:
            r = client.get(base + "/app/poll")
            assert r.status_code == 200, r.status_code
            if any(c.startswith("_authsvc=") for c in r.headers.get_list("set-cookie")):
                refreshed.append(r)
            return bool(refreshed)

        # the session ages past cookie_refresh (whole seconds); poll, bounded
        wait_until(refreshed_once, timeout=20, what="a refreshed session cookie", interval=0.25)
        assert client.cookies.get("_authsvc") not in (None, before)
        seen = echoed(client.get(base + "/app/after-refresh"))
        assert seen.get("X-Auth-Request-Email") == "alice@example.com"
