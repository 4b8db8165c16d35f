"""The scenarios every proxy example must pass, as test classes a proxy's test module subclasses.

A proxy module defines its module-scoped `stack` fixture (anything with a public `base` URL) and
`class TestCaddy(ProxyContract, WebsocketContract)`; pytest runs the inherited tests against that
stack. The module itself keeps only what is the proxy's own: its fixture, the check request it
sends, its sign-in redirect quirks and the contract differences it documents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Browser

from . import contract
from .browser import fetch_status, fresh_page, idp_login
from .echo import Echoed
from .login import HostMap
from .tap import Tap, start_tap


class ProxyStack(Protocol):
    """What the shared scenarios need of a proxy's stack: the public URL clients use.

    A stack whose public URL is a name rather than loopback (the Gateway API examples serve
    `app.example.com` on port 80) also has `transport()` (a HostMap for httpx) and `port` (where
    the proxy really listens: the browser uses it as its HTTP proxy, so it sends absolute-form
    requests the proxy serves as its own, and the websocket connects there).
    """

    @property
    def base(self) -> str: ...


def transport_of(stack: ProxyStack) -> contract.Transport:
    """The stack's HostMap transport, or None when its base URL is reachable as is."""
    make = getattr(stack, "transport", None)
    return make() if callable(make) else None


def browser_proxy_of(stack: ProxyStack) -> dict[str, str] | None:
    """Playwright proxy settings sending the browser's requests for `base` to the proxy."""
    if transport_of(stack) is None:
        return None
    return {"server": f"http://127.0.0.1:{stack.port}", "bypass": "127.0.0.1"}  # type: ignore[attr-defined]


@dataclass
class Stack:
    """A proxy at `base` whose auth requests go through `tap` (to see what the proxy sends)."""

    base: str
    tap: Tap


@dataclass
class NamedStack:
    """A proxy serving `base` under a host name (port 80, as in a cluster) while it really
    listens on loopback `port`; clients reach it through a HostMap, its auth requests go
    through `tap`."""

    base: str
    port: int
    tap: Tap

    def transport(self) -> HostMap:
        host = urlsplit(self.base).hostname
        assert host is not None, self.base
        return HostMap({host: self.port})

    def client(self) -> httpx.Client:
        return contract.new_client(self.transport())


class Running(Protocol):
    """A started proxy (a Process)."""

    @property
    def url(self) -> str: ...

    @property
    def port(self) -> int: ...

    def stop(self) -> None: ...


R = TypeVar("R", bound=Running)


@contextmanager
def _tapped(authsvc_port: int, start_proxy: Callable[[Tap], R]) -> Iterator[tuple[R, Tap]]:
    tap = start_tap(authsvc_port)
    try:
        proxy = start_proxy(tap)
        try:
            yield proxy, tap
        finally:
            proxy.stop()
    finally:
        tap.stop()


@contextmanager
def tapped(authsvc_port: int, start_proxy: Callable[[Tap], Running]) -> Iterator[Stack]:
    """A tap in front of authsvc at `authsvc_port`, the proxy `start_proxy(tap)` in front of
    both; the proxy and the tap stopped afterwards."""
    with _tapped(authsvc_port, start_proxy) as (proxy, tap):
        yield Stack(proxy.url, tap)


@contextmanager
def tapped_by_name(
    authsvc_port: int, base: str, start_proxy: Callable[[Tap], Running]
) -> Iterator[NamedStack]:
    """`tapped`, for a proxy whose public URL is `base` (a host name) rather than its own."""
    with _tapped(authsvc_port, start_proxy) as (proxy, tap):
        yield NamedStack(base, proxy.port, tap)


class ProxyContract:
    """Issue 3's "Must be true" for one proxy, in chromium and over httpx."""

    def test_browser_login_round_trip(self, stack: ProxyStack, browser: Browser) -> None:
        """1, in chromium: protected URL -> authsvc's 302 (relayed) -> IdP -> back on the exact URL."""
        target = stack.base + contract.TRICKY_PATH
        with fresh_page(browser, proxy=browser_proxy_of(stack)) as page:
            page.goto(target)
            idp_login(page, "alice@example.com")
            page.wait_for_url(target)
            assert page.url == target
            seen = Echoed.parse(page.evaluate("() => JSON.parse(document.body.innerText)"))
            assert seen.path == contract.TRICKY_PATH
            assert seen.get("X-Auth-Request-Email") == "alice@example.com"
            assert seen.get("X-Auth-Request-Groups") == "admins,devs"

    def test_browser_fetch_without_session_gets_401(self, stack: ProxyStack, browser: Browser) -> None:
        """5, in chromium: a fetch() from the page gets 401, not a redirect."""
        with fresh_page(browser, proxy=browser_proxy_of(stack)) as page:
            assert fetch_status(page, stack.base, "/app/api") == 401

    def test_login_round_trip(self, stack: ProxyStack) -> None:
        """1, over httpx: the redirect chain goes through <base>/oauth2/start and the IdP."""
        walk = contract.assert_login_round_trip(stack.base, transport=transport_of(stack))
        assert walk.visited(f"{stack.base}/oauth2/start?rd=")

    def test_spoofed_identity_headers_never_reach_the_app(self, stack: ProxyStack) -> None:
        transport = transport_of(stack)
        with contract.signed_in(stack.base, "alice@example.com", transport=transport) as client:
            contract.assert_spoofing_stopped(stack.base, client)
        contract.assert_anonymous_spoof_denied(stack.base, transport=transport_of(stack))

    def test_forbidden_domain_gets_403_not_a_loop(self, stack: ProxyStack) -> None:
        contract.assert_forbidden_domain(stack.base, transport=transport_of(stack))

    def test_sign_out_sends_the_next_request_to_sign_in(self, stack: ProxyStack) -> None:
        with contract.signed_in(stack.base, "alice@example.com", transport=transport_of(stack)) as client:
            contract.assert_sign_out(stack.base, client)

    def test_xhr_without_session_gets_401(self, stack: ProxyStack) -> None:
        contract.assert_xhr_gets_401(stack.base, transport=transport_of(stack))

    def test_session_over_4kb_passes(self, stack: ProxyStack) -> None:
        contract.assert_big_session(stack.base, transport=transport_of(stack))


class WebsocketContract:
    """For proxies that pass websocket upgrades (every proxy tested)."""

    def test_websocket_upgrade_is_authorized(self, stack: ProxyStack) -> None:
        transport = transport_of(stack)
        with contract.signed_in(stack.base, "alice@example.com", transport=transport) as client:
            port = getattr(stack, "port", None) if transport is not None else None
            contract.assert_websocket(stack.base, client, port=port, transport=transport)
