"""Unauthenticated input cannot make a served authsvc hold unbounded memory or connections.

Raw sockets against a real `python -m authsvc serve` (uvicorn with httptools, Redis sessions so
that back-channel logout reads its body): an oversized request head is a prompt 431 and costs no
memory, a head sent halfway is cut at `request_header_timeout`, oversized bodies are a 413, and
ordinary requests, keep-alive and pipelining work as before.
"""

from __future__ import annotations

import base64
import contextlib
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SECRET_A
from tests.support.components import start_authsvc, start_redis
from tests.support.processes import HOST, Process

pytestmark = pytest.mark.integration

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 2.5
#: a closed connection is seen well within this (the timeout plus scheduling on a busy machine)
CLOSE_DEADLINE = HEADER_TIMEOUT + 9.0
MAX_HEAD = 64 * 1024  # the default of max_request_header_bytes
MAX_BODY = 64 * 1024  # the default of max_request_body_bytes


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    workdir = tmp_path_factory.mktemp("limits")
    redis = start_redis(workdir)
    try:
        authsvc = start_authsvc(workdir, {
            "cookie_secret": [SECRET_A], "client_id": "c", "client_secret": "s",
            # never contacted: nothing here gets as far as the IdP
            "oidc_issuer_url": f"http://{HOST}:9/idp", "email_domains": ["example.com"],
            "session_store_type": "redis", "redis_connection_url": f"redis://{HOST}:{redis.port}",
            "request_header_timeout": f"{HEADER_TIMEOUT}s", "request_body_timeout": f"{BODY_TIMEOUT}s",
        })  # fmt: skip
        try:
            yield authsvc
        finally:
            authsvc.stop()
    finally:
        redis.stop()


def exchange(port: int, data: bytes, timeout: float = 10.0) -> tuple[bytes, float]:
    """Send `data` on a new connection, read until the server closes: (what came back, seconds)."""
    started = time.monotonic()
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        # the server may stop reading once it has answered: its answer is what counts
        with contextlib.suppress(OSError):
            sock.sendall(data)
        return read_to_close(sock), time.monotonic() - started


