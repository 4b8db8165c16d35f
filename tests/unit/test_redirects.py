"""Open-redirect tests for `rd`: oauth2-proxy's advisory vectors and browser parsing quirks."""

from __future__ import annotations

import pytest

from authsvc.login.redirects import MAX_RD_LENGTH, RedirectPolicy, absolute_url

HOST = "app.example.com"


def safe_redirect(
    rd: str | None, request_host: str, whitelist: list[str], scheme: str = "https"
) -> str | None:
    """The target the policy for `whitelist` lets through, or None when `rd` is unsafe."""
    return RedirectPolicy(whitelist).check(rd, request_host, scheme)


WHITELIST = [".example.com", "good.com", "host:8080", "anyport.test:*", ".bar.foo", "bücher.test"]

# Every value is what the app sees after the one decode done by query parsing.
HOSTILE = [
    # CVE-2020-5233: a backslash after the slash is a second slash to browsers
    "/\\evil.com",
    "/\\\\evil.com",
    "\\/evil.com",
    "\\\\evil.com",
    "\\evil.com",
    "/\\/evil.com",
    # CVE-2020-11053: whitespace between the slashes (browsers drop tab/LF/CR)
    "/ /evil.com",
    "/ \\evil.com",
    "/\t/evil.com",
    "/\t\\evil.com",
    "/\v/evil.com",
    "/\n/evil.com",
    "/\r/evil.com",
    "/\r\n/evil.com",
    "/\f/evil.com",
    "/\x00/evil.com",
    "/\x7f/evil.com",
    "/\x85/evil.com",
    "/\u00a0/evil.com",
    "/\u2028/evil.com",
    "/\u3000/evil.com",
    "/\u200b/evil.com",
    "/\u202e/moc.live",
    "\t//evil.com",
    " //evil.com",
    "//evil.com\n",
    "/path\r\nSet-Cookie: x=1",
    # CVE-2020-4037: several whitespace characters, dot segments
    "/\t\t/\t/evil.com",
    "/\t/\t\\evil.com",
    "/./\\evil.com",
    "/./../../\\evil.com",
    "/.././/evil.com",
    "/.//evil.com",
    "/..//evil.com",
    "/%2e//evil.com",
    "/%2E%2e//evil.com",
    "/a/../..//evil.com",
    # scheme-relative
    "//evil.com",
    "///evil.com",
    "////evil.com",
    "//evil.com/path",
    "//app.example.com@evil.com",
    # other hosts
    "https://evil.com",
    "http://evil.com/",
    "https://good.com.evil.com",
    "https://evilgood.com",
    "https://app.example.com.evil.com/",
    "https://evil.com/app.example.com",
    "https://example.com.evil.com",
    "https://notexample.com",
    # CVE-2021-21291: partial subdomain of a dotted whitelist entry
    "http://evilbar.foo",
    "https://evilbar.foo/x",
    # userinfo and backslashes in the authority
    "https://good.com@evil.com",
    "https://good.com:443@evil.com",
    "https://good.com\\@evil.com",
    "https://evil.com\\@good.com",
    "https://evil.com#@good.com",
    "https://evil.com?@good.com",
    "https://user:pass@good.com/",
    "https://@good.com/",
    "https:\\\\evil.com",
    "http:\\\\evil.com",
    "https:/\\evil.com",
    "https://good.com\\evil.com",
    # other schemes, and scheme tricks
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "javascript://good.com/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "ftp://good.com/",
    "file:///etc/passwd",
    "https:evil.com",
    "http:evil.com",
    "http:/evil.com",
    "https:/evil.com",
    "https:///evil.com",
    "ws://good.com/",
    # percent and odd hosts a browser might read differently
    "https://evil.com%2F@good.com",
    "https://good.com%2eevil.com",
    "https://evil%2ecom",
    "https://good.com./",
    "https://0x7f.1/",
    "https://[::1]/",
    "https://good.com:/",
    "https://good.com:99999/",
    "https://good.com:0/",
    # port rules: no port in the entry means the default port only
    "https://good.com:8443/",
    "http://host/",
    "http://host:9090/",
    "https://app.example.com.:443/",
    # same host, other effective port (scheme downgrade changes the port)
    "http://app.example.com:8080/",
    # IDN homoglyphs (Cyrillic letters) and non-whitelisted Unicode hosts
    "https://g\u043e\u043ed.com/",  # Cyrillic o
    "https://\u0430pp.example.com/",  # Cyrillic a
    "https://bücher.example.com/",
    "https://evil\u3002com/",
    "https://good\uff0ecom/",
    # not a path, not absolute
    "evil.com",
    "evil.com/path",
    "",
    "?next=//evil.com",
    "#//evil.com",
    # over-long
    "/" + "a" * MAX_RD_LENGTH,
]

