"""Cookie headers in and out: parsing, Set-Cookie building, chunking over ~4 KB, reading back.

Pure functions over strings; no request objects. Browsers keep at least 4096 bytes per cookie
(RFC 6265 section 6.1), so a value that would push a Set-Cookie line past `MAX_SET_COOKIE`
is split into `<name>_0`, `<name>_1`, ... Note that nginx's `auth_request` relays only one
Set-Cookie, so chunked sessions need a proxy that relays them all (or the Redis store).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from .config.cookies import CookieOptions
from .errors import SessionTooLarge
from .memo import BoundedMemo

#: the whole Set-Cookie value (name, value and attributes) stays under this many bytes
MAX_SET_COOKIE = 4000
#: chunks read and written at most; a session needing more belongs in the Redis store
MAX_CHUNKS = 10
_EXPIRED = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
# RFC 6265 section 4.1.1: cookie-octet, so no value can smuggle in an attribute or a CRLF
_COOKIE_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
_CHUNK_SUFFIX = re.compile(r"_(\d{1,2})")
_LOGIN_DIGEST = re.compile(r"[0-9a-f]{16}")
_LOGIN_SLOT = re.compile(r"1?[0-9]")  # 0..19, the most cookie_csrf_per_request_limit allows


@dataclass(frozen=True, slots=True)
class CookieSettings:
    """The cookie options, read once from Settings."""

    name: str
    domains: tuple[str, ...] = ()
    path: str = "/"
    secure: bool = True
    httponly: bool = True
    samesite: str = "lax"
    #: session cookie lifetime in seconds; 0 = a browser-session cookie (no Max-Age)
    max_age: int = 0
    #: lifetime of the login-state cookies
    csrf_max_age: int = 900
    #: the IdP POSTs its answer (response_mode=form_post): a cross-site POST, which carries
    #: only a SameSite=None cookie (a Lax one is left out)
    login_cross_site: bool = False

    @classmethod
    def from_settings(cls, settings: CookieOptions, *, form_post: bool = False) -> CookieSettings:
        """Build from validated Settings (longest domain first, so the first match wins)."""
        domains = sorted(
            {d.strip().lower() for d in settings.cookie_domains if d.strip(". ")},
            key=lambda d: len(d.lstrip(".")),
            reverse=True,
        )
        return cls(
            name=settings.cookie_name,
            domains=tuple(domains),
            path=settings.cookie_path,
            secure=settings.cookie_secure,
            httponly=settings.cookie_httponly,
            samesite=settings.cookie_samesite,
            max_age=int(settings.cookie_expire),
            csrf_max_age=int(settings.cookie_csrf_expire),
            login_cross_site=form_post,
        )


def parse_cookie_header(header: str) -> dict[str, str]:
    """The cookies of a Cookie header; junk pairs are skipped, never raised on."""
    cookies: dict[str, str] = {}
    if not isinstance(header, str):
        return cookies
    for part in header.split(";"):  # linear: a 64 KB header is parsed in well under 1 ms
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        # First wins: browsers list the most specific path first (RFC 6265 section 5.4), and
        # a cookie tossed in from a sibling subdomain usually comes later.
        cookies.setdefault(name, value)
    return cookies


def read_chunked(cookies: Mapping[str, str], name: str) -> str | None:
    """The value of `name`, or its chunks `name_0`, `name_1`, ... joined; None when absent."""
    if cookies.get(name):
        return cookies[name]
    parts: list[str] = []
    for i in range(MAX_CHUNKS):
        part = cookies.get(f"{name}_{i}")
        if not part:
            break
        parts.append(part)
    return "".join(parts) or None


def session_value(cookie_header: str, name: str) -> str | None:
    """`read_chunked(parse_cookie_header(cookie_header), name)`, remembered for usual sizes.

    A browser sends the very same Cookie header for a page's whole burst of checks; the hot
    path then pays one dict lookup instead of a parse. The memo finds a header by a short
    fingerprint (its length and the 48 characters after the first `name`: the start of a
    sealed session or a session id, random) and confirms it by comparing the whole header: a
    dict keyed by the header itself hashed all of it on every check (~0.6 µs for a 2.7 KB
    session, a new str per request, so never a cached hash). Headers that share a
    fingerprint only replace each other's entry. Only headers up to MEMO_HEADER_MAX are
    remembered, so distinct huge headers cannot pin memory (at most 1024 x 16 KB).
    """
    size = len(cookie_header)
    if size > MEMO_HEADER_MAX:
        return read_chunked(parse_cookie_header(cookie_header), name)
    at = cookie_header.find(name)
    key = (cookie_header[at : at + 48 + len(name)] if at >= 0 else cookie_header[-48:], size, name)
    hit = _SESSION_VALUES.data.get(key)
    if hit is not None and hit[0] == cookie_header:
        return hit[1]
    value = read_chunked(parse_cookie_header(cookie_header), name)
    _SESSION_VALUES.put(key, (cookie_header, value))
    return value


#: the longest Cookie header `session_value` remembers (a 3-chunk session and some others)
MEMO_HEADER_MAX = 16 * 1024

#: (fingerprint, length, cookie name) -> (the whole Cookie header, its session value)
_SESSION_VALUES: BoundedMemo[tuple[str, int, str], tuple[str, str | None]] = BoundedMemo(1024)


def cookie_domain(domains: Iterable[str], request_host: str) -> str | None:
    """The longest configured domain the host lies in, without its leading dot; else None."""
    host = _bare_host(request_host)
    for domain in domains:
        bare = domain.lstrip(".").lower()
        # whole labels only: "example.com" must not match "evilexample.com"
        if bare and (host == bare or host.endswith("." + bare)):
            return bare
    return None


def set_cookie(name: str, value: str, cs: CookieSettings, host: str, max_age: int) -> str:
    """One Set-Cookie value; `max_age` 0 leaves Max-Age out (the cookie dies with the browser)."""
    if not _COOKIE_VALUE.fullmatch(value):
        raise ValueError(f"cookie {name!r}: value holds characters not allowed in a cookie")
    return f"{name}={value}; " + _attributes(cs, host, f"Max-Age={max_age}" if max_age else "")


def expire_cookie(name: str, cs: CookieSettings, host: str) -> str:
    """A Set-Cookie value that deletes `name` (same Path and Domain as when it was set)."""
    return f"{name}=; " + _attributes(cs, host, _EXPIRED)


def session_set_cookies(
    value: str,
    cs: CookieSettings,
    request_host: str,
    present: Iterable[str] = (),
    max_age: int | None = None,
) -> list[str]:
    """Set-Cookie values for a session value: one cookie, or chunks when it is too long.

    `present` (the cookie names the browser sent) lets stale chunks or a stale plain cookie
    be expired too; without it only the plain cookie is expired when chunking. `max_age`
    overrides `cs.max_age` (e.g. the session's remaining lifetime after a refresh).
    Raises SessionTooLarge when even MAX_CHUNKS cookies cannot hold the value.
    """
    sent = set(present)
    life = cs.max_age if max_age is None else max(max_age, 1)
    single = set_cookie(cs.name, value, cs, request_host, life)
    if len(single.encode()) <= MAX_SET_COOKIE:
        return [single, *_stale(cs.name, sent, {cs.name}, cs, request_host)]
    # the name grows by "_N" (MAX_CHUNKS <= 10, so one digit); the attributes stay the same
    room = MAX_SET_COOKIE - (len(single.encode()) - len(value)) - 2
    chunks = [value[i : i + room] for i in range(0, len(value), room)] if room > 0 else []
    if not chunks or len(chunks) > MAX_CHUNKS:
        raise SessionTooLarge(
            f"session too large for {MAX_CHUNKS} cookies ({len(value)} bytes); "
            "request fewer claims or use session_store_type = redis"
        )
    names = [f"{cs.name}_{i}" for i in range(len(chunks))]
    out = [
        set_cookie(n, c, cs, request_host, life)
        for n, c in zip(names, chunks, strict=True)
    ]
    stale = _stale(cs.name, sent, set(names), cs, request_host)
    if cs.name not in sent:
        stale.insert(0, expire_cookie(cs.name, cs, request_host))
    return out + stale


def clear_set_cookies(
    name: str, present_names: Iterable[str], cs: CookieSettings, host: str
) -> list[str]:
    """Set-Cookie values expiring `name` and every `name_N` chunk the browser sent."""
    return [expire_cookie(name, cs, host), *_stale(name, present_names, {name}, cs, host)]


def login_cookie_name(cookie_name: str, state: str) -> str:
    """The login-state cookie of one attempt: the slot its state ends with (`<random>.<slot>`,
    login_state.py), so parallel logins (two tabs) do not collide and their number is bounded.

    A state without a slot (a login begun before slots) names its cookie by its own hash.
    """
    slot = state.rpartition(".")[2]
    if "." in state and _LOGIN_SLOT.fullmatch(slot):
        return login_slot_name(cookie_name, int(slot))
    digest = hashlib.sha256(state.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{cookie_name}_csrf_{digest}"


def login_slot_name(cookie_name: str, slot: int) -> str:
    """The cookie name of login slot `slot`."""
    return f"{cookie_name}_csrf_{slot}"


def is_login_cookie(cookie_name: str, name: str) -> bool:
    """Whether `name` is one of our login-state cookies, a slot or an older per-state one (and
    not, say, an application's `x_csrf_token`)."""
    prefix = f"{cookie_name}_csrf_"
    if not name.startswith(prefix):
        return False
    rest = name[len(prefix) :]
    return _LOGIN_SLOT.fullmatch(rest) is not None or _LOGIN_DIGEST.fullmatch(rest) is not None


def signout_cookie_name(cookie_name: str) -> str:
    """Where a sign-out that could not end the session server-side keeps it for the retry."""
    return f"{cookie_name}_signout"


def login_set_cookie(name: str, value: str, cs: CookieSettings, host: str) -> str:
    """Set-Cookie for a login-state cookie, living `csrf_max_age` seconds."""
    return set_cookie(name, value, _login_settings(cs), host, max(cs.csrf_max_age, 1))


def login_clear_cookie(name: str, cs: CookieSettings, host: str) -> str:
    """Set-Cookie deleting a login-state cookie (single use: cleared at the callback)."""
    return expire_cookie(name, _login_settings(cs), host)


def _login_settings(cs: CookieSettings) -> CookieSettings:
    # The callback arrives as a cross-site navigation from the IdP: SameSite=Strict would keep
    # the login cookie away from it, so Strict is relaxed to Lax for this short-lived cookie.
    # A form_post answer is a cross-site POST, which only a SameSite=None (so Secure) cookie
    # goes with; config/settings.py refuses form_post without cookie_secure.
    if cs.login_cross_site:
        return replace(cs, samesite="none", secure=True)
    if cs.samesite == "strict":
        return replace(cs, samesite="lax")
    return cs


def _stale(
    name: str, present: Iterable[str], keep: set[str], cs: CookieSettings, host: str
) -> list[str]:
    """Expire `name` and its `name_N` chunks that the browser holds but we no longer set."""
    out: list[str] = []
    for cookie in sorted(set(present)):
        if cookie in keep:
            continue
        if cookie == name or (
            cookie.startswith(name) and _CHUNK_SUFFIX.fullmatch(cookie, len(name))
        ):
            out.append(expire_cookie(cookie, cs, host))
    return out


def _attributes(cs: CookieSettings, host: str, lifetime: str) -> str:
    parts = [f"Path={cs.path}"]
    domain = cookie_domain(cs.domains, host)
    if domain:
        parts.append(f"Domain={domain}")
    if lifetime:
        parts.append(lifetime)
    if cs.httponly:
        parts.append("HttpOnly")
    if cs.secure:
        parts.append("Secure")
    if cs.samesite:
        parts.append(f"SameSite={cs.samesite.capitalize()}")
    return "; ".join(parts)


def _bare_host(host: str) -> str:
    """The host name of a Host header: lower case, port and trailing dot removed."""
    host = host.strip().lower()
    if host.startswith("["):  # IPv6 literal, "[::1]:443"
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rpartition(":")[0].rstrip(".") if ":" in host else host.rstrip(".")
