"""The check's own HTTP/1.1 protocol, in front of uvicorn's on the one listener (issue 17).

Behind nginx's auth_request every protected request is one `/oauth2/auth` request, and most of
its cost was uvicorn's per-request machinery (a cycle object, an event, a keep-alive timer,
header validation and message dicts), not the check. So each connection starts on `CheckProtocol`:

- it finds where a request head ends (CRLF CRLF) itself, so it knows the byte offset of every
  request, and parses that head with httptools (llhttp, the parser uvicorn uses);
- a head that is a plain check (the check path or under it, no body, no upgrade) is answered
  here: `AuthsvcApp.check_now` gives the answer the ASGI call would send (the same handler,
  metrics, logs, errors and X-Request-ID as under uvicorn), written here as one piece with no
  ASGI messages. When everything the check needs is in memory (a cached session or token, no
  refresh due, no session at all) that answer comes back at once and is written within the
  same callback, with no task; otherwise an awaitable of it comes back (the same check, from
  the step that waits), which runs as a task (asyncio.timeout and anyio need one), and later
  pipelined requests wait their turn, so answers stay in order;
- anything else (another path, a body, an upgrade, a head that does not start at a request
  line) hands the connection to uvicorn for good: a fresh `LimitedHttpToolsProtocol` gets the
  transport and the bytes from that request's first byte on, as if it had had them from the
  start (protocol.py then enforces its limits, the body caps are bodies.py's).

The limits of protocol.py (issue 11 §4) hold here too: a head may take at most
`max_header_bytes` (else 431) and must be complete `header_timeout` seconds after the
connection opened or the previous answer (else 408, or a silent close if nothing was sent);
an idle keep-alive connection is closed after uvicorn's `timeout_keep_alive`. A malformed
head, and the request-smuggling shapes llhttp refuses (Content-Length with Transfer-Encoding,
two Content-Lengths, a bad chunk size: RFC 9112 §6.3, §11.2), get 400 and a closed connection;
so do the heads RFC 9112 says to refuse and llhttp lets through (§3.2: an HTTP/1.1 request
without Host, two Hosts, an invalid Host; HTTP/0.9 and 2.0 request lines; a target that is
neither the origin nor the absolute form of an http(s) URI): protocol.py's `target_refusal`
and `invalid_host`, the same rules there for what uvicorn answers. docs/security.md, "Request
smuggling", has the cases, tested against nginx and Envoy.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable
from typing import Any, cast
from urllib.parse import unquote

import httptools
from starlette.responses import Response
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE
from uvicorn.protocols.utils import get_remote_addr, is_ssl
from uvicorn.server import ServerState

from .protocol import LINGER, LimitedHttpToolsProtocol, invalid_host, server_address, target_refusal
from .responses import Prepared, encode_head

log = logging.getLogger("authsvc.protocol")

_END = b"\r\n\r\n"
_ASGI = {"version": "3.0", "spec_version": "2.4"}
_REQUEST = {"type": "http.request", "body": b"", "more_body": False}
_CLOSE = b"connection: close\r\n"
_INF = float("inf")
_VERSIONS = {b"1.1": "1.1", b"1.0": "1.0"}
#: the methods' names as str, without a decode per request (llhttp knows only its own set)
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}
#: what `host` becomes at a second Host line: no valid Host value (it holds a space)
_TWO_HOSTS = b" "
#: `valid_host` before any: no Host value (llhttp refuses a NUL in one)
_NO_HOST = b"\x00"


class _Refused(Exception):
    """Raised in a parser callback: httptools stops and raises HttpParserCallbackError."""


def find_check_app(app: Any) -> Any:
    """The AuthsvcApp under uvicorn's wrappers, or None (another app: everything is uvicorn's)."""
    from .app import AuthsvcApp

    for _ in range(8):
        if isinstance(app, AuthsvcApp):
            return app
        app = getattr(app, "app", None)
    return None


class CheckProtocol(asyncio.Protocol):
    """One connection: checks answered here, the first request of any other kind handed on."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        max_header_bytes: int,
        header_timeout: float,
    ) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = _loop or asyncio.get_event_loop()
        self.app = find_check_app(config.loaded_app)
        self.root_path = config.root_path
        self.raw_root = config.root_path.encode("ascii")
        self.max_header_bytes = max_header_bytes
        self.header_timeout = header_timeout
        self.keep_alive_timeout = float(config.timeout_keep_alive)
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.server: tuple[str, int | None] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme = "http"
        #: bytes received and not yet answered (from the first byte of the next request)
        self.buffer = bytearray()
        #: how much of the buffer is known to hold no CRLF CRLF
        self.scanned = 0
        #: a check is waiting (a task): later requests wait in the buffer
        self.busy = False
        #: the transport's buffer is full: answer nothing more until it drains
        self.write_paused = False
        self.read_paused = False
        #: no more requests: the connection closes after the answer in progress
        self.closing = False
        #: the connection belongs to uvicorn's protocol now
        self.handed_off = False
        #: when the head being waited for must be complete (or the idle connection closes)
        self.deadline = 0.0
        #: the deadline is a head's (408), not an idle keep-alive's (silent close)
        self.head_deadline = True
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = _INF
        #: server_state.default_headers as last encoded (uvicorn replaces the list to renew Date)
        self.default_source: list[tuple[bytes, bytes]] | None = None
        self.default_block = b""
        #: keep-alive answers written at the end of this loop iteration (`flush`): answering
        #: inside the read callback woke the client once per answer; one write a little later
        #: lets it run while this loop still reads (docs/performance.md, issue 17)
        self.pending: list[bytes] = []
        # per request (httptools callbacks)
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        #: the Host header's value (None: none, _TWO_HOSTS: more than one)
        self.host: bytes | None = None
        #: the last Host value found valid on this connection
        self.valid_host = _NO_HOST
        self.complete = False
        self.method = "GET"
        self.http_version = "1.1"
        #: the request line's last three bytes ("1.1"), see `parse`
        self.version = b""
        self.keep_alive = True
        self.path = ""
        self.raw_path = b""
        self.query = b""

    # --- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.app is None:
            self.hand_off()
            return
        self.server_state.connections.add(self)  # type: ignore[arg-type]  # for uvicorn's shutdown()
        self.server = server_address(self.transport)
        self.client = get_remote_addr(self.transport)
        self.scheme = "https" if is_ssl(self.transport) else "http"
        # a connection that never sends a byte is cut at the head deadline too (protocol.py)
        self.set_deadline(self.loop.time() + self.header_timeout, head=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)  # type: ignore[arg-type,unused-ignore]
        self.closing = True
        self.cancel_timer()
        self.buffer.clear()

    def eof_received(self) -> bool | None:
        return None  # the transport closes; a check in flight finds it closing and writes nothing

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return  # draining after a refusal, or shutting down
        if not self.buffer and not self.busy:
            # the first byte of a request: its head is due header_timeout from now
            self.set_deadline(self.loop.time() + self.header_timeout, head=True)
            size = len(data)
            if not self.write_paused and data.find(_END, 0, self.max_header_bytes) == size - 4:
                # the usual read: exactly one whole head (nginx's keep-alive subrequest), parsed
                # in place; anything else goes through the buffer
                self.one(data)
                return
        self.buffer += data
        if not self.busy and not self.write_paused:
            self.process()
        if len(self.buffer) > self.max_header_bytes and not self.read_paused and not self.closing:
            # waiting on a check or the client's reading: hold no more than one head or so
            self.read_paused = True
            self.transport.pause_reading()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if not self.busy and not self.handed_off:
            self.process()

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: finish the answer in progress, then close."""
        self.closing = True
        if not self.busy:
            self.flush()
            self.transport.close()

    # --- requests ------------------------------------------------------------------------------
    def process(self) -> None:
        """Answer the complete heads in the buffer, in order, until one must wait."""
        buffer = self.buffer
        while buffer and not self.busy and not self.write_paused and not self.closing:
            if buffer[0] in b"\r\n":
                # empty lines before a request line (RFC 9112 §2.2): rare, uvicorn's to judge
                self.hand_off()
                return
            # search only what is new (less 3 bytes of overlap): a head dripped a byte at a time
            # must cost O(n), not O(n^2) rescans of the buffer
            start = max(0, self.scanned - 3)
            end = buffer.find(_END, start, self.max_header_bytes)
            if end < 0:
                if len(buffer) >= self.max_header_bytes:
                    log.info("refusing a request head of over %d bytes (431)", self.max_header_bytes)
                    self.refuse(431, b"request header fields too large\n")
                elif buffer.find(b"\n\n", start) >= 0:
                    self.hand_off()  # bare LF line ends: uvicorn's parser answers them
                else:
                    self.scanned = len(buffer)
                return  # the rest of the head is still to come
            self.scanned = 0
            end += 4
            if not self.parse(buffer[:end]):
                return
            del buffer[:end]
            self.check()
            if buffer and not self.busy:  # pipelined: the next head is due from now
                self.set_deadline(self.loop.time() + self.header_timeout, head=True)
        if not buffer and not self.busy and not self.closing:
            # idle between requests: uvicorn's keep-alive timeout
            self.set_deadline(self.loop.time() + self.keep_alive_timeout, head=False)
        if self.read_paused and len(buffer) <= self.max_header_bytes and not self.closing:
            self.read_paused = False
            self.transport.resume_reading()

    def one(self, head: bytes) -> None:
        """Exactly one whole head arrived on an idle connection."""
        if head[0] in b"\r\n":
            self.buffer += head
            self.hand_off()
            return
        if not self.parse(head):
            return  # refused, or handed on
        self.check()
        if not self.busy and not self.closing:
            self.set_deadline(self.loop.time() + self.keep_alive_timeout, head=False)

    def parse(self, head: bytes | bytearray) -> bool:
        """Parse one head; True if it is a check to answer (self.path etc. set). Otherwise it
        has been refused, or handed on with the buffer (which must still hold it)."""
        self.url = b""
        self.headers = []
        self.host = None
        self.complete = False
        # the version as the request line ends (`HTTP/1.1` CRLF, llhttp checks the form):
        # httptools' get_http_version formats a new str per request
        lf = head.find(b"\n")
        self.version = bytes(head[lf - 4 : lf - 1]) if lf > 8 and head[lf - 1] == 13 else b""
        try:
            self.parser.feed_data(head)
        except httptools.HttpParserUpgrade:
            self.keep(head)
            self.hand_off()  # Upgrade or CONNECT: uvicorn answers it as it always did
            return False
        except httptools.HttpParserError:
            self.refuse(400, b"invalid request\n")
            return False
        if not self.complete:  # a body follows (a Content-Length or chunked)
            self.keep(head)
            self.hand_off()
            return False
        # RFC 9112 §3.2: a 400 for an HTTP/1.1 request without Host, with more than one, or
        # with an invalid one; a proxy sends the same Host on every check of a connection, so
        # one comparison with the last one found valid is all the usual check pays
        host = self.host
        if host != self.valid_host:
            if host is None:
                invalid = self.http_version == "1.1"  # HTTP/1.0 has no Host to send
            else:
                invalid = invalid_host(host)
                self.valid_host = _NO_HOST if invalid else host
            if invalid:
                log.info("refusing a request with a missing, repeated or invalid Host (400)")
                self.refuse(400, b"invalid request\n")
                return False
        url = self.url
        if url[:1] == b"/" and b"#" not in url:
            raw_path, _, query = url.partition(b"?")
        else:  # absolute form (RFC 9112 §3.2.2) or odd: uvicorn's reading of it
            parsed = target_refusal(url)
            if parsed is None:
                self.refuse(400, b"invalid request\n")
                return False
            raw_path, query = parsed.path or b"", parsed.query or b""
        path = raw_path.decode("ascii", "replace")
        if "%" in path:
            path = unquote(path)
        if not self.app.is_check(path):
            self.keep(head)
            self.hand_off()
            return False
        self.path, self.raw_path, self.query = path, raw_path, query
        return True

    def keep(self, head: bytes | bytearray) -> None:
        """Before a hand-off: the head must be in the buffer (it is, unless parsed in place)."""
        if not self.buffer:
            self.buffer += head

    def check(self) -> None:
        """Run the app on the check request just parsed; answer now if it needs no waiting."""
        path, raw_path, query = self.path, self.raw_path, self.query
        method = self.method
        keep_alive = self.keep_alive and not self.closing
        scope = {
            "type": "http", "asgi": _ASGI, "http_version": self.http_version,
            "server": self.server, "client": self.client, "scheme": self.scheme, "method": method,
            "root_path": self.root_path, "path": self.root_path + path,
            "raw_path": self.raw_root + raw_path if self.raw_root else raw_path, "query_string": query,
            "headers": self.headers, "state": self.app_state.copy(),
        }  # fmt: skip
        answer = _Answer(self, method == "HEAD", keep_alive)
        context = contextvars.copy_context()  # the request's log context stays its own
        # AuthsvcApp.check_now answers every error itself (as a response, or an awaitable of one)
        got = context.run(self.app.check_now, scope, _receive_nothing)
        if isinstance(got, Response):
            answer.done(got)  # everything was in memory: answered in this callback, no task
            return
        # the check must wait (the store, a refresh, a token to verify): a task, asyncio.timeout
        # and anyio need one; later pipelined requests wait their turn
        task = self.loop.create_task(_awaited(got), context=context)
        self.busy = True
        self.deadline = _INF  # the app is working: no head is due
        self.server_state.tasks.add(task)  # type: ignore[arg-type]  # uvicorn types its set Task[None]
        task.add_done_callback(lambda t: self.after_task(t, answer))

    def after_task(self, task: asyncio.Task[Response], answer: _Answer) -> None:
        self.server_state.tasks.discard(task)
        self.busy = False
        if task.cancelled() or task.exception() is not None:
            if not task.cancelled():  # AuthsvcApp.check_now answers every error itself: never seen
                log.error("check failed", exc_info=task.exception())
            answer.fail()
            return
        answer.done(task.result())
        if self.closing and not self.transport.is_closing():
            self.flush()
            self.transport.close()  # shut down while it was working
            return
        if not self.handed_off and not self.closing:
            if self.buffer:
                self.set_deadline(self.loop.time() + self.header_timeout, head=True)
            self.process()

    def write(self, data: bytes, keep_alive: bool) -> None:
        self.server_state.total_requests += 1
        transport = self.transport
        if transport.is_closing():
            return
        if keep_alive:
            if not self.pending:
                self.loop.call_soon(self.flush)
            self.pending.append(data)
            return
        # the last answer of this connection: after the held ones, then close
        self.flush()
        transport.write(data)
        self.closing = True
        if self.buffer:
            self.linger_close()  # the client sent more: do not reset the answer away
        else:
            transport.close()

    def flush(self) -> None:
        """Write the answers `write` held back, in order (before anything else is written)."""
        if self.pending:
            data = b"".join(self.pending) if len(self.pending) > 1 else self.pending[0]
            self.pending.clear()
            if not self.transport.is_closing():
                self.transport.write(data)

    # --- handing on, refusing, timing out ------------------------------------------------------
    def hand_off(self) -> None:
        """Give the connection to uvicorn's protocol, with the unanswered bytes."""
        self.flush()  # the answers so far go first
        self.handed_off = self.closing = True
        self.cancel_timer()
        self.server_state.connections.discard(self)  # type: ignore[arg-type,unused-ignore]
        transport = self.transport
        data = bytes(self.buffer)
        self.buffer.clear()
        if transport.is_closing():
            return
        protocol = LimitedHttpToolsProtocol(
            self.config, self.server_state, self.app_state, self.loop,
            max_header_bytes=self.max_header_bytes, header_timeout=self.header_timeout,
        )  # fmt: skip
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if self.read_paused:
            transport.resume_reading()
        if data:
            protocol.data_received(data)
        if self.write_paused:
            protocol.pause_writing()

    def refuse(self, status: int, body: bytes) -> None:
        """Answer `status` (0: nothing), parse no more, close lingering (protocol.py)."""
        self.flush()
        self.closing = True
        self.cancel_timer()
        if status:
            self.server_state.total_requests += 1
            self.transport.write(b"".join([
                STATUS_LINE[status], *(n + b": " + v + b"\r\n" for n, v in self.server_state.default_headers),
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: ", str(len(body)).encode(), b"\r\n", _CLOSE, b"\r\n", body,
            ]))  # fmt: skip
            self.linger_close()
        else:
            self.transport.close()

    def linger_close(self) -> None:
        """FIN, drop what the client still sends for up to LINGER seconds, close."""
        self.flush()
        self.closing = True
        self.buffer.clear()
        transport = self.transport
        if transport.is_closing():
            return
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        if self.read_paused:
            self.read_paused = False
            transport.resume_reading()
        self.loop.call_later(LINGER, transport.close)

    def set_deadline(self, when: float, head: bool) -> None:
        # one timer per connection, moved only when the deadline comes earlier than it: most
        # requests just change a float (a new TimerHandle per request is measurable)
        self.deadline = when
        self.head_deadline = head
        if when < self.timer_at:
            self.cancel_timer()
            self.timer = self.loop.call_at(when, self.timer_fired)
            self.timer_at = when

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.timer_at = _INF

    def timer_fired(self) -> None:
        self.timer = None
        self.timer_at = _INF
        if self.closing or self.busy:
            return
        now = self.loop.time()
        if now < self.deadline:
            self.set_deadline(self.deadline, self.head_deadline)
            return
        if self.head_deadline and self.buffer:
            log.info("closing a connection whose request head took over %.0fs", self.header_timeout)
            self.refuse(408, b"request header timeout\n")
        else:
            self.refuse(0, b"")  # idle, or nothing was asked: nothing to answer

    # --- httptools callbacks ---------------------------------------------------------------------
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"host":  # the one comparison per header: Host is checked in `parse`
            self.host = value if self.host is None else _TWO_HOSTS
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        # read here: llhttp resets its flags once the message is complete
        parser = self.parser
        method = parser.get_method()
        self.method = _METHODS.get(method) or method.decode("ascii")
        version = _VERSIONS.get(self.version)
        if version is None:
            version = parser.get_http_version()
            if version not in ("1.1", "1.0"):  # llhttp reads 0.9 (no version) and 2.0 too
                raise _Refused(version)
        self.http_version = version
        self.keep_alive = parser.should_keep_alive()

    def on_message_complete(self) -> None:
        self.complete = True


