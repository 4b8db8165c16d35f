"""A fixed-rate (open-loop) HTTP/1.1 load generator: `python -m bench.fixed_rate URL --rate 2000`.

wrk keeps N connections busy (closed loop), so a slow response delays the next request and the
slow period is under-sampled ("coordinated omission"). Here request i is *due* at
`start + i / rate` whatever happens. A request that finds every connection busy waits in a
queue and its latency is measured from its due time, so queueing behind a slow response counts;
one sent at once is measured from the moment it is written (the event loop's timers have 1 ms
granularity, and that lateness is the generator's, not the server's). wrk2 (`wrk -R`) does the
same but is not in Debian.

Raw asyncio protocols on keep-alive connections (uvloop when installed): the generator costs
a few percent of a core at 2,000 req/s. Prints one JSON line: percentiles in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import time
from typing import cast
from urllib.parse import urlsplit

_HEAD_END = b"\r\n\r\n"


class Connection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.due = 0.0
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, since: float) -> None:
        """Write the request; its latency counts from `since`."""
        assert self.transport is not None
        self.due = since
        self.transport.write(self.gen.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(_HEAD_END)
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        length = 0
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : line_end if line_end >= 0 else None].strip())
        total = end + 4 + length
        if len(self.buf) < total:
            return
        status = int(head[9:12])
        del self.buf[:total]
        self.gen.done(self, status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.gen.failed(self)


class Generator:
    """Schedules requests at a fixed rate over a pool of connections."""

    def __init__(self, url: str, headers: list[str], rate: float, connections: int) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", *headers, "", ""]
        self.request = "\r\n".join(lines).encode("latin-1")
        self.rate = rate
        self.connections = connections
        self.idle: collections.deque[Connection] = collections.deque()
        self.waiting: collections.deque[float] = collections.deque()
        self.latencies: list[float] = []
        self.statuses: collections.Counter[int] = collections.Counter()
        self.errors = 0

    def done(self, conn: Connection, status: int) -> None:
        self.latencies.append(time.perf_counter() - conn.due)
        self.statuses[status] += 1
        self._next(conn)

    def failed(self, conn: Connection) -> None:
        if conn.due:
            self.errors += 1

    def _next(self, conn: Connection) -> None:
        if self.waiting:
            conn.send(self.waiting.popleft())
        else:
            conn.due = 0.0
            self.idle.append(conn)

    async def run(self, duration: float) -> dict[str, object]:
        loop = asyncio.get_running_loop()
        for _ in range(self.connections):
            _, proto = await loop.create_connection(lambda: Connection(self), self.host, self.port)
            self.idle.append(proto)
        total = int(self.rate * duration)
        start = time.perf_counter()
        sent = 0
        while sent < total:
            now = time.perf_counter()
            due_count = min(total, int((now - start) * self.rate) + 1)
            while sent < due_count:
                due = start + sent / self.rate
                while self.idle and self.idle[0].lost:
                    self.idle.popleft()
                if self.idle:
                    self.idle.popleft().send(time.perf_counter())
                else:
                    self.waiting.append(due)  # latency keeps counting from `due`
                sent += 1
            await asyncio.sleep(max(0.0, start + sent / self.rate - time.perf_counter()))
        deadline = time.perf_counter() + 10.0
        while len(self.latencies) + self.errors < total and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - start
        return self.summary(total, elapsed)

    def summary(self, total: int, elapsed: float) -> dict[str, object]:
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            if not lat:
                return float("nan")
            return round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000, 3)

        return {
            "rate": self.rate,
            "sent": total,
            "completed": len(lat),
            "errors": total - len(lat),  # refused, reset or unanswered by the deadline
            "achieved_rps": round(len(lat) / elapsed, 1) if elapsed else 0.0,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "p50_ms": pct(50),
            "p90_ms": pct(90),
            "p99_ms": pct(99),
            "p999_ms": pct(99.9),
            "max_ms": round(lat[-1] * 1000, 3) if lat else float("nan"),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fixed_rate", description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=2000.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("-H", "--header", action="append", default=[], help="'Name: value'")
    args = parser.parse_args(argv)
    gen = Generator(args.url, args.header, args.rate, args.connections)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        result = asyncio.run(gen.run(args.duration))
    else:
        result = uvloop.run(gen.run(args.duration))
    print("BENCH_JSON " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
