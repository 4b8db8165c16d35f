"""An echo upstream: answers every request with a JSON report of what it received.

It stands for the protected application behind the proxy (a WebSocket upgrade gets the same
report as its first message; each `X-Echo-Set-Cookie` request header becomes a `Set-Cookie` of
the answer, for an app that sets cookies of its own). Tests read `headers` to see exactly
which identity headers the proxy let through (and that spoofed ones did not). Header names are
kept as sent, duplicates too, so a header sent twice is visible as two entries.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .processes import HOST, Served, serve_forever

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3


def _read_frame(rfile: Any) -> bytes:
    """One client-to-server WebSocket frame's payload (RFC 6455 section 5.2: always masked)."""
    head = rfile.read(2)
    length = head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", rfile.read(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", rfile.read(8))[0]
    mask = rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
    data = rfile.read(length)
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def _text_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame (server to client)."""
    if len(payload) < 126:
        return bytes([0x81, len(payload)]) + payload
    if len(payload) < 65536:
        return bytes([0x81, 126]) + struct.pack("!H", len(payload)) + payload
    return bytes([0x81, 127]) + struct.pack("!Q", len(payload)) + payload


class _Handler(BaseHTTPRequestHandler):
    server_version = "echo/1"
    protocol_version = "HTTP/1.1"

    def _websocket(self) -> None:
        """Upgrade, then answer the first message with the report of the upgrade request."""
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        message = _read_frame(self.rfile)
        report = {
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": message.decode("utf-8", "replace"),
        }
        self.wfile.write(_text_frame(json.dumps(report).encode()))
        self.wfile.flush()
        self.close_connection = True

    def _answer(self) -> None:
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self._websocket()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        report = {
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.decode("utf-8", "replace"),
        }
        data = json.dumps(report).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        for cookie in self.headers.get_all("X-Echo-Set-Cookie") or ():
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class EchoUpstream(Served):
    """A running echo server; `url` is its base URL."""


def start_echo() -> EchoUpstream:
    """Start the echo server on a free loopback port in a daemon thread."""
    server = ThreadingHTTPServer((HOST, 0), _Handler)
    return EchoUpstream(server, serve_forever(server, "echo-upstream"))


@dataclass(frozen=True)
class Echoed:
    """The echo server's report, parsed."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Echoed:
        return cls(
            str(data["method"]),
            str(data["path"]),
            tuple((str(k), str(v)) for k, v in data["headers"]),
        )

    def all(self, name: str) -> list[str]:
        """Every value of header `name` (case-insensitive)."""
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def get(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def names(self) -> set[str]:
        return {k.lower() for k, _ in self.headers}
