"""The check's sync path (issue 17): answered without a task when everything is in memory, and
byte for byte the answer, log lines and metrics of the path that waits.

web/lean.py asks `AuthsvcApp.check_now`; with the session in the cache it gets the Response at
once and writes it within `data_received`. With the cache emptied the same check loads the
session from the store (an awaitable, run as a task). Over many varied requests and sessions
(seeded, so a failure repeats) both answers must be the same bytes, log the same lines and
count the same outcome.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from authsvc.context import Context
from authsvc.models import Identity, Session, Tokens
from authsvc.web.app import create_app
from authsvc.web.lean import CheckProtocol
from tests.conftest import make_settings
from tests.support.memory_transport import MemoryTransport as Transport

#: a trusted proxy's id: both answers carry the same X-Request-ID, so they compare whole
REQUEST_ID = "0123456789abcdef0123456789abcdef"
CASES = 300


IDENTITIES = [
    Identity(user="ada", email="ada@example.com", groups=("dev", "ops"), preferred_username="ada"),
    Identity(user="bob", email="bob@example.com", groups=("readers",)),
    # odd values: encoded headers (check/headers.py)
    Identity(user="c, d", email="c@example.com", groups=("x,admins", " lead", "ünï"),
             preferred_username="Çé"),
    # the global rules refuse these: 403
    Identity(user="eve", email="eve@other.com", groups=("dev",)),
    Identity(user="mal", email="not-an-email"),
]
URIS = ["/", "/dashboard?tab=1", "/public/x", "/public/%2e%2e/admin", "/a b", "/" + "x" * 300]
QUERIES = ["", "?allowed_groups=dev", "?allowed_groups=ops,readers", "?allowed_emails=ada@example.com",
           "?allowed_groups=", "?allowed_group=dev", "?allowed_email_domains=example.com"]
ACCEPTS = ["", "application/json", "text/html", "*/*"]


class Rig:
    def __init__(self) -> None:
        settings = make_settings(
            email_domains=["example.com"], reverse_proxy=True, trusted_proxy_ips=["127.0.0.1/32"],
            proxy_kind="nginx", skip_auth_routes=["GET=^/public/"], cookie_secure=False, log_requests=True,
        )  # fmt: skip
        self.settings = settings
        self.context = Context.build(settings)
        self.loop = asyncio.new_event_loop()
        config = uvicorn.Config(create_app(self.context), log_config=None, lifespan="off")
        config.load()
        self.protocol = functools.partial(CheckProtocol, config, ServerState(), {}, self.loop,
                                          max_header_bytes=16384, header_timeout=10.0)  # fmt: skip
        now = int(time.time())
        self.cookies = [
            self.loop.run_until_complete(self.context.store.save(
                Session(identity, Tokens(access_token="at"), created_at=now, expires_at=now + 3600,
                        refreshed_at=now)))
            for identity in IDENTITIES
        ]  # fmt: skip

    def answer(self, head: bytes) -> tuple[bytes, bool]:
        """(the bytes written for one head on a new connection, whether answered without a
        task: decided within data_received, written at the end of that loop iteration)."""
        protocol = self.protocol()
        transport = Transport()
        protocol.connection_made(transport)
        protocol.data_received(head)
        no_task = not protocol.busy
        self.loop.run_until_complete(asyncio.sleep(0))  # the rest of this loop iteration
        at_once = no_task and bool(transport.out)
        deadline = time.monotonic() + 5
        while not transport.out:
            assert time.monotonic() < deadline, "no answer"
            self.loop.run_until_complete(asyncio.sleep(0.001))
        protocol.connection_lost(None)
        return bytes(transport.out), at_once


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    r = Rig()
    yield r
    r.loop.run_until_complete(r.context.aclose())
    r.loop.close()


def request(rng: random.Random, rig: Rig) -> tuple[bytes, bool, bool]:
    """A varied check head, whether it carries a session cookie of ours, and whether it
    carries one that does not open (loaded, and refused, by the store every time)."""
    method = rng.choice(["GET", "GET", "HEAD"])
    lines = [f"{method} /oauth2/auth{rng.choice(QUERIES)} HTTP/1.1", "Host: auth.internal",
             f"X-Request-ID: {REQUEST_ID}"]  # fmt: skip
    if rng.random() < 0.9:
        lines.append(f"X-Original-URI: {rng.choice(URIS)}")
    if rng.random() < 0.1:
        lines.append(f"X-Original-URI: {rng.choice(URIS)}")  # twice: nothing is verified
    if rng.random() < 0.8:
        lines.append(f"X-Original-Method: {rng.choice(['GET', 'POST', 'OPTIONS', 'get', 'G E T'])}")
    if rng.random() < 0.8:
        lines += ["X-Forwarded-Proto: " + rng.choice(["https", "http", "ftp"]),
                  "X-Forwarded-Host: " + rng.choice(["app.example.com", "APP.example.com:8443", "bad host"])]
    accept = rng.choice(ACCEPTS)
    if accept:
        lines.append(f"Accept: {accept}")
    if rng.random() < 0.1:
        lines.append("X-Authsvc-Allowed-Groups: " + rng.choice(["dev", "nobody"]))
    cookie = rng.random() < 0.8
    garbage = not cookie and rng.random() < 0.5
    if cookie:
        value = rng.choice(rig.cookies)
        lines.append(f"Cookie: other=1; {rig.settings.cookie_name}={value}")
    elif garbage:
        lines.append(f"Cookie: {rig.settings.cookie_name}=garbage")
    if rng.random() < 0.2:
        lines.append("Connection: close")
    return ("\r\n".join([*lines, "", ""])).encode(), cookie, garbage


def records(caplog: pytest.LogCaptureFixture) -> list[tuple[str, int, str, dict[str, Any]]]:
    """The log lines of one answer, less what differs by nature (the time taken)."""
    out = []
    for r in caplog.records:
        extra = {k: v for k, v in vars(r).items() if k in ("user", "outcome", "reason", "status", "path",
                                                           "endpoint", "method", "request_id")}  # fmt: skip
        # paths.py says its first refusal of a public route as a warning, the rest as debug
        level = 0 if r.name == "authsvc.rules" else r.levelno
        out.append((r.name, level, r.getMessage(), extra))
    caplog.clear()
    return out


def outcomes(rig: Rig) -> dict[str, float]:
    registry = rig.context.metrics.registry
    return {o: registry.get_sample_value("authsvc_requests_total", {"endpoint": "auth", "outcome": o}) or 0.0
            for o in ("allowed", "unauthenticated", "forbidden", "skipped", "error")}  # fmt: skip


def test_the_fast_and_the_waiting_path_answer_alike(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(17)
    caplog.set_level(logging.DEBUG)
    fast_seen = slow_seen = 0
    for case in range(CASES):
        head, cookie, garbage = request(rng, rig)
        rig.context.session_cache.clear()  # the store's turn: the check waits on its load
        before = outcomes(rig)
        slow, slow_at_once = rig.answer(head)
        slow_logs = records(caplog)
        middle = outcomes(rig)
        fast, fast_at_once = rig.answer(head)  # the session is cached now
        fast_logs = records(caplog)
        after = outcomes(rig)
        context = f"case {case}: {head!r}"
        assert fast == slow, context
        assert fast_logs == slow_logs, context
        slow_counted = {k: middle[k] - before[k] for k in before}
        assert slow_counted == {k: after[k] - middle[k] for k in before}, context
        assert sum(slow_counted.values()) == 1, context
        if not garbage:
            assert fast_at_once, f"{context}: the cached check waited"
            fast_seen += 1
        if cookie and not slow_at_once:
            slow_seen += 1
    # the two paths were both taken, many times
    assert fast_seen > CASES * 3 // 4
    assert slow_seen > CASES // 3


def test_a_cached_check_is_answered_within_the_read(rig: Rig) -> None:
    """No task: the answer is decided inside data_received and written when that loop
    iteration ends (on uvicorn's protocol, and on CheckProtocol before issue 17's sync path,
    a task ran it in a later iteration)."""
    head = (f"GET /oauth2/auth HTTP/1.1\r\nHost: a\r\nX-Original-URI: /\r\n"
            f"Cookie: {rig.settings.cookie_name}={rig.cookies[0]}\r\n\r\n").encode()  # fmt: skip
    rig.answer(head)  # cached from here
    answer, at_once = rig.answer(head)
    assert answer.startswith(b"HTTP/1.1 202 ")
    assert b"x-auth-request-user: ada\r\n" in answer
    assert at_once
    api = b"GET /oauth2/auth HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n\r\n"
    no_session, at_once = rig.answer(api)
    assert no_session.startswith(b"HTTP/1.1 401 ") and no_session.endswith(b"\r\n\r\nUnauthorized\n")
    assert at_once


@pytest.mark.parametrize("version", ["1.0", "1.1"])
@pytest.mark.parametrize("form", [bytes, bytearray])  # a head read alone, or cut from the buffer
def test_the_http_version_is_the_request_lines(rig: Rig, version: str, form: type) -> None:
    """The scope's http_version is read from the end of the request line (not llhttp's str
    formatting): a header that looks like a version elsewhere in the head changes nothing."""
    protocol = rig.protocol()
    protocol.connection_made(Transport())
    head = f"GET /oauth2/auth HTTP/{version}\r\nHost: a\r\nX-Via: HTTP/1.0\r\nX-Other: 1.1\r\n\r\n"
    assert protocol.parse(form(head.encode()))
    assert protocol.http_version == version
    protocol.connection_lost(None)
