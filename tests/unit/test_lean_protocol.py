"""web/lean.py, the check's own HTTP/1.1 protocol, over raw sockets against a real uvicorn server.

The server runs in a thread on uvloop with `CheckProtocol`, exactly as `serve` wires it, and
the real app (cookie sessions). What is tested is the wire: keep-alive, pipelining in order
(also across a check that waits and across a hand-off to uvicorn), Connection: close and
HTTP/1.0, the head limits (431, 408, idle close), malformed heads and the request-smuggling
shapes (Content-Length with Transfer-Encoding, two Content-Lengths, bad chunks, a body that
reads like a request).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from authsvc.context import Context
from authsvc.models import Identity, Session, Tokens
from authsvc.web.app import create_app
from authsvc.web.lean import CheckProtocol
from tests.conftest import make_settings
from tests.support.processes import HOST, free_port
from tests.support.threaded_server import serving

MAX_HEAD = 8192
HEADER_TIMEOUT = 0.5
KEEP_ALIVE = 2
#: a closed connection is seen well within this on a busy machine
CLOSE_DEADLINE = 8.0


class Served:
    def __init__(self, server: uvicorn.Server, port: int, cookie: str, slow_cookie: str) -> None:
        self.server = server
        self.port = port
        self.cookie = cookie
        #: a session whose load waits (as a Redis read would): the check becomes a task
        self.slow_cookie = slow_cookie

    def lean_connections(self) -> int:
        return sum(isinstance(c, CheckProtocol) for c in self.server.server_state.connections)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    settings = make_settings(email_domains=["example.com"], reverse_proxy=True,
                             trusted_proxy_ips=["127.0.0.1/32"], cookie_secure=False)  # fmt: skip
    context = Context.build(settings)

    async def mint(user: str) -> str:
        now = int(time.time())
        session = Session(Identity(user=user, email=f"{user}@example.com"), Tokens(access_token="at"),
                          created_at=now, expires_at=now + 3600, refreshed_at=now)  # fmt: skip
        return f"{settings.cookie_name}={await context.store.save(session)}"

    cookie, slow = asyncio.run(mint("ada")), asyncio.run(mint("slow"))
    loader = context.loader
    load = loader.load

    async def slow_load(header: str) -> Any:
        # as the Redis client does (sessions/redis_client.py): asyncio.timeout needs a current
        # task, so the check must run in one even when it never waits
        async with asyncio.timeout(5):
            if header == slow:
                await asyncio.sleep(0.2)  # a session read that waits: the check cannot finish at once
            return await load(header)

    object.__setattr__(loader, "load", slow_load)
    port = free_port()
    # serve's own wiring (cli.uvicorn_options), a partial: uvicorn's stubs want a class
    protocol: Any = functools.partial(CheckProtocol, max_header_bytes=MAX_HEAD, header_timeout=HEADER_TIMEOUT)
    config = uvicorn.Config(
        create_app(context), host=HOST, port=port, loop="uvloop", lifespan="on", log_config=None,
        http=protocol,
        timeout_keep_alive=KEEP_ALIVE, ws="none", server_header=False,
    )  # fmt: skip
    with serving(config) as server:
        yield Served(server, port, cookie, slow)


def connect(served: Served) -> socket.socket:
    sock = socket.create_connection((HOST, served.port), timeout=CLOSE_DEADLINE)
    return sock


def read_to_close(sock: socket.socket) -> bytes:
    out = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            out += chunk
    return out


def split_responses(data: bytes) -> list[tuple[int, dict[bytes, bytes], bytes]]:
    """Every response in `data` (Content-Length bodies): (status, headers, body)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"an incomplete response: {data!r}"
        lines = head.split(b"\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get(b"content-length", b"0"))
        out.append((int(lines[0].split()[1]), headers, rest[:length]))
        data = rest[length:]
    return out


def read_responses(sock: socket.socket, count: int) -> list[tuple[int, dict[bytes, bytes], bytes]]:
    data = b""
    while True:
        with contextlib.suppress(AssertionError):
            got = split_responses(data)
            if len(got) >= count:
                return got
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk


def check(cookie: str = "", *extra: str, path: str = "/oauth2/auth", method: str = "GET",
          version: str = "1.1") -> bytes:  # fmt: skip
    lines = [f"{method} {path} HTTP/{version}", "Host: auth.internal",
             "X-Forwarded-Host: app.example.com", "X-Forwarded-Proto: https", "X-Original-URI: /dashboard",
             "Accept: application/json"]  # fmt: skip
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return ("\r\n".join([*lines, *extra]) + "\r\n\r\n").encode()


def test_a_check_is_answered_by_the_lean_protocol_with_the_apps_answer(served: Served) -> None:
    with connect(served) as sock:
        sock.sendall(check(served.cookie))
        [(status, headers, _)] = read_responses(sock, 1)
        assert served.lean_connections() >= 1  # still ours after the answer: no hand-off
    assert status == 202
    assert headers[b"x-auth-request-user"] == b"ada"
    assert headers[b"x-auth-request-email"] == b"ada@example.com"
    assert headers[b"x-request-id"]
    assert b"date" in headers


def test_keep_alive_and_pipelined_checks_are_answered_in_order(served: Served) -> None:
    with connect(served) as sock:
        sock.sendall(check(served.cookie) + check() + check(served.cookie))
        answers = read_responses(sock, 3)
        sock.sendall(check())  # the same connection, later
        answers += read_responses(sock, 1)
    assert [a[0] for a in answers] == [202, 401, 202, 401]
    ids = [a[1][b"x-request-id"] for a in answers]
    assert len(set(ids)) == 4


def test_a_check_that_waits_keeps_the_pipelined_answers_in_order(served: Served) -> None:
    with connect(served) as sock:
        sock.sendall(check(served.slow_cookie) + check() + check(served.cookie))
        answers = read_responses(sock, 3)
    assert [a[0] for a in answers] == [202, 401, 202]
    assert answers[0][1][b"x-auth-request-user"] == b"slow"
    assert answers[2][1][b"x-auth-request-user"] == b"ada"


def test_another_path_hands_the_connection_to_uvicorn_with_everything_after_it(served: Served) -> None:
    with connect(served) as sock:
        sock.sendall(check(served.cookie) + b"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n" + check())
        answers = read_responses(sock, 3)
        sock.sendall(check(served.cookie))  # uvicorn's now, still answering checks
        answers += read_responses(sock, 1)
    assert [(a[0], a[2]) for a in answers] == [(202, b""), (200, b"OK"), (401, b"Unauthorized\n"), (202, b"")]


def test_connection_close_and_http_1_0_close_after_the_answer(served: Served) -> None:
    for request in (check(served.cookie, "Connection: close"), check(served.cookie, version="1.0")):
        with connect(served) as sock:
            sock.sendall(request)
            [(status, headers, _)] = split_responses(read_to_close(sock))
        assert status == 202
        assert headers[b"connection"] == b"close"
    with connect(served) as sock:  # HTTP/1.0 asking for keep-alive keeps it
        sock.sendall(check(served.cookie, "Connection: keep-alive", version="1.0") * 2)
        assert [a[0] for a in read_responses(sock, 2)] == [202, 202]


def test_head_and_expect_are_answered_without_a_body(served: Served) -> None:
    with connect(served) as sock:
        sock.sendall(check("", method="HEAD") + check("", "Expect: 100-continue"))
        data = b""
        while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(b"Unauthorized\n"):
            chunk = sock.recv(65536)
            assert chunk
            data += chunk
    first, _, second = data.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 401") and b"content-length: 13" in first
    assert second.startswith(b"HTTP/1.1 401")  # no body after the HEAD's head, no 100 either


def test_an_envoy_prefix_path_and_a_query_are_checks_too(served: Served) -> None:
    with connect(served) as sock:
        sock.sendall(check(served.cookie, path="/oauth2/auth/some/app?x=1") +
                     check(served.cookie, path="/oauth2/auth?allowed_groups=admins"))  # fmt: skip
        answers = read_responses(sock, 2)
        assert served.lean_connections() >= 1
    assert [a[0] for a in answers] == [202, 403]  # ada is in no group: the query's rule denies


#: heads llhttp accepts and RFC 9112 refuses (docs/security.md, "Request smuggling")
REFUSED_AFTER_PARSING = {
    "no-host": b"GET /oauth2/auth HTTP/1.1\r\nAccept: */*\r\n\r\n",  # §3.2
    "two-hosts": b"GET /oauth2/auth HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
    "empty-host": b"GET /oauth2/auth HTTP/1.1\r\nHost:\r\n\r\n",
    "host-with-space": b"GET /oauth2/auth HTTP/1.1\r\nHost: a b\r\n\r\n",
    "host-with-slash": b"GET /oauth2/auth HTTP/1.1\r\nHost: a/b\r\n\r\n",
    "host-with-userinfo": b"GET /oauth2/auth HTTP/1.1\r\nHost: u@a\r\n\r\n",
    "http-2.0": b"GET /oauth2/auth HTTP/2.0\r\nHost: a\r\n\r\n",
    "http-0.9": b"GET /oauth2/auth\r\n\r\n",
    "asterisk": b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "no-slash": b"GET oauth2/auth HTTP/1.1\r\nHost: a\r\n\r\n",
    "absolute-userinfo": b"GET http://u@a/oauth2/auth HTTP/1.1\r\nHost: a\r\n\r\n",
    "absolute-ftp": b"GET ftp://a/oauth2/auth HTTP/1.1\r\nHost: a\r\n\r\n",
    # §6.1: Transfer-Encoding on HTTP/1.0 is faulty framing
    "http-1.0-te": b"GET /oauth2/auth HTTP/1.0\r\nTransfer-Encoding: chunked\r\n"
    b"Connection: keep-alive\r\n\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("request_bytes", [
    b"GET /oauth2/auth HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
    b"GET /oauth2/auth HTTP/1.1\r\nHost: a\r\n folded: x\r\n\r\n",
    b"GET /oauth2/auth HTTP/9.9\r\nHost: a\r\n\r\n",
    b"GET  HTTP/1.1\r\nHost: a\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # TLS on the plain port
    # request smuggling (RFC 9112 §6.3, §11.2): both framings, two lengths, a bad length
    b"GET /oauth2/auth HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0\r\n\r\n",
    b"GET /oauth2/auth HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nhello",
    b"GET /oauth2/auth HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
    b"GET /oauth2/auth HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n",
    *REFUSED_AFTER_PARSING.values(),
], ids=["space-in-name", "obs-fold", "version", "no-target", "tls", "cl-and-te", "two-cl", "negative-cl",
        "bad-cl", *REFUSED_AFTER_PARSING])  # fmt: skip
