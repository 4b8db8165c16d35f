"""A Traefik stand-in that reads examples/traefik/dynamic.yml and follows forward.go's rules.

Traefik cannot be installed here. Real Caddy covers the shared ForwardAuth semantics; this
double covers where Traefik differs (proxy-contracts.md §3), reading its routers, middlewares
and services from the example file itself:

- entrypoint: a client's X-Forwarded-* and X-Real-Ip are dropped, Traefik's own are set;
  `aliasHeadersStrategy: delete` (examples/traefik/traefik.yml) drops every header whose name
  holds anything but letters, digits and "-";
- forwardAuth: GET to `address` (Host = the address's host), every client header minus
  hop-by-hop, then (trustForwardHeader false) X-Forwarded-For/-Method/-Proto/-Host/-Uri/-Port
  set from the request; redirects are not followed;
- non-2xx: status, headers (minus hop-by-hop) and body relayed, a relative `Location` made
  absolute against the auth address (unless preserveLocationHeader);
- 2xx: each `authResponseHeaders` name is deleted from the request, then copied from the
  answer if present; `addAuthCookiesToResponse` cookies are added to the app's response;
- headers middleware: `customRequestHeaders`, an empty value deletes the header;
- services: the first loadBalancer server, Host passed through (passHostHeader).

The file's `{{ env "NAME" | default "x" }}` template expressions are filled from `env`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import yaml

from .processes import HOST, Served, serve_forever

HOP_BY_HOP = {
    "connection", "keep-alive", "te", "trailers", "transfer-encoding", "upgrade",
    "proxy-connection", "proxy-authenticate",
}
_ENV = re.compile(r'\{\{\s*env\s+"([A-Za-z0-9_]+)"\s*(?:\|\s*default\s+"([^"]*)"\s*)?\}\}')
_MATCHER = re.compile(r"(Host|PathPrefix|Path)\(`([^`]*)`\)")

Headers = list[tuple[str, str]]


def render_dynamic(text: str, env: Mapping[str, str]) -> dict[str, Any]:
    """The dynamic config with Traefik's `{{ env "X" | default "y" }}` filled, parsed."""

    def fill(m: re.Match[str]) -> str:
        return env.get(m.group(1)) or m.group(2) or ""

    data = yaml.safe_load(_ENV.sub(fill, text))
    assert isinstance(data, dict)
    return data


#: a name aliasHeadersStrategy keeps: letters, digits and dashes only
_DASH_NAME = re.compile(r"[A-Za-z0-9-]+")


def _drop(headers: Headers, name: str) -> Headers:
    return [(k, v) for k, v in headers if k.lower() != name.lower()]


def _values(headers: Headers, name: str) -> list[str]:
    return [v for k, v in headers if k.lower() == name.lower()]


@dataclass
class Router:
    name: str
    rule: str
    priority: int
    middlewares: list[str]
    service: str

    def matches(self, host: str, path: str) -> bool:
        """Host(`h`) (port ignored, as Traefik does) && PathPrefix(`/p`) && Path(`/p`)."""
        for kind, arg in _MATCHER.findall(self.rule):
            if kind == "Host" and host.rsplit(":", 1)[0].lower() != arg.lower():
                return False
            if kind == "PathPrefix" and not path.startswith(arg):
                return False
            if kind == "Path" and path.split("?", 1)[0] != arg:
                return False
        return True


@dataclass
class Config:
    """Routers (highest priority first), middlewares and services of the dynamic file."""

    routers: list[Router]
    middlewares: dict[str, dict[str, Any]]
    services: dict[str, str]

    @classmethod
    def load(cls, path: Path, env: Mapping[str, str]) -> Config:
        http = render_dynamic(path.read_text(), env)["http"]
        routers = [
            Router(
                name,
                r["rule"],
                int(r.get("priority", len(r["rule"]))),
                list(r.get("middlewares", [])),
                r["service"],
            )
            for name, r in http["routers"].items()
        ]
        routers.sort(key=lambda r: -r.priority)
        services = {
            name: s["loadBalancer"]["servers"][0]["url"] for name, s in http["services"].items()
        }
        return cls(routers, dict(http.get("middlewares", {})), services)


@dataclass
class Exchange:
    """One request on its way through the chain."""

    method: str
    uri: str
    host: str
    client_ip: str
    headers: Headers
    body: bytes
    extra_cookies: list[str] = field(default_factory=list)


@dataclass
class Reply:
    status: int
    headers: Headers
    body: bytes