async def _awaited(pending: Awaitable[Response]) -> Response:
    return await pending


async def _receive_nothing() -> dict[str, Any]:
    """Every check's `receive`: a check has no body (a head with one is handed to uvicorn), and
    it never reads one; a reader gets the empty body, each time (no per-request closure). Never
    `http.disconnect`: nothing on the check path may wait for one (a loop awaiting it would
    spin), and nothing does (the check is answered without reading or streaming)."""
    return _REQUEST


class _Answer:
    """How one check's answer (a Starlette Response, not sent as ASGI messages) is written."""

    __slots__ = ("head", "keep_alive", "protocol")

    def __init__(self, protocol: CheckProtocol, head: bool, keep_alive: bool) -> None:
        self.protocol = protocol
        self.head = head
        self.keep_alive = keep_alive

    def done(self, response: Response) -> None:
        body = getattr(response, "body", None)
        if not isinstance(body, bytes) or response.background is not None:
            log.error("a check's answer was not a plain response; answered 500")  # never today
            self.fail()
            return
        raw = response.raw_headers
        # a Prepared answer's first headers come encoded and checked (web/responses.py)
        start, head = (response.count, response.head) if isinstance(response, Prepared) else (0, b"")
        try:
            # a CR or LF inside a name or value would start a header of its own (response
            # splitting): one count each instead of uvicorn's regex per header
            block = encode_head(raw[start:] if start else raw)
        except ValueError:
            log.error("a check's answer had a header with a line break or NUL; answered 500")
            self.fail()
            return
        protocol = self.protocol
        default = protocol.server_state.default_headers
        if default is not protocol.default_source:  # uvicorn renews the list (its Date) each second
            protocol.default_source = default
            protocol.default_block = b"".join(n + b": " + v + b"\r\n" for n, v in default)
        out = [STATUS_LINE[response.status_code], protocol.default_block, head, block]
        if not self.keep_alive:
            out.append(_CLOSE)
        out.append(b"\r\n")
        if not self.head:
            out.append(body)
        protocol.write(b"".join(out), self.keep_alive)

    def fail(self) -> None:
        body = b"internal error\n"
        self.protocol.write(b"".join([
            STATUS_LINE[500], b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: ", str(len(body)).encode(), b"\r\n", _CLOSE, b"\r\n",
            b"" if self.head else body,
        ]), keep_alive=False)  # fmt: skip
