"""The in-process session cache never serves a session after sign-out or back-channel logout.

Two real authsvc processes (`authsvc serve`) share one real redis-server; the cache TTL is 60 s,
so only the invalidation (Redis pub/sub, session_cache.py) can explain a 401 right after a
logout. First the cache is shown to be in use (a record deleted behind its back is still
served), then every logout on one replica is checked on the other at once, many times over.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support.processes import Process
from tests.support.replicas import Replicas, replicas_on_standalone

pytestmark = pytest.mark.integration

COOKIE = "_cachetest"


def sign_out(app: Process, value: str) -> None:
    response = httpx.get(f"{app.url}/oauth2/sign_out", headers={"Cookie": f"{COOKIE}={value}"}, timeout=10)
    assert response.status_code == 302, response.text


def backchannel_logout(replicas: Replicas, app: Process, **claims: str) -> None:
    response = httpx.post(
        f"{app.url}/oauth2/backchannel_logout", data={"logout_token": replicas.logout_token(**claims)},
        timeout=10,
    )
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    with replicas_on_standalone(tmp_path_factory.mktemp("session-cache"), COOKIE) as reps:
        yield reps


def test_the_cache_is_in_use_on_both_replicas(replicas: Replicas) -> None:
    """Without this, the logout tests below would prove nothing: a record deleted behind the
    cache's back (no invalidation) is still served by both replicas within the TTL."""
    for app in (replicas.a, replicas.b):
        deadline = time.monotonic() + 10
        while True:  # the cache goes on when the subscription is confirmed
            value = replicas.mint(sid=f"probe-{uuid.uuid4().hex}")
            assert replicas.auth(app, value) == 202
            replicas.raw_delete(value)
            if replicas.auth(app, value) == 202:
                break
            assert time.monotonic() < deadline, f"{app.name} never served from its cache"
            time.sleep(0.1)


def test_sign_out_on_one_replica_ends_the_session_on_both_at_once(replicas: Replicas) -> None:
    for i in range(25):
        value = replicas.mint(sid=f"signout-{i}-{uuid.uuid4().hex}")
        for app in (replicas.a, replicas.b):
            assert replicas.auth(app, value) == 202
            assert replicas.auth(app, value) == 202  # now a cache hit
        here, other = (replicas.a, replicas.b) if i % 2 == 0 else (replicas.b, replicas.a)
        sign_out(here, value)
        assert replicas.auth(other, value) == 401, f"round {i}: {other.name} served a signed-out session"
        assert replicas.auth(here, value) == 401, f"round {i}: {here.name} served a signed-out session"


def test_back_channel_logout_by_sid_ends_the_session_on_both_at_once(replicas: Replicas) -> None:
    for i in range(15):
        sid = f"bcl-{i}-{uuid.uuid4().hex}"
        value = replicas.mint(sid=sid)
        keep = replicas.mint(sid=f"keep-{uuid.uuid4().hex}")
        for app in (replicas.a, replicas.b):
            assert replicas.auth(app, value) == 202
            assert replicas.auth(app, value) == 202
            assert replicas.auth(app, keep) == 202
        here, other = (replicas.a, replicas.b) if i % 2 == 0 else (replicas.b, replicas.a)
        backchannel_logout(replicas, here, sid=sid)
        assert replicas.auth(other, value) == 401, f"round {i}: {other.name} served a logged-out session"
        assert replicas.auth(here, value) == 401, f"round {i}: {here.name} served a logged-out session"
        assert replicas.auth(other, keep) == 202  # only that IdP session ended


def test_back_channel_logout_by_sub_ends_every_session_of_the_user_on_both(replicas: Replicas) -> None:
    sub = f"user-{uuid.uuid4().hex}"
    values = [replicas.mint(sid="", sub=sub) for _ in range(3)]
    for app in (replicas.a, replicas.b):
        for value in values:
            assert replicas.auth(app, value) == 202
            assert replicas.auth(app, value) == 202
    backchannel_logout(replicas, replicas.b, sub=sub)
    for app in (replicas.a, replicas.b):
        assert [replicas.auth(app, v) for v in values] == [401, 401, 401]