def read_to_close(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def read_response(sock: socket.socket) -> bytes:
    """One whole response (head and Content-Length body) from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                  if line.startswith(b"content-length:"))  # fmt: skip
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed mid-body"
        body += chunk
    assert len(body) == length, "more than one response"
    return head + b"\r\n\r\n" + body


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer[9:12])


def peak_rss_bytes(pid: int) -> int:
    """The most memory the process ever held (VmHWM): what a buffered header would raise."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def get(path: str, *headers: bytes, close: bool = True) -> bytes:
    lines = [f"GET {path} HTTP/1.1".encode(), b"Host: app.example.test", *headers]
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def assert_refused_promptly(served: Process, request_bytes: bytes, status: int) -> None:
    """`status` at once (within 3 s, not after reading it all or a timeout), connection closed."""
    answer, seconds = exchange(served.port, request_bytes)
    assert status_of(answer) == status
    assert b"connection: close" in answer.lower()
    assert seconds < 3.0, f"{status} took {seconds:.1f}s"


# --- request heads ----------------------------------------------------------------------------
ONE_MIB = 1024 * 1024
OVERSIZED_HEADS = {
    "one long header line": get("/ping", b"X-Big: " + b"a" * ONE_MIB),
    "a long cookie": get("/oauth2/auth", b"Cookie: _authsvc=" + b"b" * ONE_MIB),
    "many small headers": get("/ping", *(b"X-H%d: %s" % (i, b"v" * 40) for i in range(20000))),
    "a long request line": get("/ping?" + "q" * ONE_MIB),
    "a header just over the cap": get("/ping", b"X-Big: " + b"a" * MAX_HEAD),
}


@pytest.mark.parametrize("request_bytes", OVERSIZED_HEADS.values(), ids=OVERSIZED_HEADS.keys())
def test_an_oversized_request_head_is_a_prompt_431(served: Process, request_bytes: bytes) -> None:
    assert_refused_promptly(served, request_bytes, 431)


def test_an_oversized_head_costs_no_memory(served: Process) -> None:
    size = 32 * ONE_MIB  # buffered whole, this raised the peak RSS by 63 MB and took a second
    before = peak_rss_bytes(served.popen.pid)
    answer, _ = exchange(served.port, get("/ping", b"X-Big: " + b"a" * size), timeout=20.0)
    grown = peak_rss_bytes(served.popen.pid) - before
    assert status_of(answer) == 431
    assert grown < size // 16, f"peak RSS grew by {grown // 1024} KiB for a {size // ONE_MIB} MiB header"
    # and the server is as it was
    assert status_of(exchange(served.port, get("/ping"))[0]) == 200


@pytest.mark.parametrize("size", [8 * 1024, 32 * 1024, MAX_HEAD - 200])
def test_heads_within_the_cap_are_served(served: Process, size: int) -> None:
    # nginx sends up to 4 x 8 KiB of client headers; a Cookie line of 8 KiB is its maximum
    headers = [b"Cookie: other=" + b"c" * min(size, 8000)]
    headers += [b"X-Pad-%d: %s" % (i, b"p" * 7000) for i in range(max(0, size - 8000) // 7020)]
    answer, _ = exchange(served.port, get("/oauth2/auth", *headers))
    assert status_of(answer) == 401  # an ordinary answer: no session


def test_keep_alive_and_pipelining_still_work(served: Process) -> None:
    with socket.create_connection((HOST, served.port), timeout=10.0) as sock:
        for _ in range(3):  # one request after another on one connection
            sock.sendall(get("/ping", close=False))
            assert status_of(read_response(sock)) == 200
        head = get("/ping", close=False)  # a head in two reads, well within the deadline
        sock.sendall(head[:20])
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_READ)
            assert not sel.select(HEADER_TIMEOUT / 4), "answered or cut before the head was sent"
        sock.sendall(head[20:])
        assert status_of(read_response(sock)) == 200
        # two pipelined, the second with a large (allowed) head, then close
        sock.sendall(get("/ping", close=False) + get("/ping", b"X-Big: " + b"x" * (MAX_HEAD - 500)))
        answers = read_to_close(sock)
    assert answers.count(b"HTTP/1.1 200 OK") == 2, answers[:300]


def test_an_idle_keep_alive_connection_outlives_the_header_timeout(served: Process) -> None:
    # idle between requests is uvicorn's keep-alive timeout (5s), not the head's deadline
    with socket.create_connection((HOST, served.port), timeout=10.0) as sock:
        sock.sendall(get("/ping", close=False))
        assert status_of(read_response(sock)) == 200
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_READ)
            assert not sel.select(HEADER_TIMEOUT * 2), "the idle connection was closed"
        sock.sendall(get("/ping"))
        assert status_of(read_to_close(sock)) == 200


HALF_OPEN = {
    "nothing at all": b"",
    "half a request line": b"GET /oauth2/au",
    "a request line": b"GET /oauth2/auth HTTP/1.1\r\n",
    "half a header": b"GET /oauth2/auth HTTP/1.1\r\nHost: app.example.test\r\nCookie: _auth",
    "all but the blank line": b"GET /ping HTTP/1.1\r\nHost: app.example.test\r\n",
}


def test_half_open_connections_are_closed_after_the_header_timeout(served: Process) -> None:
    shapes = list(HALF_OPEN.values())
    socks: list[tuple[socket.socket, bytes]] = []
    try:
        for i in range(200):
            sock = socket.create_connection((HOST, served.port), timeout=5.0)
            sock.setblocking(False)
            partial = shapes[i % len(shapes)]
            if partial:
                sock.sendall(partial)
            socks.append((sock, partial))
        answers = _wait_until_all_closed([s for s, _ in socks], CLOSE_DEADLINE)
        for (_, partial), answer in zip(socks, answers, strict=True):
            if partial:  # asked something: told why (RFC 9110 §15.5.9)
                assert status_of(answer) == 408, (partial, answer[:100])
            else:
                assert answer == b""
    finally:
        for sock, _ in socks:
            sock.close()
    assert status_of(exchange(served.port, get("/ping"))[0]) == 200


def test_a_client_dripping_its_head_is_cut_at_the_timeout(served: Process) -> None:
    # each byte arrives well within the timeout: only a deadline for the whole head stops it
    head = get("/ping", b"X-Slow: " + b"s" * 1000)
    with socket.create_connection((HOST, served.port), timeout=5.0) as sock:
        started = time.monotonic()
        sent = 0
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_READ)
            while not sel.select(HEADER_TIMEOUT / 10):  # readable: an answer, or closed
                assert time.monotonic() - started < CLOSE_DEADLINE, "never cut off"
                sock.sendall(head[sent : sent + 1])
                sent += 1
        answer = read_to_close(sock)
    assert status_of(answer) == 408
    assert sent < len(head)


def _wait_until_all_closed(socks: list[socket.socket], deadline: float) -> list[bytes]:
    """What each socket received until the server closed it; fails at the deadline."""
    received = {sock: b"" for sock in socks}
    open_ = set(socks)
    end = time.monotonic() + deadline
    with selectors.DefaultSelector() as sel:
        for sock in socks:
            sel.register(sock, selectors.EVENT_READ)
        while open_:
            left = end - time.monotonic()
            assert left > 0, f"{len(open_)} of {len(socks)} connections still open after {deadline:.0f}s"
            for key, _ in sel.select(left):
                conn = key.fileobj
                assert isinstance(conn, socket.socket)
                try:
                    chunk = conn.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    received[conn] += chunk
                else:
                    sel.unregister(conn)
                    open_.discard(conn)
    return [received[sock] for sock in socks]


# --- request bodies ---------------------------------------------------------------------------
BACKCHANNEL = "/oauth2/backchannel_logout"


