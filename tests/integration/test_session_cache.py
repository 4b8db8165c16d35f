"""The in-process session cache never serves a session after sign-out or back-channel logout.

Two real authsvc processes (`authsvc serve`) share one real redis-server; the cache TTL is 60 s,
so only the invalidation (Redis pub/sub, session_cache.py) can explain a 401 right after a
logout. First the cache is shown to be in use (a record deleted behind its back is still
served), then every logout on one replica is checked on the other at once, many times over.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from joserfc import jwt
from joserfc.jwk import RSAKey

from authsvc.clock import system_clock
from authsvc.config import load_settings
from authsvc.models import Identity, Session, Tokens
from authsvc.providers.logout_token import EVENT
from authsvc.sessions.redis import RedisSessionStore
from tests.conftest import SECRET_A
from tests.support.components import start_authsvc
from tests.support.processes import HOST, Process, free_port, http_ready, python_argv, start_process
from tests.support.redis_servers import RedisServer, start_standalone

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
COOKIE = "_cachetest"
CLIENT_ID = "authsvc-cache-test"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})


@dataclass
class Replicas:
    """Two authsvc processes on one Redis, the issuer they trust, and a store to mint with."""

    a: Process
    b: Process
    redis: RedisServer
    issuer: str
    options: dict[str, Any]

    def mint(self, sid: str, sub: str = "user-1") -> str:
        """A session saved straight into Redis by the store itself; its cookie value."""
        settings = load_settings(**self.options)
        now = int(time.time())
        session = Session(
            Identity(user=sub, email=f"{sub}@example.com", subject=sub, sid=sid),
            Tokens(access_token="at", id_token="it"), created_at=now, expires_at=now + 3600,
            refreshed_at=now,
        )  # fmt: skip

        async def save() -> str:
            store = RedisSessionStore(settings, system_clock)
            try:
                return await store.save(session)
            finally:
                await store.close()

        return asyncio.run(save())

    def raw_delete(self, value: str) -> None:
        """Delete a session's record without telling anyone (no invalidation published)."""
        store = RedisSessionStore(load_settings(**self.options), system_clock)
        key = f"{COOKIE}:s:{store.session_id(value)}"
        with redis.Redis(host=HOST, port=self.redis.port) as client:
            assert client.delete(key) == 1


def auth(app: Process, value: str) -> int:
    response = httpx.get(
        f"{app.url}/oauth2/auth",
        headers={"Cookie": f"{COOKIE}={value}", "Accept": "application/json"},
        timeout=10,
    )
    return response.status_code


def sign_out(app: Process, value: str) -> None:
    response = httpx.get(f"{app.url}/oauth2/sign_out", headers={"Cookie": f"{COOKIE}={value}"}, timeout=10)
    assert response.status_code == 302, response.text


def logout_token(issuer: str, **claims: Any) -> str:
    body = {"iss": issuer, "aud": CLIENT_ID, "iat": int(time.time()), "jti": uuid.uuid4().hex,
            "events": {EVENT: {}}, **claims}  # fmt: skip
    return jwt.encode({"alg": "RS256", "kid": "k1", "typ": "logout+jwt"}, body, KEY)