def test_malformed_and_ambiguous_heads_are_a_400_and_closed(served: Served, request_bytes: bytes) -> None:
    with connect(served) as sock:
        sock.sendall(request_bytes + check(served.cookie))  # nothing after the refusal is answered
        answers = split_responses(read_to_close(sock))
    assert [a[0] for a in answers] == [400]


@pytest.mark.parametrize("request_bytes", REFUSED_AFTER_PARSING.values(), ids=REFUSED_AFTER_PARSING.keys())
def test_uvicorns_protocol_refuses_them_too(served: Served, request_bytes: bytes) -> None:
    # after a request of another path the connection is uvicorn's (protocol.py): the same rules
    with connect(served) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n")
        answers = read_responses(sock, 1)
        sock.sendall(request_bytes + check(served.cookie))
        answers += split_responses(read_to_close(sock))
    assert [a[0] for a in answers] == [200, 400]


def test_a_refused_head_after_a_pipelined_request_leaves_its_answer_whole(served: Served) -> None:
    # uvicorn wrote its 400 and closed at once, over the answer still being written for the
    # request before it; now that answer goes out, and the connection closes after it
    for bad in (REFUSED_AFTER_PARSING["no-host"], REFUSED_AFTER_PARSING["no-slash"]):
        with connect(served) as sock:
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n" + check(served.cookie) + bad + check())
            answers = split_responses(read_to_close(sock))
        assert [a[0] for a in answers][:2] == [200, 202]
        assert [a[0] for a in answers][2:] in ([], [400])  # no answer after the refused head


