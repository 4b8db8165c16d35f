"""uvicorn's httptools protocol with a cap on the request head and a deadline for sending it.

uvicorn bounds neither with httptools: it buffers a header line until it ends (a 32 MB line cost
~60 MB of RSS, and its chunks are joined in quadratic time), and it waits forever for the rest
of a half-sent head. So, per connection:

- the request line and headers of one request may take at most `max_header_bytes`: bytes are
  fed to the parser no further than the cap, and a head still open there gets 431 (RFC 6585 §5)
  without one more byte being parsed;
- a head must be complete `header_timeout` seconds after the connection opened, or after the
  first byte of a later request on it; else 408 (RFC 9110 §15.5.9, only if the client sent
  something) and the connection is closed. Like nginx's client_header_timeout, this is what
  cuts off a client that sends half a header and waits.

A connection closed while its client is still sending (a refused head, or the app's 413 for a
body it will not read, bodies.py) is closed the way nginx does it, a "lingering close": the
answer, then our FIN, then whatever the client still sends is read and dropped for at most
`LINGER` seconds. Closing at once with unread bytes in the socket makes the kernel send a reset,
which can destroy the answer before the client reads it.

Once a request's head is complete nothing changes: keep-alive, pipelining and bodies are
uvicorn's, except that a body the app answered without reading may take no longer than a head
to finish arriving (uvicorn discards it, and each chunk postponed its keep-alive timeout).

A complete head that llhttp accepts and RFC 9112 refuses gets 400 and a closed connection
(web/lean.py applies the same rules to the checks it answers): an HTTP/1.1 request without
Host, with two, or with an invalid one (§3.2); an HTTP/1.0 request with Transfer-Encoding
(§6.1: its framing is faulty); a request line of HTTP/0.9 or 2.0; a target that is neither the
origin form nor the absolute form of an http(s) URI (`*`, `oauth2/auth`, userinfo: §3.2,
RFC 9110 §4.2.4). A request with Upgrade is answered as plain HTTP (no websockets here) and
then the connection is closed: llhttp reads nothing after an upgrade request, so whatever the
client sent next was dropped unanswered, and the connection hung (nginx and Envoy read it as
the next request; closing reads no request at all). docs/security.md, "Request smuggling".
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.protocols.utils import get_local_addr

log = logging.getLogger("authsvc.protocol")

#: the bytes a Host value may hold: host [":" port] of RFC 9110 §7.2, RFC 3986 §3.2.2 (a
#: reg-name's unreserved, sub-delims and pct-encoded, an IP literal's brackets); no space, "/",
#: "@" (userinfo), control or non-ASCII byte, and a value of none of these is empty
HOST_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=%:[]"
#: the request line's versions served (llhttp also reads 0.9, and 2.0 as if it were 1.1)
_HTTP_VERSIONS = frozenset({"1.1", "1.0"})


def invalid_host(value: bytes) -> bool:
    """Whether a Host value is no host [":" port] (HOST_CHARS; llhttp keeps trailing OWS)."""
    host = value.rstrip(b" \t")
    return not host or bool(host.translate(None, HOST_CHARS))


def server_address(transport: asyncio.BaseTransport) -> tuple[str, int | None] | None:
    """The ASGI scope's `server`: uvicorn's local address, except a unix socket's (path, None),
    which names no host: Starlette built `http:///<socket path>:None/...` from it for a request
    without Host (the IdP-down page's retry link showed it)."""
    server = get_local_addr(transport)  # type: ignore[arg-type]
    return server if server is None or server[1] is not None else None


def target_refusal(url: bytes) -> Any:
    """`url` (a request target that is not a plain "/path?query") parsed, or None when it must
    be refused: RFC 9112 §3.2 allows the origin form (from "/") and, for http(s), the absolute
    form (§3.2.2, without userinfo: RFC 9110 §4.2.4); `*` is OPTIONS' alone and serves nothing
    here, the authority form is CONNECT's (refused by llhttp already)."""
    try:
        parsed = httptools.parse_url(url)
    except httptools.HttpParserInvalidURLError:
        return None
    if parsed.schema is None:
        return parsed if url[:1] == b"/" else None  # "*", "oauth2/auth"
    if parsed.schema.lower() not in (b"http", b"https") or parsed.userinfo or not parsed.host:
        return None
    return parsed


def head_refusal(http_version: str, url: bytes, headers: list[tuple[bytes, bytes]]) -> str:
    """Why a complete head llhttp accepted must be refused ("" if it need not be), see above."""
    if http_version not in _HTTP_VERSIONS:
        return f"HTTP/{http_version}"
    if (url[:1] != b"/" or b"#" in url) and target_refusal(url) is None:
        return "request target"
    hosts = [value for name, value in headers if name == b"host"]
    if len(hosts) > 1 or (not hosts and http_version == "1.1"):
        return "missing or repeated Host"
    if hosts and invalid_host(hosts[0]):
        return "invalid Host"
    if http_version == "1.0" and any(name == b"transfer-encoding" for name, _ in headers):
        return "Transfer-Encoding on HTTP/1.0"
    return ""


#: how long a refused connection goes on draining the client's bytes before it is closed
LINGER = 5.0
#: requests that carry no body in practice: their responses need no lingering close
_BODILESS = frozenset({"GET", "HEAD"})


class _Refused(Exception):
    """Raised in a parser callback: httptools stops and raises HttpParserCallbackError."""


class _LingeringClose:
    """A transport for one request's response cycle: close() lingers while its body is unread.

    Only requests that may carry a body get one (bodiless GETs, the checks, use the transport
    itself): the app's 413 or 408 closes the connection with the rest of the body still coming.
    """

    def __init__(self, transport: asyncio.Transport, protocol: LimitedHttpToolsProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    def close(self) -> None:
        if self._protocol.mid_request:
            self._protocol.linger_close()
        else:
            self._transport.close()

    def is_closing(self) -> bool:
        return self._protocol.lingering or self._transport.is_closing()

    def write(self, data: bytes) -> None:
        if not self._protocol.lingering:  # nothing goes out after our FIN
            self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol, with the head of every request bounded in size and time."""

    def __init__(
        self,
        *args: Any,
        max_header_bytes: int,
        header_timeout: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._max_header_bytes = max_header_bytes
        self._header_timeout = header_timeout
        #: bytes the current head may still take; None while no head is being read
        self._header_room: int | None = max_header_bytes
        self._header_timer: asyncio.TimerHandle | None = None
        #: when the head being read must be complete (loop time)
        self._head_deadline = 0.0
        #: a request has begun whose head is not complete yet
        self._head_started = False
        #: a request has begun that has not been read to its end
        self.mid_request = False
        #: requests begun on this connection
        self._messages = 0
        #: closing: everything the client sends from now on is dropped unread
        self.draining = False
        #: our FIN is sent: nothing more goes out
        self.lingering = False

    # --- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.server = server_address(transport)
        self._head_deadline = self.loop.time() + self._header_timeout
        self._arm_header_timer()  # a connection that never sends a byte is cut too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.draining:
            return
        # Feed no more than the head may still take. When the head ends inside a piece, the
        # rest goes on through the loop (a body, or the next pipelined request).
        while self._header_room is not None and len(data) > self._header_room:
            room = self._header_room
            if room:
                piece, data = data[:room], data[room:]
                self._header_room = 0
                super().data_received(piece)
                if self.draining or self.transport.is_closing():
                    return
            if self._header_room == 0:  # the head is still open at the cap
                log.info("refusing a request head of over %d bytes (431)", self._max_header_bytes)
                self._refuse_head(431, b"request header fields too large\n")
                return
        if self._header_room is not None:
            self._header_room -= len(data)
        if data:
            super().data_received(data)
        # armed only for a head still open after this read: most arrive in one piece
        if self._head_started and self._header_timer is None and not self.draining:
            self._arm_header_timer()

    # --- httptools callbacks -----------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_started = True
        self.mid_request = True
        self._messages += 1
        if self._header_room is None:  # pipelined after a body: count from here
            self._header_room = self._max_header_bytes
        if self._header_timer is None:  # not the first request: its deadline runs from now
            self._head_deadline = self.loop.time() + self._header_timeout

    def on_headers_complete(self) -> None:
        self._header_room = None
        self._head_started = False
        self._disarm_header_timer()
        reason = head_refusal(self.parser.get_http_version(), self.url, self.headers)
        if reason:
            log.info("refusing a request head (400): %s", reason)
            self._refuse_head(400, b"invalid request\n")
            raise _Refused(reason)  # stops llhttp; send_400_response then sends nothing more
        super().on_headers_complete()
        if self.cycle is None:
            return
        if self.parser.should_upgrade():
            # answered as plain HTTP (ws = "none"), then closed: llhttp parses nothing after
            # an upgrade request, so what follows would be dropped unanswered (see above)
            self.cycle.keep_alive = False
        if self.scope["method"] not in _BODILESS:
            self.cycle.transport = cast(asyncio.Transport, _LingeringClose(self.transport, self))

    def send_400_response(self, msg: str) -> None:
        """llhttp refused a head or body. A head is refused as any head here: uvicorn's answer
        closed the connection at once, cutting off the answer to a pipelined request before it;
        a bad body (a bad chunk) is the request's own, and uvicorn's 400 answers it."""
        if self.draining:  # refused by on_headers_complete, which answered already
            return
        if self._head_started:
            self._refuse_head(400, msg.encode("ascii") + b"\n")
        else:
            super().send_400_response(msg)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.mid_request = False
        self._header_room = self._max_header_bytes  # whatever follows is the next request's head

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.mid_request and not self.lingering:
            # answered before its body was read (a route that reads none): uvicorn discards the
            # rest, and each chunk postpones its keep-alive timeout, so a trickle held the
            # connection for ever. The rest gets as long as a head would, then the door closes.
            message = self._messages
            self.loop.call_later(self._header_timeout, self._unread_body_timed_out, message)

    def _unread_body_timed_out(self, message: int) -> None:
        if self.mid_request and message == self._messages and not self.transport.is_closing():
            log.info("closing a connection whose unread request body took over %.0fs", self._header_timeout)
            self.linger_close()

    # --- the limits ----------------------------------------------------------------------------
    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_at(self._head_deadline, self._header_timed_out)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        log.info("closing a connection whose request head took over %.0fs", self._header_timeout)
        if self._head_started:
            self._refuse_head(408, b"request header timeout\n")
        else:
            self._refuse_head(0, b"")  # nothing was asked: nothing to answer

    def _refuse_head(self, status: int, body: bytes) -> None:
        """Answer `status` (0: no answer), stop parsing and close (lingering, if asked)."""
        self._disarm_header_timer()
        self.draining = True
        if self.cycle is not None and not self.cycle.response_complete:
            # an earlier pipelined request is still being answered: it may finish, then the
            # connection closes; an answer written now would land inside its response
            self.cycle.keep_alive = False
            self.flow.pause_reading()
            return
        if status:
            head = [STATUS_LINE[status]]
            head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
            head += [
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: " + str(len(body)).encode() + b"\r\n",
                b"connection: close\r\n\r\n",
                body,
            ]
            self.transport.write(b"".join(head))
        if status and self.mid_request:
            self.linger_close()
        else:
            self.transport.close()

    def linger_close(self) -> None:
        """Close while the client may still be sending: FIN, drain for up to LINGER, close."""
        transport = self.transport
        if self.lingering or transport.is_closing():
            return
        self.draining = self.lingering = True
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        transport.resume_reading()  # drain, even if uvicorn's flow control had paused reading
        self.loop.call_later(LINGER, transport.close)