def backchannel_logout(app: Process, issuer: str, **claims: Any) -> None:
    response = httpx.post(
        f"{app.url}/oauth2/backchannel_logout", data={"logout_token": logout_token(issuer, **claims)},
        timeout=10,
    )
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    workdir = tmp_path_factory.mktemp("session-cache")
    server = start_standalone(workdir / "redis")
    started: list[Process] = []
    try:
        port = free_port()
        jwks = workdir / "jwks.json"
        jwks.write_text(__import__("json").dumps({"keys": [KEY.as_dict(private=False)]}))
        issuer_proc = start_process(
            "issuer", python_argv("-m", "bench.jwks", HOST, str(port), str(jwks)), port=port,
            log_dir=workdir, cwd=REPO, ready=http_ready("/ping"),
        )  # fmt: skip
        started.append(issuer_proc)
        options: dict[str, Any] = {
            "cookie_secret": SECRET_A, "cookie_name": COOKIE, "cookie_secure": False,
            "client_id": CLIENT_ID, "client_secret": "s", "oidc_issuer_url": issuer_proc.url,
            "email_domains": ["*"], "session_store_type": "redis", "redis_connection_url": server.url,
            "session_cache_ttl": 60.0,
        }  # fmt: skip
        a = start_authsvc(workdir, options, name="authsvc-a")
        started.append(a)
        b = start_authsvc(workdir, options, name="authsvc-b")
        started.append(b)
        reps = Replicas(a, b, server, issuer_proc.url, options)
        channel = f"{COOKIE}:invalidate"
        with redis.Redis(host=HOST, port=server.port) as client:
            deadline = time.monotonic() + 15
            while dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) < 2:
                assert time.monotonic() < deadline, "the replicas never subscribed to invalidations"
                time.sleep(0.05)
        yield reps
    finally:
        for proc in reversed(started):
            proc.stop()
        server.stop()


def test_the_cache_is_in_use_on_both_replicas(replicas: Replicas) -> None:
    """Without this, the logout tests below would prove nothing: a record deleted behind the
    cache's back (no invalidation) is still served by both replicas within the TTL."""
    for app in (replicas.a, replicas.b):
        deadline = time.monotonic() + 10
        while True:  # the cache goes on when the subscription is confirmed
            value = replicas.mint(sid=f"probe-{uuid.uuid4().hex}")
            assert auth(app, value) == 202
            replicas.raw_delete(value)
            if auth(app, value) == 202:
                break
            assert time.monotonic() < deadline, f"{app.name} never served from its cache"
            time.sleep(0.1)


def test_sign_out_on_one_replica_ends_the_session_on_both_at_once(replicas: Replicas) -> None:
    for i in range(25):
        value = replicas.mint(sid=f"signout-{i}-{uuid.uuid4().hex}")
        for app in (replicas.a, replicas.b):
            assert auth(app, value) == 202
            assert auth(app, value) == 202  # now a cache hit
        here, other = (replicas.a, replicas.b) if i % 2 == 0 else (replicas.b, replicas.a)
        sign_out(here, value)
        assert auth(other, value) == 401, f"round {i}: {other.name} served a signed-out session"
        assert auth(here, value) == 401, f"round {i}: {here.name} served a signed-out session"


def test_back_channel_logout_by_sid_ends_the_session_on_both_at_once(replicas: Replicas) -> None:
    for i in range(15):
        sid = f"bcl-{i}-{uuid.uuid4().hex}"
        value = replicas.mint(sid=sid)
        keep = replicas.mint(sid=f"keep-{uuid.uuid4().hex}")
        for app in (replicas.a, replicas.b):
            assert auth(app, value) == 202
            assert auth(app, value) == 202
            assert auth(app, keep) == 202
        here, other = (replicas.a, replicas.b) if i % 2 == 0 else (replicas.b, replicas.a)
        backchannel_logout(here, replicas.issuer, sid=sid)
        assert auth(other, value) == 401, f"round {i}: {other.name} served a logged-out session"
        assert auth(here, value) == 401, f"round {i}: {here.name} served a logged-out session"
        assert auth(other, keep) == 202  # only that IdP session ended


def test_back_channel_logout_by_sub_ends_every_session_of_the_user_on_both(replicas: Replicas) -> None:
    sub = f"user-{uuid.uuid4().hex}"
    values = [replicas.mint(sid="", sub=sub) for _ in range(3)]
    for app in (replicas.a, replicas.b):
        for value in values:
            assert auth(app, value) == 202
            assert auth(app, value) == 202
    backchannel_logout(replicas.b, replicas.issuer, sub=sub)
    for app in (replicas.a, replicas.b):
        assert [auth(app, v) for v in values] == [401, 401, 401]
