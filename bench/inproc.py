"""The check's cost without sockets: web/lean.py's CheckProtocol fed request heads from memory.

`python -m bench.inproc [--scenario cookie|401|ceiling|cookie-uvicorn] [--checks N] [--runs R] [--profile]`

A repeatable A/B measure on a shared machine (issue 17): the same app as `python -m bench`'s
row 2 (cookie store, the bench's session and nginx's headers), `--connections` protocols on fake
transports, N checks per run (each head on its own read, as nginx's keep-alive subrequests
arrive), the median of R runs in µs per check. `--profile` prints cProfile's top
functions of one run instead. Nothing listens; the event loop is uvloop's, as under `serve`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import pstats
import statistics
import sys
import time
from typing import Any

from bench.run import PROXY_HEADERS, base_options, make_session
from tests.support.memory_transport import MemoryTransport


def head(headers: dict[str, str]) -> bytes:
    """One request head as nginx's auth subrequest sends it."""
    lines = ["GET /oauth2/auth HTTP/1.1", "Host: app.example.com",
             *(f"{k}: {v}" for k, v in headers.items()), "", ""]  # fmt: skip
    return "\r\n".join(lines).encode()


def build(scenario: str, connections: int) -> tuple[list[Any], bytes, int]:
    """(connected protocols, the head to feed, the status every answer must have): authsvc's
    CheckProtocols, or for `ceiling` uvicorn's own protocol on bench.ceiling's bare Starlette
    202 (`python -m bench`'s row 1), fed the cookie scenario's very head."""
    import functools
    import secrets

    import uvicorn
    from uvicorn.server import ServerState

    from authsvc.config import load_settings
    from authsvc.context import Context
    from authsvc.web.app import create_app
    from authsvc.web.lean import CheckProtocol

    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    options = base_options(secret, "https://idp.invalid")
    settings = load_settings(**options)
    context = Context.build(settings)
    app = create_app(context)
    headers = dict(PROXY_HEADERS)
    status = 401
    if scenario in ("cookie", "ceiling", "cookie-uvicorn"):
        session = make_session(0, int(time.time()))
        value = asyncio.get_event_loop().run_until_complete(context.store.save(session))
        headers["Cookie"] = f"{settings.cookie_name}={value}"
        status = 202
    else:
        headers["Accept"] = "application/json"
    config = uvicorn.Config(app, log_config=None, lifespan="off", server_header=False)
    config.load()
    state = ServerState()
    make: Any = functools.partial(CheckProtocol, max_header_bytes=8192, header_timeout=10.0)
    if scenario == "ceiling":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        from bench.ceiling import app as bare

        config = uvicorn.Config(bare(), log_config=None, lifespan="off", server_header=False)
        config.load()
        make = HttpToolsProtocol
    elif scenario == "cookie-uvicorn":  # row 2u: the same app, every request on uvicorn's protocol
        from authsvc.web.protocol import LimitedHttpToolsProtocol

        make = functools.partial(LimitedHttpToolsProtocol, max_header_bytes=8192, header_timeout=10.0)
    protocols = []
    for _ in range(connections):
        protocol = make(config, state, {}, asyncio.get_event_loop())
        protocol.connection_made(MemoryTransport())
        protocols.append(protocol)
    return protocols, head(headers), status


async def run_checks(protocols: list[Any], data: bytes, count: int) -> float:
    """Feed `count` heads, one per read on each connection in turn (as under wrk -c32 or
    nginx's keep-alive pool: one loop iteration serves many), letting the loop run until every
    connection has answered; seconds taken."""
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    done = 0
    while done < count:
        batch = protocols[: count - done]
        for protocol in batch:
            protocol.data_received(data)
        while any(not p.transport.out for p in batch) or asyncio.all_tasks(loop) - {current}:
            await asyncio.sleep(0)
        for protocol in batch:
            answers = protocol.transport.out.count(b"HTTP/1.1 ")
            if answers != 1:  # uvicorn writes a head and a body apart: count status lines
                raise RuntimeError(f"{answers} answers to one request")
            protocol.transport.out.clear()
        done += len(batch)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inproc")
    parser.add_argument("--scenario", default="cookie",
                        choices=["cookie", "401", "ceiling", "cookie-uvicorn"])
    parser.add_argument("--checks", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--callgrind", action="store_true",
                        help="one run inside sorted(): valgrind --tool=callgrind --collect-atstart=no "
                        "--toggle-collect=builtin_sorted counts only its instructions")
    args = parser.parse_args(argv)
    import uvloop

    asyncio.set_event_loop(uvloop.new_event_loop())
    loop = asyncio.get_event_loop()
    protocols, data, status = build(args.scenario, args.connections)
    # one answer first: the scenario must answer what it claims
    protocols[0].data_received(data)
    loop.run_until_complete(asyncio.sleep(0.01))
    first = bytes(protocols[0].transport.out)
    protocols[0].transport.out.clear()
    if not first.startswith(b"HTTP/1.1 %d" % status):
        print(f"unexpected answer: {first[:300]!r}", file=sys.stderr)
        return 1
    loop.run_until_complete(run_checks(protocols, data, 300 if args.callgrind else 2000))  # warm the caches
    if args.callgrind:
        sorted([0], key=lambda _: loop.run_until_complete(run_checks(protocols, data, args.checks)))
        print(f"{args.scenario}: {args.checks} checks counted")
        return 0
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        loop.run_until_complete(run_checks(protocols, data, args.checks))
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        return 0
    times = [loop.run_until_complete(run_checks(protocols, data, args.checks)) / args.checks * 1e6
             for _ in range(args.runs)]  # fmt: skip
    print(f"{args.scenario}: median {statistics.median(times):.2f} us per check "
          f"(runs: {', '.join(f'{t:.2f}' for t in times)})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
