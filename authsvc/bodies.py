"""A cap on request bodies, for every endpoint at once: `receive` counts what the app reads.

Starlette reads a form or a body whole (`request.form()` of a 128 MB urlencoded body took 25 s
and its size in memory). Rather than trusting each endpoint to remember a limit, the app hands
every route a `receive` that refuses a body declared (Content-Length) or found to be larger than
`max_request_body_bytes`: BodyTooLarge, a 413 (RFC 9110 §15.5.14) with `Connection: close`, so
the rest of the body is never read. An endpoint that does not read its body is not affected.
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope

from .errors import AuthsvcError


class BodyTooLarge(AuthsvcError):
    """A request body over `max_request_body_bytes`."""

    status = 413
    public = "request body too large"


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length (the HTTP parser has already refused malformed ones)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def capped_receive(scope: Scope, receive: Receive, limit: int) -> Receive:
    """`receive`, raising BodyTooLarge once the body is known to exceed `limit` bytes."""
    declared = declared_length(scope)
    received = 0

    async def receive_capped() -> Message:
        nonlocal received
        # before the first read: an Expect: 100-continue client is then never told to send
        if declared is not None and declared > limit:
            raise BodyTooLarge(f"request body of {declared} bytes declared; at most {limit} are read")
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(f"request body over {limit} bytes")
        return message

    return receive_capped
