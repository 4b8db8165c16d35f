"""A cap on request bodies, for every endpoint at once: `receive` counts what the app reads.

Starlette reads a form or a body whole (`request.form()` of a 128 MB urlencoded body took 25 s
and its size in memory). Rather than trusting each endpoint to remember a limit, the app hands
every route a `receive` that refuses a body declared (Content-Length) or found to be larger than
`max_request_body_bytes`: BodyTooLarge, a 413 (RFC 9110 §15.5.14), and one that has not arrived
whole `request_body_timeout` after the app began to read it: BodyTimeout, a 408 (§15.5.9), like
nginx's client_body_timeout. Both close the connection, so the rest is never read. An endpoint
that does not read its body is not affected.
"""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive, Scope

from ..errors import BodyTimeout, BodyTooLarge


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length (the HTTP parser has already refused malformed ones)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def capped_receive(scope: Scope, receive: Receive, limit: int, timeout: float) -> Receive:
    """`receive`, raising BodyTooLarge once the body is known to exceed `limit` bytes, and
    BodyTimeout when it is not complete `timeout` seconds after the first read."""
    declared = declared_length(scope)
    received = 0
    deadline: float | None = None
    complete = False

    async def receive_capped() -> Message:
        nonlocal received, deadline, complete
        if complete:  # after the body: only the disconnect is left to wait for, untimed
            return await receive()
        # before the first read: an Expect: 100-continue client is then never told to send
        if declared is not None and declared > limit:
            raise BodyTooLarge(f"request body of {declared} bytes declared; at most {limit} are read")
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            raise BodyTimeout(f"request body incomplete after {timeout:g}s ({received} bytes)") from None
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(f"request body over {limit} bytes")
            complete = not message.get("more_body", False)
        return message

    return receive_capped