def test_a_check_with_upgrade_is_answered_and_the_connection_closed(served: Served) -> None:
    # llhttp parses nothing after an upgrade request: the pipelined check after it was dropped
    # unanswered and the connection hung; now it is answered as plain HTTP (no websockets here),
    # then closed, so nothing after it is read at all
    h2c = "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: Upgrade, HTTP2-Settings"
    for upgrade in (h2c, "Upgrade: websocket\r\nConnection: Upgrade"):
        with connect(served) as sock:
            sock.sendall(check(served.cookie, upgrade) + check(served.cookie))
            answers = split_responses(read_to_close(sock))
        assert [(a[0], a[1][b"connection"]) for a in answers] == [(202, b"close")]


def test_a_host_with_ows_a_port_or_an_ip_literal_is_valid(served: Served) -> None:
    hosts = ["Host: auth.internal \t", "Host: auth.internal:8080", "Host: [::1]:8080", "Host: 10.0.0.1"]
    with connect(served) as sock:
        for host in hosts:  # the lean protocol's, then uvicorn's (after /ping)
            sock.sendall(check(served.cookie).replace(b"Host: auth.internal", host.encode()))
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n")
        for host in hosts:
            sock.sendall(check(served.cookie).replace(b"Host: auth.internal", host.encode()))
        assert [a[0] for a in read_responses(sock, 9)] == [202] * 4 + [200] + [202] * 4


