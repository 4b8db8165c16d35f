"""Two real authsvc processes (`authsvc serve`) on one real redis-server, each with its session
cache subscribed to invalidations, and the JWKS issuer they trust.

Sessions are minted straight into Redis by the store itself (no IdP round trip); logout tokens
are signed with `KEY`, which the issuer (bench/jwks.py) publishes.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
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

REPO = Path(__file__).resolve().parents[2]
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
    started: list[Process]

    @property
    def cookie(self) -> str:
        return str(self.options["cookie_name"])

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

    def record_key(self, value: str) -> str:
        """The Redis key of a session's record."""
        store = RedisSessionStore(load_settings(**self.options), system_clock)
        return f"{self.cookie}:s:{store.session_id(value)}"

    def raw_delete(self, value: str) -> None:
        """Delete a session's record without telling anyone (no invalidation published)."""
        with redis.Redis(host=HOST, port=self.redis.port) as client:
            assert client.delete(self.record_key(value)) == 1

    def auth(self, app: Process, value: str) -> int:
        response = httpx.get(
            f"{app.url}/oauth2/auth",
            headers={"Cookie": f"{self.cookie}={value}", "Accept": "application/json"},
            timeout=10,
        )
        return response.status_code

    def logout_token(self, **claims: Any) -> str:
        body = {"iss": self.issuer, "aud": CLIENT_ID, "iat": int(time.time()),
                "jti": uuid.uuid4().hex, "events": {EVENT: {}}, **claims}  # fmt: skip
        return str(jwt.encode({"alg": "RS256", "kid": "k1", "typ": "logout+jwt"}, body, KEY))

    def stop(self) -> None:
        for proc in reversed(self.started):
            proc.stop()


@contextmanager
def replicas_on_standalone(workdir: Path, cookie: str, **options: Any) -> Iterator[Replicas]:
    """start_replicas on a fresh standalone Redis in `workdir`; all of it stopped afterwards."""
    server = start_standalone(workdir / "redis")
    try:
        reps = start_replicas(workdir, server, cookie, **options)
        try:
            yield reps
        finally:
            reps.stop()
    finally:
        server.stop()


def start_replicas(workdir: Path, server: RedisServer, cookie: str, **options: Any) -> Replicas:
    """The issuer and two authsvc processes on `server` (cache TTL 60 s unless `options` say
    otherwise); returns once both are subscribed to the invalidation channel."""
    started: list[Process] = []
    try:
        port = free_port()
        jwks = workdir / "jwks.json"
        jwks.write_text(json.dumps({"keys": [KEY.as_dict(private=False)]}))
        issuer = start_process(
            "issuer", python_argv("-m", "bench.jwks", HOST, str(port), str(jwks)), port=port,
            log_dir=workdir, cwd=REPO, ready=http_ready("/ping"),
        )  # fmt: skip
        started.append(issuer)
        settings: dict[str, Any] = {
            "cookie_secret": SECRET_A, "cookie_name": cookie, "cookie_secure": False,
            "client_id": CLIENT_ID, "client_secret": "s", "oidc_issuer_url": issuer.url,
            "email_domains": ["*"], "session_store_type": "redis", "redis_connection_url": server.url,
            "session_cache_ttl": 60.0, **options,
        }  # fmt: skip
        a = start_authsvc(workdir, settings, name=f"{cookie}-a")
        started.append(a)
        b = start_authsvc(workdir, settings, name=f"{cookie}-b")
        started.append(b)
        channel = f"{cookie}:invalidate"
        with redis.Redis(host=HOST, port=server.port) as client:
            deadline = time.monotonic() + 15
            while dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) < 2:
                assert time.monotonic() < deadline, "the replicas never subscribed to invalidations"
                time.sleep(0.05)
    except BaseException:
        for proc in reversed(started):
            proc.stop()
        raise
    return Replicas(a, b, server, issuer.url, settings, started)
