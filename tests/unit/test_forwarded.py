"""Normalising each proxy's headers into OriginalRequest, trusting only configured peers.

`verified` is the security property (issue 11 §1): only a verified description can make a
path public, and it is verified only when it comes from headers the configured kind always
overwrites (or Envoy's request line), complete, unrepeated and undisputed.
"""

from __future__ import annotations

from typing import Any

import pytest

from authsvc.check.forwarded import Forwarded
from authsvc.models import OriginalRequest
from tests.conftest import make_settings
from tests.support.spoofs import CASE_IDS, CASES, PROXIES, REAL_HOST, REAL_PATH

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
    repeated: bool = False,
) -> OriginalRequest:
    return fw.original_request(headers, method, path, host, scheme, peer, repeated)


def fields(got: OriginalRequest) -> tuple[str, str, str, str]:
    return (got.method, got.scheme, got.host, got.uri)


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
    ("kind", "headers", "expected", "verified"),
    [
        ("ingress-nginx", INGRESS, ("POST", "https", "app.example.com", "/admin?x=1"), True),
        ("traefik", TRAEFIK, ("DELETE", "https", "app.example.com", "/admin?x=1"), True),
        ("caddy", TRAEFIK, ("DELETE", "https", "app.example.com", "/admin?x=1"), True),
        ("nginx", NGINX, ("PUT", "https", "app.example.com", "/admin?x=1"), True),
        # auto describes (for the sign-in redirect) but never vouches: any header may be the
        # client's when the proxy is unknown
        ("auto", INGRESS, ("POST", "https", "app.example.com", "/admin?x=1"), False),
        ("auto", TRAEFIK, ("DELETE", "https", "app.example.com", "/admin?x=1"), False),
        ("auto", NGINX, ("PUT", "https", "app.example.com", "/admin?x=1"), False),
        ("auto", {"x-auth-request-redirect": "/r"}, ("GET", "http", AUTH_HOST, "/r"), False),
        ("auto", {}, ("GET", "http", AUTH_HOST, "/oauth2/auth"), False),
    ],
)
def test_each_kind(
    kind: str, headers: dict[str, str], expected: tuple[str, ...], verified: bool
) -> None:
    got = ask(forwarded(proxy_kind=kind), headers)
    assert fields(got) == expected
    assert got.verified is verified


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
    assert fields(got) == ("PUT", "https", "app.example.com", "/admin?x=1")
    # X-Original-URL and X-Forwarded-Uri are blanked by the nginx contract: present, the
    # config is not ours (oauth2-proxy's sets X-Forwarded-Uri) and nothing is vouched for
    assert got.verified is ("x-auth-request-redirect" in spoof)


def test_nginx_without_forwarded_host_falls_back_to_host() -> None:
    got = ask(forwarded(proxy_kind="nginx"), {"x-original-uri": "/a", "x-original-method": "GET"},
              host="App.Test")
    assert got == OriginalRequest("GET", "http", "app.test", "/a", verified=True)


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
    assert got == OriginalRequest("GET", "https", "app.test", "/a", verified=True)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # proxy chains append: the first value is the client-facing one
        ({"x-forwarded-proto": "https, http", "x-forwarded-host": "app.test, proxy.internal"},
         ("GET", "https", "app.test", "/u")),
        # a method is one token: nobody appends to it
        ({"x-forwarded-method": "post, get"}, ("GET", "http", AUTH_HOST, "/u")),
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
    assert fields(got) == expected


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
    assert fields(got) == expected
    assert not got.verified  # not a trusted proxy's description


def test_headers_read_lists_every_header_the_module_reads() -> None:
    """The auth handler decodes only HEADERS_READ: a name read but not listed would be unseen."""
    import inspect
    import re

    from authsvc.check import forwarded

    source = inspect.getsource(forwarded).split("HEADERS_READ = (", 1)[1].split(")", 1)[1]
    read = set(re.findall(r'"((?:x-[a-z-]+)|host)"', source))
    assert read <= set(forwarded.HEADERS_READ), read - set(forwarded.HEADERS_READ)


# --- issue 11 §1: no client header makes a protected request look public ------------------
SPOOF_VALUES = {
    "x-original-url": "http://app.example.com/public/x",
    "x-original-uri": "/public/x",
    "x-forwarded-uri": "/public/x",
    "x-auth-request-redirect": "/public/x",
    "x-original-method": "OPTIONS",
    "x-forwarded-method": "OPTIONS",
    "x-forwarded-host": "app.example.com",
    "x-forwarded-proto": "https",
    "x-sent-from": "nginx-ingress-controller",
}
_NAMES = sorted(SPOOF_VALUES)
#: every single header, every pair, and all of them at once
SPOOFS = (
    [(n,) for n in _NAMES]
    + [(a, b) for i, a in enumerate(_NAMES) for b in _NAMES[i + 1:]]
    + [tuple(_NAMES)]
)