def test_http_1_0_needs_no_host(served: Served) -> None:
    with connect(served) as sock:
        sock.sendall(b"GET /oauth2/auth HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + check())
        assert [a[0] for a in read_responses(sock, 2)] == [401, 401]


def test_an_invalid_chunked_body_on_a_check_is_a_400(served: Served) -> None:
    with connect(served) as sock:
        sock.sendall(b"GET /oauth2/auth HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"zz\r\nhi\r\n0\r\n\r\n" + check(served.cookie))  # fmt: skip
        answers = split_responses(read_to_close(sock))
    assert [a[0] for a in answers][-1:] == [400]
    assert 202 not in [a[0] for a in answers]


def test_a_body_that_reads_like_a_request_is_never_answered_as_one(served: Served) -> None:
    hidden = b"GET /oauth2/auth HTTP/1.1\r\nHost: a\r\nCookie: " + served.cookie.encode() + b"\r\n\r\n"
    for framing in (b"Content-Length: %d\r\n\r\n" % len(hidden) + hidden,
                    b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(hidden) + hidden
                    + b"\r\n0\r\n\r\n"):  # fmt: skip
        with connect(served) as sock:
            sock.sendall(b"GET /oauth2/auth HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n" + framing
                         + check(""))  # fmt: skip
            answers = read_responses(sock, 2)
            sock.settimeout(0.3)
            with pytest.raises(TimeoutError):  # no third answer: the body was a body
                sock.recv(65536)
        assert [a[0] for a in answers] == [401, 401]


def test_an_oversized_head_is_a_431(served: Served) -> None:
    with connect(served) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(b"GET /oauth2/auth HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * (MAX_HEAD * 4))
        answers = split_responses(read_to_close(sock))
    assert [a[0] for a in answers] == [431]


def test_a_head_just_within_the_cap_is_served(served: Served) -> None:
    request = check(served.cookie)
    pad = MAX_HEAD - len(request) - len("X-Pad: \r\n")
    with connect(served) as sock:
        sock.sendall(check(served.cookie, "X-Pad: " + "p" * pad))
        assert [a[0] for a in read_responses(sock, 1)] == [202]


def test_a_half_sent_head_is_a_408_after_the_header_timeout(served: Served) -> None:
    with connect(served) as sock:
        sock.sendall(check(served.cookie) + b"GET /oauth2/auth HTTP/1.1\r\nHost: a\r\n")
        started = time.monotonic()
        answers = split_responses(read_to_close(sock))
        took = time.monotonic() - started
    assert [a[0] for a in answers] == [202, 408]
    assert HEADER_TIMEOUT * 0.9 <= took < CLOSE_DEADLINE


def test_a_dripped_head_is_cut_at_the_timeout_from_its_first_byte(served: Served) -> None:
    with connect(served) as sock:
        started = time.monotonic()
        sock.settimeout(0.1)
        out = b""
        for byte in check(served.cookie)[:-2]:
            with contextlib.suppress(OSError):
                sock.send(bytes([byte]))
            with contextlib.suppress(TimeoutError):
                if chunk := sock.recv(65536):
                    out += chunk
                else:
                    break
            if time.monotonic() - started > CLOSE_DEADLINE:
                break
        sock.settimeout(CLOSE_DEADLINE)
        out += read_to_close(sock)
    assert out.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < CLOSE_DEADLINE


def test_a_silent_connection_is_closed_at_the_header_timeout_and_an_idle_one_at_keep_alive(
    served: Served,
) -> None:
    with connect(served) as sock:
        started = time.monotonic()
        assert read_to_close(sock) == b""  # nothing asked, nothing answered
        assert HEADER_TIMEOUT * 0.9 <= time.monotonic() - started < CLOSE_DEADLINE
    with connect(served) as sock:
        sock.sendall(check())
        read_responses(sock, 1)
        answered = time.monotonic()
        assert read_to_close(sock) == b""
        idle = time.monotonic() - answered
    assert KEEP_ALIVE * 0.9 <= idle < KEEP_ALIVE + CLOSE_DEADLINE  # not the (shorter) head timeout


def test_a_head_read_alone_is_handed_on_whole_when_it_is_not_a_check(served: Served) -> None:
    # each head in a read of its own (the in-place path), then its body in a later read
    with connect(served) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n")
        answers = read_responses(sock, 1)
        sock.sendall(check(served.cookie))
        answers += read_responses(sock, 1)
    with connect(served) as sock:
        sock.sendall(b"GET /oauth2/auth HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n"
                     b"Content-Length: 5\r\n\r\n")
        time.sleep(0.05)  # not a race: makes the body a read of its own, the case under test
        sock.sendall(b"hello" + check(served.cookie))
        answers += read_responses(sock, 2)
    assert [a[0] for a in answers] == [200, 202, 401, 202]


def test_a_head_dripped_in_small_pieces_is_served(served: Served) -> None:
    # each piece is a read of its own where the machine allows: the end of the head is found
    # across pieces (the search resumes where it stopped, with an overlap of three bytes)
    request = check(served.cookie)
    with connect(served) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(request), 7):
            sock.sendall(request[i:i + 7])
        assert [a[0] for a in read_responses(sock, 1)] == [202]
        for piece in (request[:-3], request[-3:-1], request[-1:]):  # CRLF CRLF split 1/2/1
            sock.sendall(piece)
        assert [a[0] for a in read_responses(sock, 1)] == [202]
