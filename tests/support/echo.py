"""An echo upstream: answers every request with a JSON report of what it received.

It stands for the protected application behind the proxy. Tests read `headers` to see exactly
which identity headers the proxy let through (and that spoofed ones did not). Header names are
kept as sent, duplicates too, so a header sent twice is visible as two entries.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .processes import HOST


class _Handler(BaseHTTPRequestHandler):
    server_version = "echo/1"
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
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
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class EchoUpstream:
    """A running echo server; `url` is its base URL."""

    server: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def start_echo() -> EchoUpstream:
    """Start the echo server on a free loopback port in a daemon thread."""
    server = ThreadingHTTPServer((HOST, 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="echo-upstream", daemon=True)
    thread.start()
    return EchoUpstream(server, thread)


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