def _is_public(got: OriginalRequest) -> bool:
    return got.path.startswith("/public/") or got.method == "OPTIONS"


def _lower(headers: list[tuple[str, str]]) -> dict[str, str]:
    return {n.lower(): v for n, v in headers}


@pytest.mark.parametrize(("proxy", "kind"), CASES, ids=CASE_IDS)
def test_no_client_header_makes_a_protected_request_public(proxy: str, kind: str) -> None:
    model = PROXIES[proxy]
    fw = forwarded(proxy_kind=kind)
    for spoof in SPOOFS:
        check = _lower(model.with_client([(n, SPOOF_VALUES[n]) for n in spoof]))
        for repeated in (False, True):
            got = ask(fw, check, path=model.auth_path(), host=REAL_HOST, repeated=repeated)
            assert not (got.verified and _is_public(got)), (spoof, repeated, got)


@pytest.mark.parametrize(("proxy", "kind"), CASES, ids=CASE_IDS)
def test_the_real_description_is_verified_only_where_the_kind_vouches(proxy: str, kind: str) -> None:
    """The control for the test above: a named kind behind its own proxy vouches; auto never
    does (but for Envoy's request line), nor nginx behind a config that breaks its contract."""
    model = PROXIES[proxy]
    got = ask(forwarded(proxy_kind=kind), _lower(model.sends), path=model.auth_path(),
              host=REAL_HOST)
    # (the nginx kind does not read oauth2-proxy's X-Forwarded-Uri; nothing describes a bare one)
    unread = proxy == "nginx-bare" or (proxy, kind) == ("nginx-oauth2-proxy", "nginx")
    assert got.path == ("/oauth2/auth" if unread else REAL_PATH)
    assert got.verified is (kind in model.vouches)


@pytest.mark.parametrize(
    ("kind", "real", "other"),
    [
        ("ingress-nginx", INGRESS, {"x-original-uri": "/public/x"}),
        ("ingress-nginx", INGRESS, {"x-forwarded-uri": "/admin?x=2"}),
        ("ingress-nginx", INGRESS, {"x-forwarded-method": "OPTIONS"}),
        ("ingress-nginx", INGRESS, {"x-forwarded-method": "post, get"}),
        ("traefik", TRAEFIK, {"x-original-url": "https://app.example.com/public/x"}),
        ("traefik", TRAEFIK, {"x-original-url": "not a url"}),
        ("traefik", TRAEFIK, {"x-original-uri": "/admin?x=1&y"}),
        ("traefik", TRAEFIK, {"x-original-method": "OPTIONS"}),
        ("caddy", TRAEFIK, {"x-original-method": "GET"}),  # TRAEFIK says DELETE
        ("envoy", {}, {"x-forwarded-uri": "/public/x"}),
        ("envoy", {}, {"x-original-method": "OPTIONS"}),
        ("envoy", {}, {"x-original-url": "http://app.test/public/x"}),
    ],
)
def test_disagreeing_descriptions_are_not_evidence(
    kind: str, real: dict[str, str], other: dict[str, str]
) -> None:
    fw = forwarded(proxy_kind=kind)
    path = "/oauth2/auth/admin?x=1" if kind == "envoy" else "/oauth2/auth"
    assert ask(fw, real, path=path).verified
    got = ask(fw, {**real, **other}, path=path)
    assert not got.verified
    assert got.uri == "/admin?x=1"  # still described, for the sign-in redirect


@pytest.mark.parametrize(
    ("kind", "real", "same"),
    [
        # ingress-nginx with `auth-method` also sets X-Original-URI; the annotation
        # `auth-request-redirect` may make X-Auth-Request-Redirect anything: never compared
        ("ingress-nginx", INGRESS, {"x-original-uri": "/admin?x=1",
                                    "x-auth-request-redirect": "https://elsewhere.test/"}),
        ("traefik", TRAEFIK, {"x-original-method": "delete", "x-auth-request-redirect": "/z"}),
        ("envoy", {}, {"x-forwarded-uri": "/admin?x=1", "x-forwarded-method": "GET"}),
    ],
)
def test_agreeing_descriptions_stay_evidence(
    kind: str, real: dict[str, str], same: dict[str, str]
) -> None:
    path = "/oauth2/auth/admin?x=1" if kind == "envoy" else "/oauth2/auth"
    assert ask(forwarded(proxy_kind=kind), {**real, **same}, path=path).verified


