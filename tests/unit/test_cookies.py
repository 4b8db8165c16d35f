"""Cookie parsing, Set-Cookie building, domain choice, chunking and login-state cookies."""

from __future__ import annotations

import random
import re
import string
import time
from collections.abc import Callable

import pytest

from authsvc.config import Settings
from authsvc.cookies import (
    MAX_CHUNKS,
    MAX_SET_COOKIE,
    CookieSettings,
    clear_set_cookies,
    cookie_domain,
    expire_cookie,
    login_clear_cookie,
    login_cookie_name,
    login_set_cookie,
    parse_cookie_header,
    read_chunked,
    session_set_cookies,
    set_cookie,
)
from authsvc.errors import SessionTooLarge

CS = CookieSettings(name="_authsvc", max_age=3600, csrf_max_age=900)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 7230 token, a valid cookie name


def _jar(set_cookies: list[str]) -> dict[str, str]:
    """What a browser would hold after these Set-Cookie values (deletions removed)."""
    jar: dict[str, str] = {}
    for line in set_cookies:
        pair = line.split(";", 1)[0]
        name, _, value = pair.partition("=")
        if "Max-Age=0" in line:
            jar.pop(name, None)
        else:
            jar[name] = value
    return jar


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", {}),
        ("a=1", {"a": "1"}),
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ("a=1;b=2;;", {"a": "1", "b": "2"}),
        ('a="quoted"', {"a": "quoted"}),
        ("a=1; a=2", {"a": "1"}),  # first wins (most specific path first)
        ("junk; a=1; =nameless; ;", {"a": "1"}),
        ("a==b=; c", {"a": "=b="}),
        ("  spaced  =  v  ", {"spaced": "v"}),
        ("\x00\xff=\udcff; ok=1", {"\x00\xff": "\udcff", "ok": "1"}),
    ],
)
def test_parse_cookie_header(header: str, expected: dict[str, str]) -> None:
    assert parse_cookie_header(header) == expected


def test_parse_never_raises_on_non_text() -> None:
    assert parse_cookie_header(None) == {}  # type: ignore[arg-type]


def test_parse_64kb_header_is_fast() -> None:
    header = "; ".join(f"c{i}={'x' * 50}" for i in range(1200)) + ";" * 2000
    assert len(header) > 64 * 1024
    start = time.perf_counter()
    cookies = parse_cookie_header(header)
    assert time.perf_counter() - start < 0.05
    assert len(cookies) == 1200


# --- reading chunks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cookies", "expected"),
    [
        ({}, None),
        ({"_authsvc": "whole"}, "whole"),
        ({"_authsvc": "", "_authsvc_0": "a"}, "a"),
        ({"_authsvc_0": "a", "_authsvc_1": "b", "_authsvc_2": "c"}, "abc"),
        ({"_authsvc_0": "a", "_authsvc_2": "c"}, "a"),  # stop at the first gap
        ({"_authsvc_1": "b"}, None),
        ({"_authsvc_x": "b", "other_0": "z"}, None),
        ({f"_authsvc_{i}": str(i % 10) for i in range(15)}, "0123456789"),  # capped
    ],
)
def test_read_chunked(cookies: dict[str, str], expected: str | None) -> None:
    assert read_chunked(cookies, "_authsvc") == expected
    assert MAX_CHUNKS == 10


# --- domain --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domains", "host", "expected"),
    [
        ((), "app.example.com", None),
        ((".example.com",), "app.example.com", "example.com"),
        ((".example.com",), "example.com", "example.com"),
        (("example.com",), "app.example.com:8443", "example.com"),
        ((".example.com",), "APP.Example.COM.", "example.com"),
        ((".example.com",), "evilexample.com", None),
        ((".example.com",), "example.com.evil.net", None),
        ((".a.example.com", ".example.com"), "x.a.example.com", "a.example.com"),
        ((".a.example.com", ".example.com"), "x.b.example.com", "example.com"),
        ((".example.com",), "[::1]:4180", None),
        ((".example.com",), "", None),
    ],
)
def test_cookie_domain(domains: tuple[str, ...], host: str, expected: str | None) -> None:
    assert cookie_domain(domains, host) == expected


