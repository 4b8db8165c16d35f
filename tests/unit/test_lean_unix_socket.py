"""web/lean.py's CheckProtocol on a unix socket (http_address = "unix://..."), as `serve` runs it:
the socket made by web/listen.py, handed to uvicorn's Server. A peer there has no address
(`client` is None): checks are still answered on the fast path, kept alive and pipelined, other
paths handed to uvicorn, a refusal lingers and closes, and the peer is trusted as loopback."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from authsvc.context import Context
from authsvc.models import Identity, Session, Tokens
from authsvc.web.app import create_app
from authsvc.web.lean import CheckProtocol
from authsvc.web.listen import unix_socket
from tests.conftest import make_settings
from tests.support.threaded_server import serving
from tests.unit.test_lean_protocol import read_responses, read_to_close


class Served:
    def __init__(self, server: uvicorn.Server, path: Path, cookie: str) -> None:
        self.server, self.path, self.cookie = server, path, cookie

    def connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(8.0)
        sock.connect(str(self.path))
        return sock

    def lean_connections(self) -> int:
        return sum(isinstance(c, CheckProtocol) for c in self.server.server_state.connections)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    directory = Path(tempfile.mkdtemp(prefix="authsvc-lean-", dir="/tmp"))
    path = directory / "authsvc.sock"
    settings = make_settings(email_domains=["example.com"], cookie_secure=False, proxy_kind="nginx",
                             http_address=f"unix://{path},mode=0600")
    context = Context.build(settings)
    now = int(time.time())
    session = Session(Identity(user="ada", email="ada@example.com"), Tokens(access_token="at"),
                      created_at=now, expires_at=now + 3600, refreshed_at=now)
    cookie = f"{settings.cookie_name}={asyncio.run(context.store.save(session))}"
    protocol: Any = functools.partial(CheckProtocol, max_header_bytes=64 * 1024, header_timeout=2.0)
    config = uvicorn.Config(create_app(context), loop="uvloop", lifespan="on", log_config=None,
                            http=protocol, ws="none", server_header=False)
    sock = unix_socket(str(path), 0o600)
    try:
        with serving(config, [sock]) as server:
            yield Served(server, path, cookie)
    finally:
        sock.close()
        with contextlib.suppress(OSError):
            path.unlink()
            directory.rmdir()


def check(cookie: str = "", *extra: str, path: str = "/oauth2/auth") -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: app.example.com", "X-Original-URI: /dashboard",
             "X-Original-Method: GET", "X-Forwarded-Proto: https", "X-Forwarded-Host: app.example.com",
             "X-Original-URL:", "X-Forwarded-Uri:", "X-Forwarded-Method:", "Accept: application/json"]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return ("\r\n".join([*lines, *extra]) + "\r\n\r\n").encode()


def test_checks_are_answered_on_the_fast_path_kept_alive_and_pipelined(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(check(served.cookie) + check() + check(served.cookie))
        answers = read_responses(sock, 3)
        assert served.lean_connections() >= 1  # no hand-off to uvicorn's protocol
    assert [status for status, _, _ in answers] == [202, 401, 202]
    assert answers[0][1][b"x-auth-request-email"] == b"ada@example.com"


def test_the_unix_peer_is_trusted_its_request_id_believed(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(check(served.cookie, "X-Request-ID: nginx-req-42"))
        [(status, headers, _)] = read_responses(sock, 1)
    assert status == 202
    assert headers[b"x-request-id"] == b"nginx-req-42"


def test_another_path_is_handed_to_uvicorn_on_the_same_socket(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(check(served.cookie) + b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = read_to_close(sock)
    assert data.startswith(b"HTTP/1.1 202") and b"\r\n\r\nOK" in data


def test_a_malformed_head_is_a_400_and_the_connection_closed(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(b"GET /oauth2/auth HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n")
        data = read_to_close(sock)
    assert data.startswith(b"HTTP/1.1 400")


def test_without_host_the_socket_path_is_never_taken_for_one(served: Served) -> None:
    # HTTP/1.0 needs no Host: Starlette would build http:///<socket path>:None/... from the
    # server address; the retry link of an IdP that is down (app.py) is built from that URL
    with served.connect() as sock:
        sock.sendall(b"GET /oauth2/start?rd=%2F HTTP/1.0\r\nAccept: text/html\r\n\r\n")
        data = read_to_close(sock)
    assert data.startswith(b"HTTP/1.1 ")
    assert str(served.path).encode() not in data and b":None" not in data
