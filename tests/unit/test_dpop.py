"""DPoP (RFC 9449): a bound token (cnf.jkt) passes only with a valid proof for the original
method and URL; proofs are made here with joserfc."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx
from joserfc import jws
from joserfc.jwk import ECKey, OctKey, RSAKey

from authsvc.providers.dpop import ALGS, IAT_WINDOW, normalise_htu
from tests.conftest import make_settings
from tests.support.auth_app import AuthApp
from tests.support.fake_idp import FakeIdP, ManualClock

pytestmark = pytest.mark.anyio

URL = "https://api.example.test/orders/7"
WHERE = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.test",
         "X-Forwarded-Uri": "/orders/7?page=2", "X-Forwarded-Method": "POST"}


def ath(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()


def proof(key: Any, token: str, now: float, *, alg: str = "ES256", header: dict[str, Any] | None = None,
          **claims: Any) -> str:
    body = {"jti": str(uuid.uuid4()), "htm": "POST", "htu": URL, "iat": int(now), "ath": ath(token)}
    body = {k: v for k, v in {**body, **claims}.items() if v is not None}
    head = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False), **(header or {})}
    return jws.serialize_compact(head, json.dumps(body).encode(), key, algorithms=[alg])


@dataclass
class Env:
    app: AuthApp
    idp: FakeIdP
    clock: ManualClock
    key: ECKey

    def token(self, key: Any = None, **claims: Any) -> str:
        jkt = (key or self.key).thumbprint()
        return self.idp.mint_id_token(sub="svc", client_id="svc", cnf={"jkt": jkt}, **claims)

    def proof(self, token: str, **kw: Any) -> str:
        return proof(kw.pop("key", self.key), token, self.clock(), **kw)

    async def call(self, token: str, dpop: str | None, scheme: str = "DPoP",
                   where: dict[str, str] | None = None) -> httpx.Response:
        headers = {"Authorization": f"{scheme} {token}", **(WHERE if where is None else where)}
        if dpop is not None:
            headers["DPoP"] = dpop
        return await self.app.auth(headers=headers)


@pytest.fixture
def idp() -> Iterator[FakeIdP]:
    clock = ManualClock()
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        fake = FakeIdP(clock=clock)
        fake.mount(router)
        yield fake
    assert not fake.errors


def settings(idp: FakeIdP, **options: Any) -> Any:
    return make_settings(**{
        "oidc_issuer_url": idp.issuer, "client_id": idp.client_id, "client_secret": idp.client_secret,
        "email_domains": ["example.com"], "skip_jwt_bearer_tokens": True, "allowed_clients": ["svc"],
        "proxy_kind": "traefik", **options,
    })


@pytest.fixture
async def env(idp: FakeIdP) -> AsyncIterator[Env]:
    assert isinstance(idp.clock, ManualClock)
    async with AuthApp.start(settings(idp), idp.clock) as app:
        yield Env(app, idp, idp.clock, ECKey.generate_key("P-256"))


async def test_a_valid_proof_is_accepted(env: Env) -> None:
    token = env.token()
    response = await env.call(token, env.proof(token))
    assert response.status_code == 202
    assert response.headers["x-auth-request-client-id"] == "svc"


async def test_an_rsa_proof_is_accepted(env: Env) -> None:
    key = RSAKey.generate_key(2048)
    token = env.token(key)
    assert (await env.call(token, env.proof(token, key=key, alg="PS256"))).status_code == 202


def challenge(response: httpx.Response, error: str) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'DPoP error="{error}", algs="{ALGS}"'


async def test_a_missing_proof_is_refused(env: Env) -> None:
    challenge(await env.call(env.token(), None), "invalid_dpop_proof")


async def test_a_proof_for_another_url_or_method_is_refused(env: Env) -> None:
    token = env.token()
    challenge(await env.call(token, env.proof(token, htu="https://api.example.test/orders/8")),
              "invalid_dpop_proof")
    challenge(await env.call(token, env.proof(token, htu="https://evil.test/orders/7")), "invalid_dpop_proof")
    challenge(await env.call(token, env.proof(token, htm="GET")), "invalid_dpop_proof")


async def test_a_replayed_proof_is_refused(env: Env) -> None:
    token = env.token()
    once = env.proof(token)
    assert (await env.call(token, once)).status_code == 202
    challenge(await env.call(token, once), "invalid_dpop_proof")


async def test_a_token_bound_to_another_key_is_refused(env: Env) -> None:
    token = env.token(ECKey.generate_key("P-256"))
    challenge(await env.call(token, env.proof(token)), "invalid_dpop_proof")


async def test_a_proof_for_another_token_is_refused(env: Env) -> None:
    token = env.token()
    challenge(await env.call(token, env.proof(env.token(jti="other"))), "invalid_dpop_proof")
    challenge(await env.call(token, env.proof(token, ath=None)), "invalid_dpop_proof")


async def test_stale_and_future_proofs_are_refused(env: Env) -> None:
    token = env.token()
    now = env.clock()
    challenge(await env.call(token, env.proof(token, iat=int(now) - IAT_WINDOW - 1)), "invalid_dpop_proof")
    challenge(await env.call(token, env.proof(token, iat=int(now) + IAT_WINDOW + 1)), "invalid_dpop_proof")


@pytest.mark.parametrize("bad", ["typ", "private", "hs256", "garbage"])
async def test_malformed_proofs_are_refused(env: Env, bad: str) -> None:
    token = env.token()
    if bad == "typ":
        dpop = env.proof(token, header={"typ": "JWT"})
    elif bad == "private":
        dpop = env.proof(token, header={"jwk": env.key.as_dict(private=True)})
    elif bad == "hs256":
        secret = OctKey.generate_key(256)
        body = json.dumps({"jti": "x", "htm": "POST", "htu": URL, "iat": int(env.clock()), "ath": ath(token)})
        head = {"typ": "dpop+jwt", "alg": "HS256", "jwk": env.key.as_dict(private=False)}
        dpop = jws.serialize_compact(head, body.encode(), secret, algorithms=["HS256"])
    else:
        dpop = "not.a.jws"
    challenge(await env.call(token, dpop), "invalid_dpop_proof")


async def test_a_bound_token_as_bearer_is_refused(env: Env) -> None:
    token = env.token()
    challenge(await env.call(token, env.proof(token), scheme="Bearer"), "invalid_token")


async def test_an_unbound_token_as_dpop_is_refused(env: Env) -> None:
    token = env.idp.mint_id_token(sub="svc", client_id="svc")
    challenge(await env.call(token, env.proof(token)), "invalid_token")
    # the control: the same token as Bearer passes
    assert (await env.call(token, None, scheme="Bearer")).status_code == 202


async def test_two_proofs_are_refused(env: Env) -> None:
    token = env.token()
    headers = [("Authorization", f"DPoP {token}"), *WHERE.items(),
               ("DPoP", env.proof(token)), ("DPoP", env.proof(token))]
    response = await env.app.client().get("/oauth2/auth", headers=headers)
    challenge(response, "invalid_dpop_proof")


async def test_a_url_the_proxy_does_not_vouch_for_is_refused(idp: FakeIdP) -> None:
    assert isinstance(idp.clock, ManualClock)
    async with AuthApp.start(settings(idp, proxy_kind="auto"), idp.clock) as app:
        env = Env(app, idp, idp.clock, ECKey.generate_key("P-256"))
        token = env.token()
        challenge(await env.call(token, env.proof(token)), "invalid_dpop_proof")


def test_htu_normalisation() -> None:
    assert normalise_htu("HTTPS://API.Example.test:443/a?q#f") == "https://api.example.test/a"
    assert normalise_htu("http://h:8080") == "http://h:8080/"
    assert normalise_htu("http://h:99999/") == ""


async def test_the_local_replay_cache_is_bounded_and_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    from authsvc.providers import dpop

    monkeypatch.setattr(dpop, "REPLAY_CACHE", 3)
    clock = ManualClock()
    cache = dpop.ReplayCache(object(), clock)
    assert [await cache.first_use("k", j) for j in "abc"] == [True, True, True]
    assert not await cache.first_use("k", "a")  # a replay
    assert not await cache.first_use("k", "d")  # full of live entries: refused, none forgotten
    clock.advance(2 * IAT_WINDOW + 2)
    assert await cache.first_use("k", "d")  # the old ones expired and made room
    assert len(cache._local) == 1