@pytest.mark.parametrize(
    ("kind", "headers"),
    [
        # a header the kind reads is missing or malformed: incomplete, not evidence
        ("ingress-nginx", {"x-original-url": "https://app.test/a"}),
        ("ingress-nginx", {"x-original-url": "https://user@app.test/a", "x-original-method": "GET"}),
        ("ingress-nginx", {"x-original-url": "https://app.test/a b", "x-original-method": "GET"}),
        ("ingress-nginx", {"x-original-url": "/relative", "x-original-method": "GET"}),
        ("ingress-nginx", {"x-original-method": "GET"}),
        ("traefik", {"x-forwarded-uri": "/a"}),
        ("traefik", {"x-forwarded-method": "GET"}),
        ("traefik", {"x-forwarded-uri": "a", "x-forwarded-method": "GET"}),
        ("caddy", {"x-forwarded-uri": "/a", "x-forwarded-method": "OPTIONS, GET"}),
        ("caddy", {"x-forwarded-uri": "/a", "x-forwarded-method": ""}),
        ("nginx", {"x-original-uri": "/a"}),
        ("nginx", {"x-original-method": "OPTIONS"}),
        ("nginx", {"x-original-uri": "/a\r\n", "x-original-method": "GET"}),
        # the nginx contract blanks these three: present, the config is not ours
        ("nginx", {"x-original-uri": "/a", "x-original-method": "GET", "x-forwarded-uri": "/a"}),
        ("nginx", {"x-original-uri": "/a", "x-original-method": "GET", "x-forwarded-method": "GET"}),
        ("nginx", {"x-original-uri": "/a", "x-original-method": "GET",
                   "x-original-url": "http://h/a"}),
        # Envoy's form is the prefix one; a bare check is not Envoy's
        ("envoy", {}),
    ],
)
def test_incomplete_descriptions_are_not_evidence(kind: str, headers: dict[str, str]) -> None:
    assert not ask(forwarded(proxy_kind=kind), headers).verified


@pytest.mark.parametrize("kind", ["auto", "nginx", "ingress-nginx", "traefik", "caddy", "envoy"])
def test_a_repeated_description_is_not_evidence(kind: str) -> None:
    real = {"auto": {}, "nginx": NGINX, "ingress-nginx": INGRESS, "traefik": TRAEFIK,
            "caddy": TRAEFIK, "envoy": {}}[kind]
    path = "/oauth2/auth/admin" if kind in ("envoy", "auto") else "/oauth2/auth"
    fw = forwarded(proxy_kind=kind)
    assert ask(fw, real, path=path).verified
    assert not ask(fw, real, path=path, repeated=True).verified


@pytest.mark.parametrize(
    "name",
    ["x_original_url", "x_original_uri", "x_original_method", "x_forwarded_uri",
     "x_forwarded_method", "x_forwarded_host", "x_forwarded_proto", "x-original_url",
     "x_original-uri", "x-forwarded_uri", "x.original.url", "x-original-url ", "x-original-urls"],
)
def test_alias_spellings_are_never_read(name: str) -> None:
    """Servers lower-case header names but keep "_" and ".": another name, never ours."""
    value = "http://evil.test/public/x" if "url" in name else (
        "OPTIONS" if "method" in name else "/public/x")
    for kind in ("auto", "nginx", "ingress-nginx", "traefik", "caddy"):
        real = {"auto": {}, "nginx": NGINX, "ingress-nginx": INGRESS, "traefik": TRAEFIK,
                "caddy": TRAEFIK}[kind]
        fw = forwarded(proxy_kind=kind)
        assert ask(fw, {**real, name: value}) == ask(fw, real), (kind, name)


def test_the_header_memo_stays_bounded_and_never_pins_long_values() -> None:
    fw = forwarded(proxy_kind="traefik")
    for i in range(6000):
        ask(fw, {**TRAEFIK, "x-forwarded-host": f"h{i}.test"})
    assert len(fw._fwd) <= 4096
    for i in range(50):
        ask(fw, {**TRAEFIK, "x-forwarded-host": f"{i}" + "a" * 5000})
    assert all(len(v or "") <= 261 for key in fw._fwd.data for v in key[:3])
    assert ask(fw, TRAEFIK).verified  # still right after clearing


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"proxy_kind": "auto", "skip_auth_routes": ["^/public/"]}, ["skip_auth_routes applies"]),
        ({"proxy_kind": "auto", "skip_auth_preflight": True}, ["skip_auth_preflight applies"]),
        ({"proxy_kind": "nginx", "skip_auth_routes": ["^/p/"], "skip_auth_preflight": True},
         ["skip_auth_routes relies on X-Original-URI", "skip_auth_preflight relies on X-Original-URI"]),
        ({"reverse_proxy": False, "skip_auth_routes": ["^/p/"]}, ["skip_auth_routes never"]),
        ({"proxy_kind": "traefik", "skip_auth_routes": ["^/p/"], "skip_auth_preflight": True}, []),
        ({"proxy_kind": "ingress-nginx", "skip_auth_routes": ["^/p/"]}, []),
        ({"proxy_kind": "envoy", "skip_auth_preflight": True}, []),
        ({"proxy_kind": "auto"}, []),
    ],
)
def test_start_up_warns_about_rules_the_kind_cannot_back(
    options: dict[str, Any], expected: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="authsvc.forwarded"):
        forwarded(**options)
    lines = [r.getMessage() for r in caplog.records if r.name == "authsvc.forwarded"]
    assert len(lines) == len(expected), lines
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith(start), line