def post(path: str, body: bytes, *headers: bytes, content_length: int | None = None) -> bytes:
    length = len(body) if content_length is None else content_length
    lines = [f"POST {path} HTTP/1.1".encode(), b"Host: app.example.test",
             b"Content-Type: application/x-www-form-urlencoded", b"Content-Length: %d" % length,
             *headers]  # fmt: skip
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunked(path: str, body: bytes, chunk: int = 16384) -> bytes:
    lines = [f"POST {path} HTTP/1.1".encode(), b"Host: app.example.test",
             b"Content-Type: application/x-www-form-urlencoded", b"Transfer-Encoding: chunked"]
    parts = [b"%x\r\n%s\r\n" % (len(body[i : i + chunk]), body[i : i + chunk])
             for i in range(0, len(body), chunk)]  # fmt: skip
    return b"\r\n".join(lines) + b"\r\n\r\n" + b"".join(parts) + b"0\r\n\r\n"


def form(size: int) -> bytes:
    return b"logout_token=" + b"x" * (size - len(b"logout_token="))


OVERSIZED_BODIES = {
    "a declared 128 MiB body, none sent": post(BACKCHANNEL, b"", content_length=128 * ONE_MIB),
    "a 4 MiB form": post(BACKCHANNEL, form(4 * ONE_MIB)),
    "a 4 MiB chunked form": chunked(BACKCHANNEL, form(4 * ONE_MIB)),
    "just over the cap": post(BACKCHANNEL, form(MAX_BODY + 1)),
    "many fields": post(BACKCHANNEL, b"&".join(b"f%d=1" % i for i in range(30000))),
}


@pytest.mark.parametrize("request_bytes", OVERSIZED_BODIES.values(), ids=OVERSIZED_BODIES.keys())
def test_an_oversized_body_is_a_prompt_413(served: Process, request_bytes: bytes) -> None:
    assert_refused_promptly(served, request_bytes, 413)


def test_a_body_within_the_cap_is_read(served: Process) -> None:
    for body in (b"logout_token=not-a-jwt", form(MAX_BODY)):
        answer, _ = exchange(served.port, post(BACKCHANNEL, body, b"Connection: close"))
        assert status_of(answer) == 400 and b"invalid_request" in answer  # read, and refused


def test_a_slow_body_is_not_cut_by_the_header_timeout(served: Process) -> None:
    body = b"logout_token=not-a-jwt"
    with socket.create_connection((HOST, served.port), timeout=10.0) as sock:
        sock.sendall(post(BACKCHANNEL, b"", b"Connection: close", content_length=len(body)))
        with selectors.DefaultSelector() as sel:  # longer than the head may take, not the body
            sel.register(sock, selectors.EVENT_READ)
            assert not sel.select(HEADER_TIMEOUT * 1.5), "cut off while sending its body"
        sock.sendall(body)
        assert status_of(read_to_close(sock)) == 400


HALF_BODIES = {
    "nothing of it": (b"", 100),
    "half of it": (b"logout_token=abc", 100),
    "a trickle": (b"logout_token=" + b"t" * 200, 10_000),
}


def test_bodies_never_finished_are_cut_at_the_body_timeout(served: Process) -> None:
    socks = [socket.create_connection((HOST, served.port), timeout=10.0) for _ in HALF_BODIES]
    try:
        started = time.monotonic()
        for sock, (sent, length) in zip(socks, HALF_BODIES.values(), strict=True):
            sock.sendall(post(BACKCHANNEL, sent, content_length=length))
        answers = _wait_until_all_closed(socks, BODY_TIMEOUT + 9.0)
        assert time.monotonic() - started >= BODY_TIMEOUT - 0.5
    finally:
        for sock in socks:
            sock.close()
    for name, answer in zip(HALF_BODIES, answers, strict=True):
        assert status_of(answer) == 408, name


def test_an_unread_body_trickled_after_the_answer_is_cut_off(served: Process) -> None:
    # sign-out reads no body: it answers at once, and the trickle after it must not keep the
    # connection (each chunk used to postpone the keep-alive timeout)
    with socket.create_connection((HOST, served.port), timeout=5.0) as sock:
        sock.sendall(post("/oauth2/sign_out", b"", content_length=100_000))
        started, answer, closed = time.monotonic(), b"", False
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_READ)
            while not closed:
                assert time.monotonic() - started < CLOSE_DEADLINE, "the trickle kept the connection"
                if sel.select(HEADER_TIMEOUT / 10):
                    chunk = sock.recv(65536)
                    answer, closed = answer + chunk, not chunk
                else:
                    sock.sendall(b"x")
    assert status_of(answer) == 302


# --- tokens -----------------------------------------------------------------------------------
def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


NESTED = {"arrays": b"[" * 8000, "objects": b'{"a":' * 2000, "mixed": b'[{"a":' * 1500}


@pytest.mark.parametrize("nested", NESTED.values(), ids=NESTED.keys())
def test_a_deeply_nested_logout_token_header_is_a_400(served: Process, nested: bytes) -> None:
    token = _b64(nested) + b"." + _b64(b"{}") + b".c2ln"
    answer, _ = exchange(served.port, post(BACKCHANNEL, b"logout_token=" + token, b"Connection: close"))
    assert status_of(answer) == 400
    assert "Traceback" not in served.log(20000)
