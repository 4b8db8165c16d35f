"""The original request, read from the proxy's headers, and only from trusted proxies.

The rule (issue 11, DESIGN.md §2): a header is evidence of the original request only when the
configured `proxy_kind` always sets it, overwriting any copy the client sent. nginx hands every
client header on to the auth subrequest, and most proxies pass on headers they do not set
themselves, so a header nobody overwrote is a header the client chose (CVE-2026-40575 and
CVE-2026-76835: a spoofed `X-Forwarded-Uri` matched oauth2-proxy's skip rules).

Every check yields an `OriginalRequest`; its `verified` flag says whether method and path are
such evidence. Only a verified request can be made public by `skip_auth_routes` or
`skip_auth_preflight` (paths.py); an unverified one still gets the normal session check and a
sign-in redirect built from the best description there is. What each kind reads, and why a
client cannot choose it (docs/security.md has the same as a table):

- `ingress-nginx`: `X-Original-URL` (absolute) and `X-Original-Method`. The controller's
  template sets both with `proxy_set_header` in every auth location, which replaces a client's
  copy. It blanks `X-Forwarded-Proto` and sets `Host` to the auth service's host, so neither is
  read.
- `traefik`: `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri`. forwardAuth sets all four
  (`forward.go`); with `trustForwardHeader: true` it keeps incoming ones, and the entrypoint's
  forwarded-headers middleware has already removed those of peers outside `trustedIPs`
  (`forwarded_header.go`; unless the entrypoint is set `insecure`).
- `caddy`: the same four. `forward_auth` sets `X-Forwarded-Method` and `-Uri` with `header_up`
  (a replace), `reverse_proxy` sets `-Proto` and `-Host` unless the peer is in `trusted_proxies`.
- `envoy` (`path_prefix: <proxy_prefix>/auth`): the check's own method, `Host` (`:authority`)
  and path after the prefix (`/oauth2/auth/a?b=1` is `/a?b=1`): the request line, which only
  the proxy writes. A check without the prefix form is not Envoy's and is never verified.
  The scheme comes from `X-Forwarded-Proto`, else http. With `any_path_auth_status` (the
  check at every path, oauth2-proxy's static upstream: ext_authz without `path_prefix`) a
  check at a path outside `proxy_prefix` is the original request line itself, read the same way
  (under `envoy` only: under `auto` a bare path proves nothing).
- `nginx`: nginx itself sets nothing, so this kind is a contract with the operator's config
  (examples/nginx/nginx.conf): the auth location MUST set `X-Original-URI $request_uri` and
  `X-Original-Method $request_method` (plus `X-Forwarded-Proto`/`-Host`) with
  `proxy_set_header`, and blank `X-Original-URL`, `X-Forwarded-Uri` and `X-Forwarded-Method`.
  A check that carries one of those three is not from such a config (oauth2-proxy's documented
  one sets `X-Forwarded-Uri` and nothing else, so there a client can add `X-Original-URI` and
  `X-Original-Method`): it is not verified. A config that sets none of the five cannot be told
  from a client; start-up warns when skip rules depend on it.
- `auto` (the default): no header is evidence, because no single header is overwritten by
  every proxy: behind oauth2-proxy's nginx config a client adds `X-Original-URL` or
  `X-Forwarded-Method`, behind ingress-nginx `X-Forwarded-Uri`, behind Traefik and Caddy
  `X-Original-*`, behind an nginx config that sets nothing any of them. The description is the
  first of `X-Original-URL`, `X-Forwarded-Uri` (+Proto/Host/Method), `X-Original-URI` or
  `X-Auth-Request-Redirect` (+Host), never verified; a check that carries none of them is read
  as Envoy's prefix form (verified: the request line). So `auto` is safe behind every proxy and
  answers session checks everywhere, but public routes and preflight skipping need a named kind.

Whatever the kind, the description fails closed (unverified) when it is incomplete (a header
the kind reads is missing or malformed), when another description of the path or the method
is present and disagrees (`X-Original-URL`, `X-Original-URI`, `X-Forwarded-Uri`,
`X-Original-Method`, `X-Forwarded-Method`), or when one of them arrives twice (a proxy that sets
a header sends it once, so a repeat is the client's). `X-Auth-Request-Redirect` is where to go
after sign-in, not the request being judged (ingress-nginx fills it from an annotation), so
it is never compared. A method is one token: no proxy appends to it, so "OPTIONS, GET" is
malformed rather than OPTIONS.

Only the canonical, dash-separated names are read, exactly (servers lower-case names but keep
`_`, so `X_Original_URL` or `X-Original_Url` is a different header, never this one). nginx drops
underscored names by default; Caddy, Traefik and Envoy pass them on, which is harmless here.

From an untrusted peer, or with `reverse_proxy = false`, no header is read: the original
request is the request itself, unverified. A malformed value never raises: each field falls
back to the request's own value (for the uri: the auth path itself, which no rule should make
public — never "/", which might be). Values are never truncated (a cut path could match a rule
the whole one does not).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable, Mapping

from ..config import Settings
from ..memo import BoundedMemo
from ..models import OriginalRequest

MAX_URI = 8192
MAX_HOST = 261  # 255 for the name, ":" and a 5-digit port
#: entries each memo here keeps (authsvc/memo.py: clear-on-full, so sprays pin nothing)
_MEMO_SIZE = 4096
#: the longest auth request path whose cleaned form is remembered (4096 x 1 KB at most)
_MEMO_PATH_MAX = 1024
_METHOD = re.compile(r"[A-Za-z]{1,32}")
# host[:port] or [ipv6][:port]; no userinfo, slash, space, percent, control character
_HOST = re.compile(r"(?i)(?:[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?|\[([0-9a-f:.]+)\])(?::([0-9]{1,5}))?")
# a request-target in origin form: printable ASCII without space (rules out CR/LF/NUL)
_URI = re.compile(r"/[\x21-\x7e]*")
_ABSOLUTE = re.compile(r"(?i)(https?)://([^/?#]*)(.*)", re.DOTALL)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

log = logging.getLogger("authsvc.forwarded")

#: headers that describe the original path or method; any one present must agree with what the
#: kind read, and none may arrive twice (the auth handler looks for repeats)
_URI_DESCRIPTIONS = ("x-original-uri", "x-forwarded-uri")
_METHOD_DESCRIPTIONS = ("x-original-method", "x-forwarded-method")
DESCRIPTIONS = ("x-original-url", *_URI_DESCRIPTIONS, *_METHOD_DESCRIPTIONS)
#: per kind, the descriptions it does not read: present, they must agree with what it read.
#: nginx: what its contract blanks, so present they show a config that is not ours; auto: any
#: description at all (then only the prefix form would be evidence, and it is not alone)
_FOREIGN: dict[str, frozenset[str]] = {
    "ingress-nginx": frozenset({"x-original-uri", "x-forwarded-uri", "x-forwarded-method"}),
    "traefik": frozenset({"x-original-url", "x-original-uri", "x-original-method"}),
    "caddy": frozenset({"x-original-url", "x-original-uri", "x-original-method"}),
    "nginx": frozenset({"x-original-url", "x-forwarded-uri", "x-forwarded-method"}),
    "envoy": frozenset(DESCRIPTIONS),
    "auto": frozenset({*DESCRIPTIONS, "x-auth-request-redirect"}),
}

#: the login endpoints read a trusted peer's `X-Forwarded-Host` under the kinds whose proxy sets
#: it on every request it proxies there,
#: replacing a client's copy: Traefik's forwarded-headers middleware (`forwarded_header.go`,
#: incoming ones removed for peers outside `trustedIPs`), Caddy's `reverse_proxy` (unless the
#: client is in `trusted_proxies`), ingress-nginx's template (`X-Forwarded-Host
#: $best_http_host` unless `use-forwarded-headers`), and the nginx contract
#: (examples/nginx/nginx.conf sets it in `location /oauth2/`). Envoy never sets it (its Host is
#: `:authority`, as at the check): there Host names the site. Under `auto` (the proxy is unknown,
#: and every oauth2-proxy configuration runs under it) a trusted peer's `X-Forwarded-Host` is read
#: as oauth2-proxy's `reverse_proxy` reads it: Traefik's forwardAuth at `/` sends authsvc's own
#: address as Host, and the login cookie's domain and the same-host `rd` follow the site. At the
#: login endpoints that header steers only the answer to the client that sent it (a browser's
#: navigation cannot set it; `rd` is still checked against whitelist_domains), unlike the check,
#: where it would be evidence. `X-Forwarded-Proto` is read under every kind, as the check reads
#: it (Envoy sets it, `use_remote_address`); the IdP still checks the redirect URI it names.
#: So every kind but Envoy reads it:
_HOST_ONLY = "envoy"

#: every request header this module reads (the auth handler decodes only these, and those
#: it reads itself); a test checks the list against the code
HEADERS_READ = (
    "host", "x-original-url", "x-original-uri", "x-original-method", "x-auth-request-redirect",
    "x-forwarded-proto", "x-forwarded-host", "x-forwarded-uri", "x-forwarded-method",
)


def parse_networks(items: Iterable[str]) -> tuple[Network, ...]:
    """Validated CIDRs (config/loading.py `ip_networks`) as networks; host bits allowed."""
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def in_networks(ip: str, networks: tuple[Network, ...]) -> bool:
    """Whether the address `ip` is in one of `networks` (an unparsable one is not)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr in net for net in networks)


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
        self._networks = parse_networks(settings.trusted_proxy_ips)
        #: a peer on a unix socket has no address (uvicorn's scope "client" is None). Who may
        #: connect at all is decided by the socket file's owner and mode (`,mode=`, systemd's
        #: SocketMode=): only processes on this host, as over loopback. So such a peer is trusted
        #: exactly as a loopback one would be: with reverse_proxy, when trusted_proxy_ips holds
        #: 127.0.0.1 or ::1 (the default does). oauth2-proxy trusts it under reverse_proxy
        #: whatever its trusted_proxy_ips (pkg/apis/middleware/scope.go, CanTrustForwardedHeaders);
        #: an operator who lists only remote proxies here means no local one, so it is not.
        #: Only for a unix:// or fd: listener: on TCP a peer always has an address.
        self.socket_peer_trusted = (
            self._enabled and not settings.serves_tls and settings.listener.kind != "tcp"
            and (in_networks("127.0.0.1", self._networks) or in_networks("::1", self._networks))
        )
        self.auth_path = settings.proxy_prefix + "/auth"
        self._prefix = settings.proxy_prefix
        #: any_path_auth_status under `envoy`: a check outside proxy_prefix is the original
        #: request line. Not under `auto`: a bare path says nothing of who wrote it (nginx's
        #: `proxy_pass http://authsvc;` sends its auth location's own URI), unlike the prefix form
        self._any_path = bool(settings.any_path_auth_status) and self.kind == "envoy"
        self._trust: BoundedMemo[str, bool] = BoundedMemo(_MEMO_SIZE)
        # the auth request's own method/scheme/host/path, cleaned: a handful of distinct values
        # per proxy (Envoy's prefix mode: one per path), so cleaned once (bench/: ~2 us a check)
        self._own: BoundedMemo[tuple[str, str, str, str], OriginalRequest] = BoundedMemo(_MEMO_SIZE)
        self._fwd: BoundedMemo[tuple[str | None, ...], tuple[str, str, str, bool]] = BoundedMemo(_MEMO_SIZE)
        self._foreign = _FOREIGN[self.kind]
        self._origin_host = self.kind != _HOST_ONLY
        for line in unverifiable_rules(settings):
            log.warning("%s", line)

    def is_trusted(self, peer_ip: str | None) -> bool:
        """Whether the peer may tell us about the original request (cached per address); a peer
        without an address is one on a unix socket (socket_peer_trusted)."""
        if not peer_ip:  # a unix-socket peer (see socket_peer_trusted)
            return self.socket_peer_trusted
        if not self._enabled:
            return False
        verdict = self._trust.data.get(peer_ip)
        if verdict is None:
            verdict = self._trust.put(peer_ip, in_networks(peer_ip, self._networks))
        return verdict

    def public_origin(
        self, scheme: str, headers: Mapping[str, str], peer_ip: str | None
    ) -> tuple[str, str]:
        """(scheme, host) the browser used, for redirect URIs, absolute URLs and choosing the
        app at the login endpoints (which the browser reaches through the proxy, proxied like
        any request): the request's own scheme and Host, or from a trusted peer what its kind
        always writes (every kind but `envoy`): `X-Forwarded-Proto`, and `X-Forwarded-Host` only where
        the proxy sets it; elsewhere a client's copy would pass, and Host is the proxy's."""
        scheme = clean_scheme(scheme) or "http"
        host = clean_host(headers.get("host")) or "localhost"
        if self.is_trusted(peer_ip):
            scheme = clean_scheme(first_value(headers.get("x-forwarded-proto"))) or scheme
            if self._origin_host:
                host = clean_host(first_value(headers.get("x-forwarded-host"))) or host
        return scheme, host

    def original_request(
        self,
        headers: Mapping[str, str],
        method: str,
        path: str,
        host: str,
        scheme: str,
        peer_ip: str | None,
        repeated: bool = False,
    ) -> OriginalRequest:
        """The request the proxy asks about; the request itself unless the peer is trusted.

        `repeated`: one of DESCRIPTIONS arrived more than once (then nothing is verified).
        """
        key = (method, scheme, host, path)
        own = self._own.data.get(key)
        if own is None:
            own = OriginalRequest(
                method=clean_method(method) or "GET",
                scheme=clean_scheme(scheme) or "http",
                host=clean_host(host) or "localhost",
                uri=clean_uri(path) or self.auth_path,
            )
            if len(path) <= _MEMO_PATH_MAX:  # long (Envoy) paths are not worth pinning
                self._own.put(key, own)
        if not self.is_trusted(peer_ip):
            return own
        kind = self.kind
        if kind == "auto":
            return self._auto(headers, own, repeated)
        if kind == "ingress-nginx":
            got = self._original_url(headers, own, evidence=True)
        elif kind in ("traefik", "caddy"):
            got = self._forwarded(headers, own, "x-forwarded-uri", "x-forwarded-method", evidence=True)
        elif kind == "nginx":
            got = self._forwarded(headers, own, "x-original-uri", "x-original-method", evidence=True)
        else:
            got = self._envoy(headers, own)
        # the common case, no other description at all, costs one set test
        if got.verified and (repeated or (
            not self._foreign.isdisjoint(headers) and (kind == "nginx" or not _agrees(headers, got))
        )):
            return _unverified(got)
        return got

    def _auto(
        self, headers: Mapping[str, str], own: OriginalRequest, repeated: bool
    ) -> OriginalRequest:
        """Any header may be the client's here: headers describe, only the request line proves."""
        if "x-original-url" in headers:
            return self._original_url(headers, own, evidence=False)
        if "x-forwarded-uri" in headers:
            return self._forwarded(headers, own, "x-forwarded-uri", "x-forwarded-method", evidence=False)
        for name in ("x-original-uri", "x-auth-request-redirect"):
            if name in headers:
                return self._forwarded(headers, own, name, "x-original-method", evidence=False)
        got = self._envoy(headers, own, default_scheme=own.scheme)
        # the prefix form is evidence only on its own: a method header beside it may be the
        # client's, and then the two descriptions cannot be told apart
        if got.verified and (repeated or not self._foreign.isdisjoint(headers)):
            return _unverified(got)
        return got

    def _original_url(
        self, headers: Mapping[str, str], own: OriginalRequest, *, evidence: bool
    ) -> OriginalRequest:
        """ingress-nginx: everything from the absolute `X-Original-URL`."""
        method = clean_method(headers.get("x-original-method"))
        m = _ABSOLUTE.fullmatch(headers.get("x-original-url", ""))
        if m is None:
            return OriginalRequest(method or own.method, own.scheme, own.host, own.uri)
        host = clean_host(m.group(2))
        uri = clean_uri(_origin_form(m.group(3)))
        return OriginalRequest(
            method=method or own.method,
            scheme=m.group(1).lower(),
            host=host or own.host,
            uri=uri or own.uri,
            verified=evidence and method is not None and host is not None and uri is not None,
        )

    def _forwarded(
        self,
        headers: Mapping[str, str],
        own: OriginalRequest,
        uri_header: str,
        method_header: str,
        *,
        evidence: bool,
    ) -> OriginalRequest:
        """Traefik, Caddy and our nginx contract: X-Forwarded-Proto/Host plus uri and method."""
        key = (headers.get(method_header), headers.get("x-forwarded-proto"),
               headers.get("x-forwarded-host"), own.method, own.scheme, own.host)
        cleaned = self._fwd.data.get(key)
        if cleaned is None:
            # a method is one token: no proxy appends to it, so "OPTIONS, GET" is malformed
            method = clean_method(key[0])
            cleaned = (
                method or own.method,
                clean_scheme(first_value(key[1])) or own.scheme,
                clean_host(first_value(key[2])) or own.host,
                method is not None,
            )
            # method, scheme and host repeat from check to check: each distinct set is cleaned
            # once; only short values are remembered (valid ones are, MAX_HOST at most), so a
            # spray of long headers pins nothing
            if all(v is None or len(v) <= MAX_HOST for v in key[:3]):
                self._fwd.put(key, cleaned)
        # the uri is not split on commas: a path may hold one, and the proxy overwrites it
        uri = clean_uri(headers.get(uri_header))
        return OriginalRequest(
            cleaned[0], cleaned[1], cleaned[2], uri or own.uri,
            verified=evidence and cleaned[3] and uri is not None,
        )

    def _envoy(
        self, headers: Mapping[str, str], own: OriginalRequest, default_scheme: str = "http"
    ) -> OriginalRequest:
        """Envoy `path_prefix` mode: the request itself, minus the auth path prefix."""
        # Envoy always sends prefix + the original path ("/" at least); a bare prefix is not
        # Envoy's, and reading it as "/" would fail open if "/" is a public route
        uri = own.uri
        prefixed = uri.startswith(self.auth_path + "/")
        if prefixed:
            uri = uri[len(self.auth_path):]
        elif self._any_path:
            path = uri.split("?", 1)[0]
            # web/any_path.py: the request line of a check at any path (a malformed one is
            # the auth path here, under the prefix: never evidence)
            prefixed = path != self._prefix and not path.startswith(self._prefix + "/")
        scheme = clean_scheme(first_value(headers.get("x-forwarded-proto"))) or default_scheme
        return OriginalRequest(own.method, scheme, own.host, uri, verified=prefixed)


