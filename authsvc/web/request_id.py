"""X-Request-ID: one id per request, echoed on its response, shown on its pages, in its logs.

The header's name is `request_id_header` (oauth2-proxy's option; X-Request-ID by default),
lower-cased once into the request's log context (web/logs.py), read and echoed under it.

A proxy's id is taken only from a trusted peer (`trusted_proxy_ips`) and only when it is plain
and short: it is written into every log line and every page of the request, so a client must
not choose it. Otherwise one is made here. `/oauth2/auth` makes one for every check, so making
one must cost next to nothing: a random per-process prefix and a counter (no syscall, no uuid),
32 hex digits like nginx's `$request_id`.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
from typing import Protocol

from starlette.types import Message, Send

#: the default name (request_id_header), lower-cased as ASGI headers are
HEADER = b"x-request-id"
#: what a proxy's id may look like (it ends up in log lines and pages): nginx's `$request_id`,
#: UUIDs, Envoy's and Traefik's ids all fit
PLAIN = re.compile(rb"[A-Za-z0-9._:/+=\-]{1,128}")


class _Ids:
    """24 random hex digits per process, then 8 of a counter: unique across workers and replicas."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = secrets.token_hex(12)
        self.counter = itertools.count(1)

    def new(self) -> str:
        return self.prefix + "%08x" % (next(self.counter) & 0xFFFFFFFF)


_ids = _Ids()
# a forked worker must not repeat its parent's ids
os.register_at_fork(after_in_child=_ids.reset)


def new_request_id() -> str:
    """A fresh id (32 lower-case hex digits)."""
    return _ids.new()


def request_id(headers: list[tuple[bytes, bytes]], trusted: bool, header: bytes = HEADER) -> str:
    """The trusted proxy's plain id (in `header`, lower-case), else a fresh id."""
    if trusted:
        for name, value in headers:
            if name == header:
                if PLAIN.fullmatch(value):
                    return value.decode("ascii")
                break
    return _ids.new()


class _HasId(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def header(self) -> bytes: ...


def echo_request_id(send: Send, ctx: _HasId) -> Send:
    """`send`, with `ctx.header: ctx.id` (made on first use) added to the response's headers."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), (ctx.header, ctx.id.encode())]}
        await send(message)

    return sending
