"""Validation of post-login redirect targets (`rd`), conservative against open redirects.

`rd` has already been percent-decoded exactly once by query parsing; it is never decoded again.
We do not trust `urllib.parse` (it disagrees with browsers' WHATWG URL parser, e.g. on a
backslash in the authority); instead a target must match a small strict grammar, and anything
a browser might read differently is refused. Refusal returns None; the caller falls back to "/".

Whitelist entries (`whitelist_domains`): `example.com` (exact host), `.example.com` or
`*.example.com` (the apex and every subdomain), optionally `:8080` (that port only) or `:*`
(any port); without a port only the scheme's default port is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

MAX_RD_LENGTH = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}
# every printable ASCII character is left as is; only non-ASCII is %-encoded (UTF-8)
_ASCII_SAFE = "".join(chr(i) for i in range(0x21, 0x7F))
# an absolute http(s) URL: scheme, authority, rest; `https:evil`, `http:/evil` never match
_ABSOLUTE = re.compile(r"(?i)(https?)://([^/?#]*)(.*)", re.DOTALL)
_HOSTNAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_AUTHORITY = re.compile(r"(?i)(\[[0-9a-f:.]+\]|[^:\[\]]+)(?::([0-9]{1,5}))?")
# a dot segment as WHATWG sees it: `.`/`..`, also spelled with %2e (CVE-2020-4037)
_DOT_SEGMENT = re.compile(r"(?i)(?:\.|%2e){1,2}")


@dataclass(frozen=True, slots=True)
class _Rule:
    host: str
    subdomains: bool
    #: None: the scheme's default port only; -1: any port
    port: int | None

    def matches(self, host: str, port: int, default: int) -> bool:
        if self.port is None and port != default:
            return False
        if self.port is not None and self.port != -1 and port != self.port:
            return False
        if host == self.host:
            return True
        # the leading dot is part of the suffix: `.bar.foo` must not allow `evilbar.foo`
        # (CVE-2021-21291); non-ASCII hosts only ever match exactly (IDN homoglyphs)
        return self.subdomains and host.isascii() and host.endswith("." + self.host)


def _parse_rule(entry: str) -> _Rule | None:
    """One whitelist entry, or None when it is unusable."""
    entry = entry.strip().lower()
    port: int | None = None
    head, sep, tail = entry.rpartition(":")
    if sep and not head.endswith(":") and (tail == "*" or tail.isdigit()):
        entry, port = head, (-1 if tail == "*" else int(tail))
    subdomains = entry.startswith((".", "*."))
    host = entry.removeprefix("*").removeprefix(".")
    return _Rule(host, subdomains, port) if host else None


def _local_path_ok(rest: str) -> bool:
    """Whether the path of a target (before ? and #) has no dot segments."""
    path = re.split(r"[?#]", rest, maxsplit=1)[0]
    # dot segments let `/./\evil` or `/.././/evil` collapse to `//evil` (CVE-2020-4037);
    # browsers never send them, so refusing all of them costs nothing
    return not any(_DOT_SEGMENT.fullmatch(seg) for seg in path.split("/"))


def _split_authority(authority: str, scheme: str) -> tuple[str, int] | None:
    """(lower-case host, port) of a bare `host[:port]`, or None when it is anything else."""
    m = _AUTHORITY.fullmatch(authority)
    if m is None:
        return None
    host, port_text = m.group(1).lower(), m.group(2)
    port = int(port_text) if port_text is not None else _DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        return None
    return host, port


class RedirectPolicy:
    """Decides which `rd` targets are safe; built once from `whitelist_domains`."""

    def __init__(self, whitelist: Sequence[str]) -> None:
        self._rules = tuple(r for r in map(_parse_rule, whitelist) if r is not None)

    def check(self, rd: str | None, request_host: str, scheme: str = "https") -> str | None:
        """The target to redirect to, or None when `rd` is missing or unsafe."""
        if not rd or len(rd) > MAX_RD_LENGTH:
            return None
        # whitespace and control characters anywhere (browsers strip tabs/newlines, so
        # `/\t/evil` is `//evil`: CVE-2020-11053), backslashes anywhere (`/\evil` is `//evil`
        # to a browser: CVE-2020-5233), and invisible Unicode (bidi overrides, zero-widths)
        if "\\" in rd or " " in rd or not rd.isprintable():
            return None
        if rd.startswith("/"):
            if rd.startswith("//") or not _local_path_ok(rd):
                return None
            return quote(rd, safe=_ASCII_SAFE)
        m = _ABSOLUTE.fullmatch(rd)
        if m is None:  # any other scheme, `https:evil.com`, `http:/evil.com`, relative paths
            return None
        target_scheme, authority, rest = m.group(1).lower(), m.group(2), m.group(3)
        if rest and rest[0] not in "/?#":
            return None
        if not _local_path_ok(rest):
            return None
        # `@` anywhere in the authority is userinfo (`https://good.com@evil.com`); `%` may be
        # decoded by the browser into anything; both are refused by the strict grammar here
        parts = _split_authority(authority, target_scheme)
        if parts is None:
            return None
        host, port = parts
        if host.isascii():
            if not (host.startswith("[") or _HOSTNAME.fullmatch(host)):
                return None
        elif not any(r.host == host for r in self._rules):
            return None  # IDN homoglyphs: only an exact whitelist entry lets one through
        if not (self._same_host(host, port, request_host, scheme)
                or any(r.matches(host, port, _DEFAULT_PORTS[target_scheme]) for r in self._rules)):
            return None
        if not host.isascii():
            try:
                ace = host.encode("idna").decode("ascii")
            except UnicodeError:
                return None
            rd = f"{m.group(1)}://{authority.lower().replace(host, ace, 1)}{rest}"
        return quote(rd, safe=_ASCII_SAFE)

    @staticmethod
    def _same_host(host: str, port: int, request_host: str, scheme: str) -> bool:
        """Whether host:port is the request's own origin host (same effective port)."""
        own_scheme = scheme if scheme in _DEFAULT_PORTS else "https"
        own = _split_authority(request_host.strip(), own_scheme)
        return own is not None and own == (host, port)


def absolute_url(scheme: str, host: str, target: str) -> str:
    """`target` made absolute against the origin `scheme://host` (an IdP wants an absolute
    post-logout URL). Absolute targets are returned as they are; local ones must already be
    validated."""
    if target.startswith("/") and not target.startswith("//"):
        return f"{scheme}://{host}{target}"
    return target