def _origin_form(rest: str) -> str:
    """The path+query part of an absolute URL, as a request-target ("" is "/")."""
    if not rest:
        return "/"
    return "/" + rest if rest.startswith("?") else rest


def _agrees(headers: Mapping[str, str], got: OriginalRequest) -> bool:
    """Whether every other description of the path and method present says the same."""
    for name in _URI_DESCRIPTIONS:
        value = headers.get(name)
        if value and value != got.uri:
            return False
    url = headers.get("x-original-url")
    if url:
        m = _ABSOLUTE.fullmatch(url)
        if m is None or _origin_form(m.group(3)) != got.uri:
            return False
    for name in _METHOD_DESCRIPTIONS:
        value = headers.get(name)
        if value and value.upper() != got.method:
            return False
    return True


def _unverified(got: OriginalRequest) -> OriginalRequest:
    return OriginalRequest(got.method, got.scheme, got.host, got.uri)


def unverifiable_rules(settings: Settings) -> list[str]:
    """One warning per rule that relaxes decisions on evidence this set-up cannot give."""
    rules = []
    if settings.skip_auth_routes:
        rules.append(("skip_auth_routes", "the original path"))
    if settings.skip_auth_preflight:
        rules.append(("skip_auth_preflight", "the original method"))
    out = []
    for option, what in rules:
        if not settings.reverse_proxy:
            out.append(f"{option} never applies with reverse_proxy = false: {what} is then only "
                       "the auth request's own")
        elif settings.proxy_kind == "auto":
            out.append(f"{option} applies under proxy_kind = \"auto\" only to Envoy's path_prefix "
                       f"checks: with the proxy unknown, no header is evidence of {what} (nginx "
                       "passes a client's own X-Original-URL on); set proxy_kind "
                       "(docs/security.md)")
        elif settings.proxy_kind == "nginx":
            out.append(f"{option} relies on X-Original-URI and X-Original-Method, which nginx "
                       "sends only if your auth location sets them with proxy_set_header and "
                       "blanks X-Original-URL, X-Forwarded-Uri and X-Forwarded-Method "
                       "(examples/nginx/nginx.conf, docs/security.md)")
    return out
