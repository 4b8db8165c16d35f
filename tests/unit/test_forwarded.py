"""Normalising each proxy's headers into OriginalRequest, trusting only configured peers."""

from __future__ import annotations

from typing import Any

import pytest

from authsvc.check.forwarded import Forwarded
from authsvc.models import OriginalRequest
from tests.conftest import make_settings

PROXY = "10.0.0.2"
STRANGER = "203.0.113.5"
AUTH_HOST = "auth.internal:4180"


def forwarded(**overrides: Any) -> Forwarded:
    return Forwarded(make_settings(**overrides))


def ask(
    fw: Forwarded,
    headers: dict[str, str],
    *,
    method: str = "GET",
    path: str = "/oauth2/auth",
    host: str = AUTH_HOST,
    scheme: str = "http",
    peer: str | None = PROXY,
) -> OriginalRequest:
    return fw.original_request(headers, method, path, host, scheme, peer)


ITSELF = OriginalRequest("GET", "http", AUTH_HOST, "/oauth2/auth")

INGRESS = {
    "x-original-url": "https://app.example.com/admin?x=1",
    "x-original-method": "POST",
    "x-forwarded-proto": "",
    "x-auth-request-redirect": "/admin?x=1",
}
TRAEFIK = {
    "x-forwarded-proto": "https",
    "x-forwarded-host": "app.example.com",
    "x-forwarded-uri": "/admin?x=1",
    "x-forwarded-method": "DELETE",
}
NGINX = {
    "x-original-uri": "/admin?x=1",
    "x-original-method": "PUT",
    "x-forwarded-proto": "https",
    "x-forwarded-host": "app.example.com",
}


@pytest.mark.parametrize(
    ("kind", "headers", "expected"),
    [
        ("ingress-nginx", INGRESS, ("POST", "https", "app.example.com", "/admin?x=1")),
        ("traefik", TRAEFIK, ("DELETE", "https", "app.example.com", "/admin?x=1")),
        ("caddy", TRAEFIK, ("DELETE", "https", "app.example.com", "/admin?x=1")),
        ("nginx", NGINX, ("PUT", "https", "app.example.com", "/admin?x=1")),
        ("auto", INGRESS, ("POST", "https", "app.example.com", "/admin?x=1")),
        ("auto", TRAEFIK, ("DELETE", "https", "app.example.com", "/admin?x=1")),
        ("auto", NGINX, ("PUT", "https", "app.example.com", "/admin?x=1")),
        ("auto", {"x-auth-request-redirect": "/r"}, ("GET", "http", AUTH_HOST, "/r")),
        ("auto", {}, ("GET", "http", AUTH_HOST, "/oauth2/auth")),
    ],
)
def test_each_kind(kind: str, headers: dict[str, str], expected: tuple[str, ...]) -> None:
    assert ask(forwarded(proxy_kind=kind), headers) == OriginalRequest(*expected)


def test_ingress_nginx_ignores_host_and_blank_proto() -> None:
    got = ask(forwarded(proxy_kind="ingress-nginx"), {"x-original-url": "http://app.test/"},
              host="auth.example", scheme="https")
    assert (got.scheme, got.host, got.uri, got.method) == ("http", "app.test", "/", "GET")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://app.test:8443/a", ("https", "app.test:8443", "/a")),
        ("HTTPS://App.Test", ("https", "app.test", "/")),
        ("https://app.test?q=1", ("https", "app.test", "/?q=1")),
        ("https://[::1]:8080/v6", ("https", "[::1]:8080", "/v6")),
        ("ftp://app.test/a", ("http", AUTH_HOST, "/oauth2/auth")),
        ("/relative", ("http", AUTH_HOST, "/oauth2/auth")),
        ("https://user@app.test/a", ("https", AUTH_HOST, "/a")),
        ("https://app.test/a b", ("https", "app.test", "/oauth2/auth")),
        ("https://app.test/a\r\nX: y", ("https", "app.test", "/oauth2/auth")),
    ],
)
def test_ingress_nginx_original_url(url: str, expected: tuple[str, str, str]) -> None:
    got = ask(forwarded(proxy_kind="ingress-nginx"), {"x-original-url": url})
    assert (got.scheme, got.host, got.uri) == expected


@pytest.mark.parametrize(
    "spoof",
    [
        {"x-forwarded-uri": "/public"},
        {"x-original-url": "https://evil.test/public"},
        {"x-auth-request-redirect": "/public"},
    ],
)
def test_nginx_kind_reads_only_its_own_headers(spoof: dict[str, str]) -> None:
    got = ask(forwarded(proxy_kind="nginx"), {**NGINX, **spoof})
    assert got == OriginalRequest("PUT", "https", "app.example.com", "/admin?x=1")


def test_nginx_without_forwarded_host_falls_back_to_host() -> None:
    got = ask(forwarded(proxy_kind="nginx"), {"x-original-uri": "/a"}, host="App.Test")
    assert got == OriginalRequest("GET", "http", "app.test", "/a")


