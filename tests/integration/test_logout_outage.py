"""Sign-out and back-channel logout when Redis cannot delete: nothing is claimed that did not happen.

Two real authsvc processes share one real redis-server of this module's own, each with its
session cache (TTL 60 s, so only an invalidation explains a replica refusing a cached session).
The failures are real Redis behaviour: `CLIENT PAUSE <ms> WRITE` (a stalled primary: reads go on,
writes wait, and the DEL of a client that gave up may or may not run later) and an ACL that
refuses one command. What a user would check: after a "signed out" answer (302) or a 200 to the
IdP, no replica ever answers 202 for that session; a failure says so (503, never a redirect),
and the retry, once Redis is back, ends the session on every replica.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.support.processes import Process
from tests.support.redis_servers import HOST, RedisServer
from tests.support.replicas import Replicas, replicas_on_standalone

pytestmark = pytest.mark.integration

COOKIE = "_outage"
PENDING = f"{COOKIE}_signout"
PAUSE_MS = 2000


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    workdir = tmp_path_factory.mktemp("logout-outage")
    # short Redis timeouts: a stalled write fails within 2 x (0.3 + 0.2) s
    with replicas_on_standalone(workdir, COOKIE, redis_connect_timeout=0.3,
                                redis_command_timeout=0.2) as reps:  # fmt: skip
        yield reps


@pytest.fixture(autouse=True)
def redis_restored(replicas: Replicas) -> Iterator[None]:
    yield
    wait_for_writes(replicas.redis)
    acl(replicas.redis)


def admin(server: RedisServer) -> redis.Redis:
    return redis.Redis(host=HOST, port=server.port)


def acl(server: RedisServer, *rules: str) -> None:
    """The replicas' (default) Redis user: every command, then `rules` (e.g. "-publish")."""
    with admin(server) as client:
        client.execute_command("ACL", "SETUSER", "default", "+@all", *rules)


def pause_writes(server: RedisServer) -> None:
    with admin(server) as client:
        client.execute_command("CLIENT", "PAUSE", str(PAUSE_MS), "WRITE")


def wait_for_writes(server: RedisServer) -> None:
    """Returns once a pause is over: Redis holds this write until then (no sleep)."""
    with admin(server) as client:
        client.set("probe", "1")


def signed_in(replicas: Replicas, sid: str = "s") -> str:
    """A session both replicas hold in their caches."""
    value = replicas.mint(sid=sid)
    for app in (replicas.a, replicas.b, replicas.a, replicas.b):
        assert replicas.auth(app, value) == 202
    return value


def sign_out(app: Process, cookies: dict[str, str]) -> httpx.Response:
    header = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return httpx.get(f"{app.url}/oauth2/sign_out", params={"rd": "/bye"},
                     headers={"Cookie": header}, timeout=10)  # fmt: skip


def sets(answer: httpx.Response, name: str) -> str | None:
    """The value `answer` sets for cookie `name` ("" when it expires it), None if untouched."""
    for header in answer.headers.get_list("set-cookie"):
        key, _, rest = header.partition("=")
        if key == name:
            return "" if "Max-Age=0" in header else rest.split(";", 1)[0]
    return None


def assert_not_signed_out(answer: httpx.Response, value: str) -> None:
    """A 503 page that claims nothing; the browser's cookie expired, the ticket kept for a retry."""
    assert answer.status_code == 503, answer.text
    assert "location" not in answer.headers
    assert "could not be ended" in answer.text and "Try again" in answer.text
    assert 'href="/oauth2/sign_out?rd=%2Fbye"' in answer.text
    assert sets(answer, COOKIE) == ""
    assert sets(answer, PENDING) == value


def logout(replicas: Replicas, app: Process, token: str) -> httpx.Response:
    return httpx.post(f"{app.url}/oauth2/backchannel_logout", data={"logout_token": token}, timeout=10)


def test_sign_out_while_redis_writes_stall(replicas: Replicas) -> None:
    a, b = replicas.a, replicas.b
    value = signed_in(replicas)
    pause_writes(replicas.redis)
    try:
        assert_not_signed_out(sign_out(a, {COOKIE: value}), value)
        assert replicas.auth(a, value) == 401  # this replica refuses it at once
        assert replicas.auth(b, value) == 202  # the other was never told: what the page said
    finally:
        wait_for_writes(replicas.redis)
    assert replicas.auth(a, value) == 401
    # "Try again": the browser now holds only the sign-out cookie
    retry = sign_out(a, {PENDING: value})
    assert (retry.status_code, retry.headers["location"]) == (302, "/bye")
    assert sets(retry, PENDING) == ""
    with admin(replicas.redis) as client:
        assert not client.exists(replicas.record_key(value))
    assert [replicas.auth(app, value) for app in (b, a, b)] == [401, 401, 401]


def test_a_signed_out_answer_is_never_followed_by_a_202(replicas: Replicas) -> None:
    """Sign-outs on either replica before, during and after a stall: whenever one answered
    302, both refuse the session from then on; the others answered 503."""
    outcomes: list[int] = []
    for phase in ("before", "during", "after"):
        values = [signed_in(replicas, sid=f"{phase}-{i}") for i in range(3)]
        if phase == "during":
            pause_writes(replicas.redis)
        try:
            for i, value in enumerate(values):
                here = (replicas.a, replicas.b)[i % 2]
                answer = sign_out(here, {COOKIE: value})
                outcomes.append(answer.status_code)
                if answer.status_code == 302:
                    assert [replicas.auth(app, value) for app in (replicas.a, replicas.b)] == [401, 401]
                else:
                    assert_not_signed_out(answer, value)
                    assert replicas.auth(here, value) == 401
        finally:
            wait_for_writes(replicas.redis)
    assert outcomes == [302] * 3 + [503] * 3 + [302] * 3


def test_sign_out_whose_invalidation_cannot_be_published(replicas: Replicas) -> None:
    """The record is deleted but no replica is told (PUBLISH refused): the other replica's cache
    would go on serving it, so this is no sign-out either; the retry publishes."""
    a, b = replicas.a, replicas.b
    value = signed_in(replicas)
    acl(replicas.redis, "-publish")
    assert_not_signed_out(sign_out(a, {COOKIE: value}), value)
    assert replicas.auth(a, value) == 401
    assert replicas.auth(b, value) == 202  # its cache, never told
    acl(replicas.redis)
    assert sign_out(b, {PENDING: value}).status_code == 302
    assert [replicas.auth(app, value) for app in (a, b)] == [401, 401]


@pytest.mark.parametrize("failure", ["writes paused", "DEL refused"])
def test_back_channel_logout_that_cannot_delete_is_a_503_and_the_retry_works(
    replicas: Replicas, failure: str
) -> None:
    a, b = replicas.a, replicas.b
    sid = f"bcl-{failure}"
    value = signed_in(replicas, sid=sid)
    token = replicas.logout_token(sid=sid)
    if failure == "DEL refused":
        acl(replicas.redis, "-del")
    else:
        pause_writes(replicas.redis)
    try:
        answer = logout(replicas, a, token)
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "temporarily_unavailable"
        assert answer.headers["cache-control"] == "no-store"
        assert replicas.auth(a, value) == 401
    finally:
        wait_for_writes(replicas.redis)
        acl(replicas.redis)
    # the IdP retries the very same token: not a replay, the logout happens now
    retry = logout(replicas, b, token)
    assert retry.status_code == 200, retry.text
    assert [replicas.auth(app, value) for app in (a, b)] == [401, 401]
    replay = logout(replicas, a, token)
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_request")