SAFE = [
    ("/", None),
    ("/a/b?c=d&e=%25f", None),
    ("/path#frag", None),
    ("/path?x=1#frag", None),
    ("/a/b/c.html", None),
    ("/a/...b/", None),
    ("/%2F%2Fevil.com", None),  # stays a path: browsers do not decode %2F in a path
    ("/?next=//evil.com", None),
    ("/#//evil.com", None),
    ("/p:a@b", None),
    ("https://app.example.com/x", None),
    ("https://example.com/", None),
    ("https://deep.sub.example.com/a?b=c", None),
    ("HTTPS://app.example.com/x", None),
    ("https://app.example.com", None),
    ("https://app.example.com?q=1", None),
    ("https://app.example.com:443/x", None),
    ("https://good.com/", None),
    ("https://good.com#@evil.com", None),
    ("http://host:8080/", None),
    ("https://host:8080/", None),
    ("http://anyport.test:1234/x", None),
    ("https://anyport.test/", None),
    ("http://a.bar.foo/", None),
    ("http://bar.foo/", None),
    ("/" + "a" * (MAX_RD_LENGTH - 1), None),
    # non-ASCII in a path is sent percent-encoded so the Location header stays ASCII
    ("/café", "/caf%C3%A9"),
    ("/日本?q=ü", "/%E6%97%A5%E6%9C%AC?q=%C3%BC"),
    # an exactly whitelisted IDN host is sent in its ASCII (punycode) form
    ("https://bücher.test/x", "https://xn--bcher-kva.test/x"),
]


@pytest.mark.parametrize("rd", HOSTILE)
def test_hostile_rd_is_rejected(rd: str) -> None:
    assert safe_redirect(rd, HOST, WHITELIST) is None


@pytest.mark.parametrize(("rd", "expected"), SAFE)
def test_safe_rd_is_accepted(rd: str, expected: str | None) -> None:
    assert safe_redirect(rd, HOST, WHITELIST) == (expected or rd)


def test_tables_are_big_and_distinct() -> None:
    assert len(set(HOSTILE)) == len(HOSTILE) >= 60
    assert len({rd for rd, _ in SAFE}) == len(SAFE) >= 15


def test_none_is_rejected() -> None:
    assert safe_redirect(None, HOST, WHITELIST) is None


@pytest.mark.parametrize(
    ("rd", "request_host", "scheme", "ok"),
    [
        ("https://app.test/x", "app.test", "https", True),
        ("https://APP.test/x", "app.test", "https", True),
        ("https://app.test:8443/x", "app.test:8443", "https", True),
        ("http://app.test:8080/", "app.test:8080", "http", True),
        ("http://app.test/", "app.test", "http", True),
        ("https://app.test:8443/x", "app.test", "https", False),
        ("http://app.test/", "app.test", "https", False),  # not the same port
        ("https://app.test.evil/", "app.test", "https", False),
        ("https://[::1]:8443/", "[::1]:8443", "https", True),
        ("https://app.test/", "bad host", "https", False),
        ("https://app.test/", "", "https", False),
    ],
)
def test_same_host_without_whitelist(rd: str, request_host: str, scheme: str, ok: bool) -> None:
    assert (safe_redirect(rd, request_host, [], scheme) == rd) is ok


@pytest.mark.parametrize(
    ("entry", "rd", "ok"),
    [
        ("example.com", "https://example.com/", True),
        ("example.com", "https://a.example.com/", False),
        (".example.com", "https://example.com/", True),
        ("*.example.com", "https://example.com/", True),
        ("*.example.com", "https://a.b.example.com/", True),
        ("*.example.com", "https://aexample.com/", False),
        ("Example.COM", "https://example.com/", True),
        ("example.com:8080", "https://example.com:8080/", True),
        ("example.com:8080", "https://example.com/", False),
        ("example.com:*", "http://example.com:1/", True),
        (".example.com:*", "http://x.example.com:65535/", True),
        ("[::1]:8080", "http://[::1]:8080/", True),
        ("[::1]", "http://[::1]/", True),
        ("[::1]", "http://[::1]:8080/", False),
        ("", "https://example.com/", False),
        ("*", "https://example.com/", False),
        (".", "https://example.com/", False),
    ],
)
def test_whitelist_entries(entry: str, rd: str, ok: bool) -> None:
    assert (RedirectPolicy([entry]).check(rd, "other.test") == rd) is ok


def test_absolute_url() -> None:
    assert absolute_url("https", "app.test:8443", "/a?b=c") == "https://app.test:8443/a?b=c"
    assert absolute_url("https", "app.test:8443", "https://other.test/") == "https://other.test/"
    assert absolute_url("https", "app.test", "//evil.test/") == "//evil.test/"  # not local
