"""Send one raw exchange to an HTTP/1.1 server and say how it read it (for the smuggling corpus).

The verdict is what a client on the wire sees: the statuses answered, in order (interim 1xx
left out), whether the server closed, and any bytes that were no HTTP/1 response (an HTTP/0.9
answer, an HTTP/2 frame). `answered` counts the answers before the first refusal: the number
of requests the server read out of the bytes, which is what must agree between servers.
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass

from .processes import HOST

#: a server that has not closed this long after its last byte is waiting for more (a body)
IDLE = 3.0
#: statuses that answer a request (a proxy's or authsvc's own); any other 4xx/5xx refuses it
ANSWERS = frozenset({200, 202, 204, 301, 302, 303, 307, 308, 401, 403, 404})


@dataclass(frozen=True)
class Verdict:
    statuses: tuple[int, ...]
    closed: bool
    #: bytes left that were no HTTP/1 response
    other: bytes = b""

    @property
    def answered(self) -> int:
        """Requests answered before the first refusal."""
        n = 0
        for status in self.statuses:
            if status not in ANSWERS:
                break
            n += 1
        return n

    @property
    def refused(self) -> bool:
        """A refusal status was sent (4xx other than 401/403/404, or 5xx)."""
        return any(s not in ANSWERS for s in self.statuses)

    def __str__(self) -> str:
        text = f"{self.answered}"
        refusal = next((s for s in self.statuses if s not in ANSWERS), None)
        if refusal is not None:
            text += f"+{refusal}"
        if self.other:
            text += f"+other({self.other[:12]!r})"
        if not self.closed:
            text += "+waits"
        return text


def exchange(port: int, data: bytes, *, head_first: bool = False) -> Verdict:
    """Send `data` on a new connection; read until the server closes or goes quiet."""
    out = b""
    closed = False
    with socket.create_connection((HOST, port), timeout=10) as sock:
        with contextlib.suppress(OSError):  # a server may stop reading once it has refused
            sock.sendall(data)
        sock.settimeout(IDLE)
        deadline = time.monotonic() + 15
        try:
            while time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                    break
                out += chunk
        except TimeoutError:
            pass
        except OSError:  # reset: closed, whatever it sent before is in `out`
            closed = True
    statuses, other = parse_responses(out, head_first=head_first)
    return Verdict(tuple(statuses), closed, other)


def parse_responses(data: bytes, *, head_first: bool = False) -> tuple[list[int], bytes]:
    """The final statuses in `data` (Content-Length or chunked bodies, or to the end), and what
    is left that is no HTTP/1 response. `head_first`: the first answer is a HEAD's (no body)."""
    statuses: list[int] = []
    while data.startswith(b"HTTP/1."):
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return statuses, data
        lines = data[:end].split(b"\r\n")
        status = int(lines[0].split()[1])
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip().lower()
        data = data[end + 4 :]
        if 100 <= status < 200:
            continue
        statuses.append(status)
        if (head_first and len(statuses) == 1) or status in (204, 304):
            continue
        if b"content-length" in fields:
            data = data[int(fields[b"content-length"]) :]
        elif fields.get(b"transfer-encoding") == b"chunked":
            while True:
                size_end = data.find(b"\r\n")
                if size_end < 0:
                    return statuses, b""
                size = int(data[:size_end].split(b";")[0], 16)
                data = data[size_end + 2 + size + 2 :]
                if size == 0:
                    break
        else:
            data = b""  # to the close
    return statuses, data