@pytest.mark.parametrize(
    ("kind", "spoof"),
    [
        ("traefik", {"x-original-url": "https://evil.test/public", "x-original-uri": "/public"}),
        ("ingress-nginx", {"x-forwarded-uri": "/public", "x-original-uri": "/public"}),
        ("envoy", {"x-forwarded-uri": "/public", "x-original-url": "https://e.test/public"}),
    ],
)
def test_other_kinds_ignore_foreign_headers(kind: str, spoof: dict[str, str]) -> None:
    assert "public" not in ask(forwarded(proxy_kind=kind), spoof, path="/oauth2/auth/x").uri


@pytest.mark.parametrize("kind", ["auto", "nginx", "ingress-nginx", "traefik", "caddy", "envoy"])
@pytest.mark.parametrize("peer", [STRANGER, None, "not-an-ip", ""])
def test_untrusted_peer_is_ignored(kind: str, peer: str | None) -> None:
    spoof = {**INGRESS, **TRAEFIK, **NGINX}
    assert ask(forwarded(proxy_kind=kind), spoof, peer=peer) == ITSELF


def test_reverse_proxy_off_ignores_headers_even_from_trusted_peers() -> None:
    fw = forwarded(reverse_proxy=False)
    assert not fw.is_trusted("127.0.0.1")
    assert ask(fw, TRAEFIK, peer="127.0.0.1") == ITSELF


@pytest.mark.parametrize(
    ("networks", "peer", "trusted"),
    [
        (None, "127.0.0.1", True),
        (None, "10.1.2.3", True),
        (None, "::1", True),
        (None, "::ffff:10.0.0.2", True),
        (None, "fd00::1", True),
        (None, STRANGER, False),
        (None, "2001:db8::1", False),
        ("192.0.2.7", "192.0.2.7", True),
        ("192.0.2.7", "192.0.2.8", False),
        ("192.0.2.0/24,2001:db8::/32", "2001:db8::1", True),
        ("192.0.2.0/24", "garbage", False),
        ("192.0.2.0/24", "", False),
        ("192.0.2.0/24", None, False),
    ],
)
def test_is_trusted(networks: str | None, peer: str | None, trusted: bool) -> None:
    fw = forwarded(trusted_proxy_ips=networks) if networks else forwarded()
    assert fw.is_trusted(peer) is trusted
    assert fw.is_trusted(peer) is trusted  # second answer from the cache


def test_trust_cache_stays_bounded() -> None:
    fw = forwarded()
    for i in range(10_000):
        fw.is_trusted(f"198.51.{i // 256 % 256}.{i % 256}")
    assert len(fw._trust) <= 4096
    assert fw.is_trusted("10.0.0.1")


@pytest.mark.parametrize(
    ("method", "path", "headers", "expected"),
    [
        ("GET", "/oauth2/auth/a?b=1", {}, ("GET", "http", "/a?b=1")),
        ("POST", "/oauth2/auth/", {"x-forwarded-proto": "https"}, ("POST", "https", "/")),
        ("GET", "/oauth2/auth/?x=1", {}, ("GET", "http", "/?x=1")),
        # a bare prefix is not Envoy's: never read as "/" (which may be public)
        ("DELETE", "/oauth2/auth", {}, ("DELETE", "http", "/oauth2/auth")),
        ("GET", "/oauth2/auth?x=1", {}, ("GET", "http", "/oauth2/auth?x=1")),
        ("GET", "/oauth2/auth//a", {}, ("GET", "http", "//a")),
        ("GET", "/oauth2/authz/a", {}, ("GET", "http", "/oauth2/authz/a")),
        ("GET", "/other", {}, ("GET", "http", "/other")),
        ("GET", "/oauth2/auth/a", {"x-forwarded-proto": "https, http"}, ("GET", "https", "/a")),
        ("GET", "/oauth2/auth/a", {"x-forwarded-proto": "gopher"}, ("GET", "http", "/a")),
    ],
)
def test_envoy_prefix(
    method: str, path: str, headers: dict[str, str], expected: tuple[str, str, str]
) -> None:
    got = ask(forwarded(proxy_kind="envoy"), headers, method=method, path=path, host="app.test")
    assert (got.method, got.scheme, got.uri) == expected
    assert got.host == "app.test"


def test_envoy_uses_proxy_prefix_setting() -> None:
    got = ask(forwarded(proxy_kind="envoy", proxy_prefix="/_auth"), {}, path="/_auth/auth/a")
    assert got.uri == "/a"


