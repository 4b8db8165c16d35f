"""A recording pass-through in front of authsvc: what did the proxy really send?

Proxies point at the tap instead of authsvc; the tap forwards every request unchanged (Host
included) and keeps a copy of each one, so a test can assert on the exact method, path, headers
and body each proxy sends to `/oauth2/auth` (proxy-contracts.md §7, point 1).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from .processes import HOST, Served, serve_forever

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclass(frozen=True)
class Recorded:
    """One request as the tap received it."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def get(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def has(self, name: str) -> bool:
        return any(k.lower() == name.lower() for k, _ in self.headers)


@dataclass
class _State:
    target: str
    client: httpx.Client
    records: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        record = Recorded(self.command, self.path, tuple(self.headers.items()), body)
        state = self.server.state
        with state.lock:
            state.records.append(record)
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
        answer = state.client.request(
            self.command, state.target + self.path, headers=headers, content=body
        )
        self.send_response(answer.status_code)
        for k, v in answer.headers.multi_items():
            if k.lower() not in _HOP_BY_HOP | {"content-length", "content-encoding"}:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.content)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _forward

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    state: _State


@dataclass
class Tap(Served):
    """A running tap; `records` are the requests seen so far."""

    server: _Server

    def auth_requests(self, prefix: str = "/oauth2/auth") -> list[Recorded]:
        """The check requests recorded so far (paths under `prefix`)."""
        with self.server.state.lock:
            return [r for r in self.server.state.records if r.path.startswith(prefix)]

    def clear(self) -> None:
        with self.server.state.lock:
            self.server.state.records.clear()

    def stop(self) -> None:
        super().stop()
        self.server.state.client.close()


def start_tap(target_port: int) -> Tap:
    """A tap on a free loopback port forwarding to 127.0.0.1:`target_port`."""
    server = _Server((HOST, 0), _Handler)
    jar = CookieJar(DefaultCookiePolicy(allowed_domains=[]))  # a proxy keeps no cookies
    client = httpx.Client(timeout=30.0, follow_redirects=False, cookies=jar)
    server.state = _State(f"http://{HOST}:{target_port}", client)
    return Tap(server, serve_forever(server, "authsvc-tap"))