def test_from_settings_sorts_domains(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory(
        cookie_domains=".example.com,.a.example.com", cookie_samesite="strict",
        cookie_expire="1h", cookie_csrf_expire="10m",
    )  # fmt: skip
    cs = CookieSettings.from_settings(settings)
    assert cs.domains == (".a.example.com", ".example.com")
    assert (cs.name, cs.samesite, cs.max_age, cs.csrf_max_age) == ("_authsvc", "strict", 3600, 600)
    line = set_cookie("_authsvc", "v", cs, "x.a.example.com", cs.max_age)
    assert "Domain=a.example.com;" in line


# --- Set-Cookie attributes -----------------------------------------------------------------


def test_set_cookie_attributes() -> None:
    cs = CookieSettings(name="_authsvc", domains=(".example.com",), max_age=3600)
    assert set_cookie("_authsvc", "v", cs, "app.example.com", 3600) == (
        "_authsvc=v; Path=/; Domain=example.com; Max-Age=3600; HttpOnly; Secure; SameSite=Lax"
    )


def test_set_cookie_host_only_browser_session_and_flags_off() -> None:
    cs = CookieSettings(
        name="n", path="/app", secure=False, httponly=False, samesite="", max_age=0
    )
    assert set_cookie("n", "v", cs, "app.example.com", 0) == "n=v; Path=/app"
    none = CookieSettings(name="n", samesite="none")
    assert set_cookie("n", "v", none, "h", 5).endswith("Max-Age=5; HttpOnly; Secure; SameSite=None")
    strict = CookieSettings(name="n", samesite="strict")
    assert set_cookie("n", "v", strict, "h", 5).endswith("SameSite=Strict")


def test_expire_cookie() -> None:
    cs = CookieSettings(name="_authsvc", domains=(".example.com",))
    assert expire_cookie("_authsvc", cs, "app.example.com") == (
        "_authsvc=; Path=/; Domain=example.com; Max-Age=0; "
        "Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax"
    )


@pytest.mark.parametrize("value", ["a;b", "a b", "a\r\nSet-Cookie: x=y", 'a"b', "a,b", "é"])
def test_set_cookie_refuses_unsafe_values(value: str) -> None:
    with pytest.raises(ValueError, match="not allowed"):
        set_cookie("n", value, CS, "h", 1)


# --- session cookies and chunking ----------------------------------------------------------


def test_small_value_is_one_cookie() -> None:
    out = session_set_cookies("abc", CS, "app.example.com")
    assert out == ["_authsvc=abc; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Lax"]


def test_max_age_override() -> None:
    assert "Max-Age=120;" in session_set_cookies("abc", CS, "h", max_age=120)[0]
    assert "Max-Age=1;" in session_set_cookies("abc", CS, "h", max_age=-5)[0]


def test_small_value_expires_stale_chunks() -> None:
    out = session_set_cookies("abc", CS, "h", present=["_authsvc_0", "_authsvc_1", "other_0"])
    assert _jar(out) == {"_authsvc": "abc"}
    assert [line.split("=")[0] for line in out] == ["_authsvc", "_authsvc_0", "_authsvc_1"]


def test_large_value_chunks_under_limit_and_reads_back() -> None:
    value = "".join(random.Random(7).choices(string.ascii_letters + "-_", k=11_000))
    out = session_set_cookies(value, CS, "app.example.com")
    assert all(len(line.encode()) <= MAX_SET_COOKIE for line in out)
    assert out[-1].startswith("_authsvc=; ")  # a leftover plain cookie is expired
    jar = _jar(out)
    assert sorted(jar) == ["_authsvc_0", "_authsvc_1", "_authsvc_2"]
    assert read_chunked(jar, "_authsvc") == value
    header = "; ".join(f"{k}={v}" for k, v in jar.items())
    assert read_chunked(parse_cookie_header(header), "_authsvc") == value


def test_fewer_chunks_expire_the_stale_ones() -> None:
    value = "x" * 5000
    present = ["_authsvc", "_authsvc_0", "_authsvc_1", "_authsvc_2", "_authsvc_3"]
    out = session_set_cookies(value, CS, "h", present=present)
    jar = _jar(out)
    assert sorted(jar) == ["_authsvc_0", "_authsvc_1"]
    assert sum("Max-Age=0" in line for line in out) == 3
    assert read_chunked(jar, "_authsvc") == value


def test_too_large_for_all_chunks() -> None:
    with pytest.raises(SessionTooLarge, match="too large"):
        session_set_cookies("x" * (MAX_SET_COOKIE * MAX_CHUNKS), CS, "h")


def test_clear_set_cookies() -> None:
    present = ["_authsvc_0", "_authsvc_1", "_authsvc_csrf_abc", "_authsvc_x", "other"]
    out = clear_set_cookies("_authsvc", present, CS, "h")
    assert [line.split("=")[0] for line in out] == ["_authsvc", "_authsvc_0", "_authsvc_1"]
    assert all("Max-Age=0; Expires=Thu, 01 Jan 1970" in line for line in out)


# --- login-state cookies -------------------------------------------------------------------


def test_login_cookie_name_is_per_state_and_a_valid_token() -> None:
    a, b = login_cookie_name("_authsvc", "state-one"), login_cookie_name("_authsvc", "state-two")
    assert a != b and a == login_cookie_name("_authsvc", "state-one")
    for name in (a, b, login_cookie_name("_authsvc", "é; =\r\n\udcff")):
        assert name.startswith("_authsvc_csrf_")
        assert _TOKEN.fullmatch(name)
    assert read_chunked({a: "v"}, "_authsvc") is None  # never mistaken for a chunk


def test_login_set_and_clear() -> None:
    cs = CookieSettings(name="_authsvc", samesite="strict", max_age=3600, csrf_max_age=900)
    name = login_cookie_name(cs.name, "s")
    line = login_set_cookie(name, "sealed", cs, "h")
    assert line.startswith(f"{name}=sealed; ")
    assert "Max-Age=900" in line
    # the IdP's redirect back is cross-site: Strict would hide the cookie from the callback
    assert line.endswith("SameSite=Lax")
    cleared = login_clear_cookie(name, cs, "h")
    assert cleared.startswith(f"{name}=; ") and "Max-Age=0" in cleared


def test_session_value_remembers_only_bounded_headers() -> None:
    """Distinct huge Cookie headers are parsed every time, never pinned in the memo."""
    from authsvc.cookies import _SESSION_VALUES, MEMO_HEADER_MAX, session_value

    _SESSION_VALUES.clear()
    big = "_authsvc=" + "A" * MEMO_HEADER_MAX
    assert session_value(big, "_authsvc") == "A" * MEMO_HEADER_MAX
    assert len(_SESSION_VALUES) == 0
    assert session_value("_authsvc=v; other=x", "_authsvc") == "v"
    first = session_value("_authsvc=v; other=x", "_authsvc")
    assert first == "v" and len(_SESSION_VALUES) == 1


def test_session_value_memo_confirms_the_whole_header() -> None:
    """Headers with the same fingerprint (length and the characters after the name) are told
    apart by the whole header: a look-alike never gets another header's session value."""
    from authsvc.cookies import _SESSION_VALUES, session_value

    _SESSION_VALUES.clear()
    session = "S" * 100
    one = f"_authsvc={session}; lang=aa"
    other = f"_authsvc={session[:-1]}X; lang=aa"  # same length, same first 48 characters
    assert session_value(one, "_authsvc") == session
    assert session_value(other, "_authsvc") == session[:-1] + "X"
    assert session_value(one, "_authsvc") == session
    # chunks, another name, no session at all: each its own answer through the same memo
    assert session_value("_authsvc_0=ab; _authsvc_1=cd", "_authsvc") == "abcd"
    assert session_value(one, "_other") is None
    assert session_value("lang=aa", "_authsvc") is None
    assert session_value("lang=aa", "_authsvc") is None