def test_auto_without_headers_strips_envoy_prefix_and_keeps_own_scheme() -> None:
    got = ask(forwarded(), {}, path="/oauth2/auth/a", scheme="https", host="app.test")
    assert got == OriginalRequest("GET", "https", "app.test", "/a")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # proxy chains append: the first value is the client-facing one
        ({"x-forwarded-proto": "https, http", "x-forwarded-host": "app.test, proxy.internal"},
         ("GET", "https", "app.test", "/u")),
        ({"x-forwarded-method": "post, get"}, ("POST", "http", AUTH_HOST, "/u")),
        # IPv6 and ports
        ({"x-forwarded-host": "[::1]:8080"}, ("GET", "http", "[::1]:8080", "/u")),
        ({"x-forwarded-host": "[2001:DB8::1]"}, ("GET", "http", "[2001:db8::1]", "/u")),
        ({"x-forwarded-host": "app.test:8443"}, ("GET", "http", "app.test:8443", "/u")),
        # malformed values fall back field by field
        ({"x-forwarded-host": "[::zz]:80"}, ("GET", "http", AUTH_HOST, "/u")),
        ({"x-forwarded-host": "::1"}, ("GET", "http", AUTH_HOST, "/u")),
        ({"x-forwarded-host": "app.test:99999"}, ("GET", "http", AUTH_HOST, "/u")),
        ({"x-forwarded-host": "app.test:0"}, ("GET", "http", AUTH_HOST, "/u")),
        ({"x-forwarded-host": "evil test"}, ("GET", "http", AUTH_HOST, "/u")),
        ({"x-forwarded-host": "evil.test/x"}, ("GET", "http", AUTH_HOST, "/u")),
        ({"x-forwarded-host": "user@app.test"}, ("GET", "http", AUTH_HOST, "/u")),
        ({"x-forwarded-host": "app.test\r\nx: y"}, ("GET", "http", AUTH_HOST, "/u")),
        ({"x-forwarded-host": "app\x00.test"}, ("GET", "http", AUTH_HOST, "/u")),
        ({"x-forwarded-host": "app%2etest"}, ("GET", "http", AUTH_HOST, "/u")),
        ({"x-forwarded-host": "bücher.test"}, ("GET", "http", AUTH_HOST, "/u")),
        ({"x-forwarded-host": "a" * 300}, ("GET", "http", AUTH_HOST, "/u")),
        ({"x-forwarded-host": ""}, ("GET", "http", AUTH_HOST, "/u")),
        ({"x-forwarded-proto": "javascript"}, ("GET", "http", AUTH_HOST, "/u")),
        ({"x-forwarded-method": "GET /x"}, ("GET", "http", AUTH_HOST, "/u")),
        ({"x-forwarded-method": "G" * 33}, ("GET", "http", AUTH_HOST, "/u")),
    ],
)
def test_traefik_values(headers: dict[str, str], expected: tuple[str, ...]) -> None:
    got = ask(forwarded(proxy_kind="traefik"), {"x-forwarded-uri": "/u", **headers})
    assert got == OriginalRequest(*expected)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/a,b", "/a,b"),  # commas are path data: X-Forwarded-Uri is never split
        ("/a%20b?c=%0d", "/a%20b?c=%0d"),
        ("//double", "//double"),
        ("/" + "a" * 8191, "/" + "a" * 8191),
        # rejected: the auth path itself, never "/", which a public rule might match
        ("/" + "a" * 8192, "/oauth2/auth"),
        ("admin", "/oauth2/auth"),
        ("https://app.test/admin", "/oauth2/auth"),
        ("", "/oauth2/auth"),
        ("/a\r\nSet-Cookie: x", "/oauth2/auth"),
        ("/a\nb", "/oauth2/auth"),
        ("/a\tb", "/oauth2/auth"),
        ("/a b", "/oauth2/auth"),
        ("/a\x00", "/oauth2/auth"),
        ("/caf\u00e9", "/oauth2/auth"),
    ],
)
def test_uri_values(uri: str, expected: str) -> None:
    got = ask(forwarded(proxy_kind="caddy"), {"x-forwarded-uri": uri})
    assert got.uri == expected


@pytest.mark.parametrize(
    ("method", "path", "host", "scheme", "expected"),
    [
        ("get", "/oauth2/auth", "App.Test", "https", ("GET", "https", "app.test", "/oauth2/auth")),
        ("", "/x", "app.test", "ws", ("GET", "http", "app.test", "/x")),
        ("GET", "/x\r\n", "bad host", "http", ("GET", "http", "localhost", "/oauth2/auth")),
        ("GET", "/x", "", "http", ("GET", "http", "localhost", "/x")),
    ],
)
def test_request_itself_is_sanitised(
    method: str, path: str, host: str, scheme: str, expected: tuple[str, ...]
) -> None:
    got = ask(forwarded(proxy_kind="nginx"), {}, method=method, path=path, host=host,
              scheme=scheme, peer=STRANGER)
    assert got == OriginalRequest(*expected)


def test_headers_read_lists_every_header_the_module_reads() -> None:
    """The auth handler decodes only HEADERS_READ: a name read but not listed would be unseen."""
    import inspect
    import re

    from authsvc.check import forwarded

    source = inspect.getsource(forwarded).split("HEADERS_READ = (", 1)[1].split(")", 1)[1]
    read = set(re.findall(r'"((?:x-[a-z-]+)|host)"', source))
    assert read <= set(forwarded.HEADERS_READ), read - set(forwarded.HEADERS_READ)
