"""The original request, read from the proxy's headers, and only from trusted proxies.

nginx passes every client header into the auth subrequest, so a header the proxy does not set
itself is a header the client chose (CVE-2026-40575: a spoofed `X-Forwarded-Uri` matched skip
rules). Each `proxy_kind` therefore reads only the headers that proxy really sets:

- `ingress-nginx`: `X-Original-URL` (absolute) and `X-Original-Method`. `X-Forwarded-Proto` is
  blanked by ingress-nginx and `Host` is the auth service's host, so neither is read.
- `traefik`, `caddy`: `X-Forwarded-Proto`, `X-Forwarded-Host`, `X-Forwarded-Uri`,
  `X-Forwarded-Method`.
- `nginx` (our convention; the example config MUST set all four with `proxy_set_header`, which
  also replaces any client copy): `X-Original-URI $request_uri`, `X-Original-Method
  $request_method`, `X-Forwarded-Proto $scheme`, `X-Forwarded-Host $http_host`. A missing
  `X-Forwarded-Host` falls back to `Host`, a missing proto to the request's own scheme.
- `envoy` (`path_prefix: <proxy_prefix>/auth`): the request's own method, `Host` (`:authority`)
  and path after the prefix (`/oauth2/auth/a?b=1` is `/a?b=1`); scheme from `X-Forwarded-Proto`,
  else http.
- `auto`: the first of `X-Original-URL`, `X-Forwarded-Uri` (+Proto/Host/Method), `X-Original-URI`
  or `X-Auth-Request-Redirect` (+Host), else the request itself (Envoy prefix stripped). Any
  client can spoof whichever comes first: name the kind in production.

From an untrusted peer, or with `reverse_proxy = false`, no header is read: the original request
is the request itself, so a spoofer gains nothing. A malformed value never raises: each field
falls back to the request's own value (for the uri: the auth path itself, which no rule should
make public — never "/", which might be). Values are never truncated (a cut path could match a
rule the whole one does not).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from ..config import Settings
from ..models import OriginalRequest

MAX_URI = 8192
MAX_HOST = 261  # 255 for the name, ":" and a 5-digit port
_TRUST_CACHE_SIZE = 4096
#: the longest auth request path whose cleaned form is remembered (4096 x 1 KB at most)
_MEMO_PATH_MAX = 1024
_METHOD = re.compile(r"[A-Za-z]{1,32}")
# host[:port] or [ipv6][:port]; no userinfo, slash, space, percent, control character
_HOST = re.compile(r"(?i)(?:[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?|\[([0-9a-f:.]+)\])(?::([0-9]{1,5}))?")
# a request-target in origin form: printable ASCII without space (rules out CR/LF/NUL)
_URI = re.compile(r"/[\x21-\x7e]*")
_ABSOLUTE = re.compile(r"(?i)(https?)://([^/?#]*)(.*)", re.DOTALL)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: every request header this module reads (the auth handler decodes only these, and those
#: it reads itself); a test checks the list against the code
HEADERS_READ = (
    "host", "x-original-url", "x-original-uri", "x-original-method", "x-auth-request-redirect",
    "x-forwarded-proto", "x-forwarded-host", "x-forwarded-uri", "x-forwarded-method",
)


def first_value(value: str | None) -> str | None:
    """The first of a comma-separated list (a proxy chain appends), stripped."""
    if value is None:
        return None
    return value.split(",", 1)[0].strip() or None


def clean_host(value: str | None) -> str | None:
    """A lower-case `host[:port]` when well formed, else None."""
    if not value or len(value) > MAX_HOST:
        return None
    m = _HOST.fullmatch(value)
    if m is None:
        return None
    if m.group(1) is not None:
        try:
            ipaddress.IPv6Address(m.group(1))
        except ValueError:
            return None
    if m.group(2) is not None and not 0 < int(m.group(2)) < 65536:
        return None
    return value.lower()


def clean_uri(value: str | None) -> str | None:
    """A path+query starting with "/", printable ASCII, at most MAX_URI long, else None."""
    if not value or len(value) > MAX_URI or _URI.fullmatch(value) is None:
        return None
    return value


def clean_scheme(value: str | None) -> str | None:
    """"http" or "https" (any case), else None."""
    scheme = (value or "").lower()
    return scheme if scheme in ("http", "https") else None


def clean_method(value: str | None) -> str | None:
    """An upper-case method token, else None."""
    return value.upper() if value and _METHOD.fullmatch(value) else None


class Forwarded:
    """Builds `OriginalRequest`s for one configured proxy kind; built once from Settings."""

    def __init__(self, settings: Settings) -> None:
        self.kind = settings.proxy_kind
        self._enabled = settings.reverse_proxy
        self._networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in settings.trusted_proxy_ips
        )
        self.auth_path = settings.proxy_prefix + "/auth"
        self._trust: dict[str, bool] = {}
        # the auth request's own method/scheme/host/path, cleaned: a handful of distinct values
        # per proxy (Envoy's prefix mode: one per path), so cleaned once (bench/: ~2 us a check)
        self._own: dict[tuple[str, str, str, str], OriginalRequest] = {}
        self._fwd: dict[tuple[str | None, ...], tuple[str, str, str]] = {}

    def is_trusted(self, peer_ip: str | None) -> bool:
        """Whether the peer may tell us about the original request (cached per address)."""
        if not self._enabled or not peer_ip:
            return False
        verdict = self._trust.get(peer_ip)
        if verdict is None:
            verdict = self._check(peer_ip)
            if len(self._trust) >= _TRUST_CACHE_SIZE:  # bound memory against address sprays
                self._trust.clear()
            self._trust[peer_ip] = verdict
        return verdict

    def _check(self, peer_ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(peer_ip)
        except ValueError:
            return False
        # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self._networks)

    def original_request(
        self,
        headers: Mapping[str, str],
        method: str,
        path: str,
        host: str,
        scheme: str,
        peer_ip: str | None,
    ) -> OriginalRequest:
        """The request the proxy asks about; the request itself unless the peer is trusted."""
        key = (method, scheme, host, path)
        own = self._own.get(key)
        if own is None:
            own = OriginalRequest(
                method=clean_method(method) or "GET",
                scheme=clean_scheme(scheme) or "http",
                host=clean_host(host) or "localhost",
                uri=clean_uri(path) or self.auth_path,
            )
            if len(path) <= _MEMO_PATH_MAX:  # long (Envoy) paths are not worth pinning
                if len(self._own) >= _TRUST_CACHE_SIZE:  # bounded against sprays of paths
                    self._own.clear()
                self._own[key] = own
        if not self.is_trusted(peer_ip):
            return own
        kind = self.kind
        if kind == "ingress-nginx":
            return self._original_url(headers, own)
        if kind in ("traefik", "caddy"):
            return self._forwarded(headers, own, headers.get("x-forwarded-uri"))
        if kind == "nginx":
            return self._forwarded(headers, own, headers.get("x-original-uri"), "x-original-method")
        if kind == "envoy":
            return self._envoy(headers, own)
        # auto
        if "x-original-url" in headers:
            return self._original_url(headers, own)
        if "x-forwarded-uri" in headers:
            return self._forwarded(headers, own, headers.get("x-forwarded-uri"))
        for name in ("x-original-uri", "x-auth-request-redirect"):
            if name in headers:
                return self._forwarded(headers, own, headers.get(name), "x-original-method")
        return self._envoy(headers, own, default_scheme=own.scheme)

    def _original_url(self, headers: Mapping[str, str], own: OriginalRequest) -> OriginalRequest:
        """ingress-nginx: everything from the absolute `X-Original-URL`."""
        method = clean_method(headers.get("x-original-method")) or own.method
        m = _ABSOLUTE.fullmatch(headers.get("x-original-url", ""))
        if m is None:
            return OriginalRequest(method, own.scheme, own.host, own.uri)
        rest = m.group(3) or "/"
        if rest.startswith("?"):
            rest = "/" + rest
        return OriginalRequest(
            method=method,
            scheme=m.group(1).lower(),
            host=clean_host(m.group(2)) or own.host,
            uri=clean_uri(rest) or own.uri,
        )

    def _forwarded(
        self,
        headers: Mapping[str, str],
        own: OriginalRequest,
        uri: str | None,
        method_header: str = "x-forwarded-method",
    ) -> OriginalRequest:
        """Traefik, Caddy and our nginx convention: X-Forwarded-Proto/Host plus a uri header."""
        # method, scheme and host repeat from check to check: clean each distinct set once
        key = (headers.get(method_header), headers.get("x-forwarded-proto"),
               headers.get("x-forwarded-host"), own.method, own.scheme, own.host)
        cleaned = self._fwd.get(key)
        if cleaned is None:
            cleaned = (
                clean_method(first_value(key[0])) or own.method,
                clean_scheme(first_value(key[1])) or own.scheme,
                clean_host(first_value(key[2])) or own.host,
            )
            if len(self._fwd) >= _TRUST_CACHE_SIZE:  # bounded against sprays of values
                self._fwd.clear()
            self._fwd[key] = cleaned
        # the uri is not split on commas: a path may hold one, and both proxies overwrite it
        return OriginalRequest(*cleaned, uri=clean_uri(uri) or own.uri)

    def _envoy(
        self, headers: Mapping[str, str], own: OriginalRequest, default_scheme: str = "http"
    ) -> OriginalRequest:
        """Envoy `path_prefix` mode: the request itself, minus the auth path prefix."""
        # Envoy always sends prefix + the original path ("/" at least); a bare prefix is not
        # Envoy's, and reading it as "/" would fail open if "/" is a public route
        uri = own.uri
        if uri.startswith(self.auth_path + "/"):
            uri = uri[len(self.auth_path):]
        scheme = clean_scheme(first_value(headers.get("x-forwarded-proto"))) or default_scheme
        return OriginalRequest(own.method, scheme, own.host, uri)