class TraefikDouble:
    """The chain: entrypoint -> router -> middlewares -> service."""

    def __init__(self, config: Config, port: int) -> None:
        self.config = config
        self.port = port
        # a proxy keeps no cookies: a jar would sign every later client in (allowed_domains=[])
        jar = CookieJar(DefaultCookiePolicy(allowed_domains=[]))
        self.http = httpx.Client(timeout=30.0, follow_redirects=False, cookies=jar)  # 30 s

    # --- entrypoint ----------------------------------------------------------------------
    def entrypoint(self, ex: Exchange) -> None:
        """No trustedIPs: drop the client's forwarded headers, set Traefik's own; aliasing
        names dropped (aliasHeadersStrategy: delete)."""
        ex.headers = [
            (k, v) for k, v in ex.headers
            if not k.lower().startswith("x-forwarded-") and k.lower() != "x-real-ip"
            and _DASH_NAME.fullmatch(k)
        ]
        ex.headers += [
            ("X-Forwarded-Proto", "http"),
            ("X-Forwarded-Host", ex.host),
            ("X-Forwarded-Port", str(self.port)),
            ("X-Forwarded-Server", "traefik-double"),
            ("X-Real-Ip", ex.client_ip),
        ]

    def handle(self, ex: Exchange) -> Reply:
        self.entrypoint(ex)
        for router in self.config.routers:
            if router.matches(ex.host, ex.uri):
                break
        else:
            return Reply(404, [("Content-Type", "text/plain")], b"404 page not found\n")
        for name in router.middlewares:
            reply = self.middleware(self.config.middlewares[name], ex)
            if reply is not None:
                return reply
        reply = self.service(self.config.services[router.service], ex)
        reply.headers += [("Set-Cookie", c) for c in ex.extra_cookies]
        return reply

    # --- middlewares ---------------------------------------------------------------------
    def middleware(self, spec: Mapping[str, Any], ex: Exchange) -> Reply | None:
        if "forwardAuth" in spec:
            return self.forward_auth(spec["forwardAuth"], ex)
        if "headers" in spec:
            for name, value in (spec["headers"].get("customRequestHeaders") or {}).items():
                ex.headers = _drop(ex.headers, name)
                if value:
                    ex.headers.append((name, value))
            return None
        raise NotImplementedError(f"middleware not in the double: {sorted(spec)}")

    def forward_auth(self, fa: Mapping[str, Any], ex: Exchange) -> Reply | None:
        address = fa["address"]
        trust = bool(fa.get("trustForwardHeader", False))
        headers = [(k, v) for k, v in ex.headers
                   if k.lower() not in HOP_BY_HOP | {"host", "content-length"}]
        allowed = [h.lower() for h in fa.get("authRequestHeaders") or []]
        if allowed:
            headers = [(k, v) for k, v in headers if k.lower() in allowed]
        if not trust:
            headers = [
                (k, v) for k, v in headers
                if not k.lower().startswith("x-forwarded-") and k.lower() != "x-real-ip"
            ]
        headers += [
            ("X-Forwarded-For", ex.client_ip),
            ("X-Forwarded-Method", ex.method),
            ("X-Forwarded-Proto", "http"),
            ("X-Forwarded-Host", ex.host),
            ("X-Forwarded-Uri", ex.uri),
            ("X-Forwarded-Port", str(self.port)),
        ]
        try:
            # Go's client sets Host from the address; no body unless forwardBody
            answer = self.http.get(address, headers=headers)
        except httpx.HTTPError:
            return Reply(500, [], b"")
        answer_headers = list(answer.headers.multi_items())
        if not 200 <= answer.status_code < 300:
            out = [(k, v) for k, v in answer_headers
                   if k.lower() not in HOP_BY_HOP | {"content-length"}]
            location = answer.headers.get("location")
            if location and not fa.get("preserveLocationHeader", False):
                out = [*_drop(out, "location"), ("Location", urljoin(address, location))]
            return Reply(answer.status_code, out, answer.content)
        for name in fa.get("authResponseHeaders") or []:
            ex.headers = _drop(ex.headers, name)
            ex.headers += [(name, v) for v in _values(answer_headers, name)]
        wanted = set(fa.get("addAuthCookiesToResponse") or [])
        for cookie in _values(answer_headers, "set-cookie"):
            if cookie.split("=", 1)[0].strip() in wanted:
                ex.extra_cookies.append(cookie)
        return None

    # --- service -------------------------------------------------------------------------
    def service(self, url: str, ex: Exchange) -> Reply:
        headers = [(k, v) for k, v in ex.headers if k.lower() not in HOP_BY_HOP | {"content-length"}]
        headers = [*_drop(headers, "x-forwarded-for"), ("X-Forwarded-For", ex.client_ip)]
        target = url.rstrip("/") + ex.uri
        try:
            answer = self.http.request(ex.method, target, headers=headers, content=ex.body)
        except httpx.HTTPError:
            return Reply(502, [], b"Bad Gateway")
        out = [(k, v) for k, v in answer.headers.multi_items()
               if k.lower() not in HOP_BY_HOP | {"content-length", "content-encoding"}]
        return Reply(answer.status_code, out, answer.content)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        ex = Exchange(
            self.command,
            self.path,
            self.headers.get("Host", ""),
            self.client_address[0],
            list(self.headers.items()),
            body,
        )
        reply = self.server.double.handle(ex)
        self.send_response(reply.status)
        for k, v in reply.headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    double: TraefikDouble


@dataclass
class RunningDouble(Served):
    """The double serving one dynamic config."""

    server: _Server

    def stop(self) -> None:
        super().stop()
        self.server.double.http.close()


def start_traefik_double(dynamic: Path, env: Mapping[str, str]) -> RunningDouble:
    """Serve the double for the dynamic config at `dynamic` on a free loopback port."""
    server = _Server((HOST, 0), _Handler)
    server.double = TraefikDouble(Config.load(dynamic, env), int(server.server_address[1]))
    return RunningDouble(server, serve_forever(server, "traefik-double"))
