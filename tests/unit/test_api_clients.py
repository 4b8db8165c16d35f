"""API clients (issue 16): machine identities, per-route scopes and audiences, RFC 6750
challenges, and opaque tokens by RFC 7662 introspection (a respx IdP that checks what it gets)."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.conftest import make_settings
from tests.support.auth_app import AuthApp
from tests.support.fake_idp import JWT_BEARER, FakeIdP, ManualClock, client_key, client_key_pem

IdP = tuple[FakeIdP, "Introspection"]

pytestmark = pytest.mark.anyio

MACHINE = "billing-svc"
INTROSPECT = "https://idp.test/introspect"


@dataclass
class Introspection:
    """The IdP's introspection endpoint: answers per token, and checks each request."""

    idp: FakeIdP
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: int = 200
    calls: int = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        # RFC 7662 §2.1: POST, form-encoded, our client authenticated (client_secret_basic)
        assert request.method == "POST"
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if self.idp.client_jwk is not None:  # private_key_jwt: an assertion for this endpoint
            assert "authorization" not in request.headers and "client_secret" not in form
            assert form["client_assertion_type"] == JWT_BEARER
            key = RSAKey.import_key(self.idp.client_jwk)
            claims = jwt.decode(form["client_assertion"], key, algorithms=["RS256"]).claims
            assert claims["iss"] == claims["sub"] == self.idp.client_id and claims["aud"] == INTROSPECT
            assert claims["exp"] - int(self.idp.clock()) == 60 and claims["jti"]
        else:
            pair = f"{self.idp.client_id}:{self.idp.client_secret}".encode()
            assert request.headers["authorization"] == "Basic " + base64.b64encode(pair).decode()
        assert form["token_type_hint"] == "access_token"
        if self.status != 200:
            return httpx.Response(self.status)
        return httpx.Response(200, json=self.answers.get(form["token"], {"active": False}))

    def active(self, token: str, **claims: Any) -> None:
        now = int(self.idp.clock())
        base = {"active": True, "client_id": MACHINE, "iss": self.idp.issuer, "exp": now + 3600,
                "token_type": "Bearer", "scope": "read"}
        self.answers[token] = {k: v for k, v in {**base, **claims}.items() if v is not None}


@dataclass
class Env:
    app: AuthApp
    idp: FakeIdP
    clock: ManualClock
    introspection: Introspection

    async def call(self, token: str, path: str = "/oauth2/auth", **headers: str) -> httpx.Response:
        return await self.app.auth(path, headers={"Authorization": f"Bearer {token}", **headers})

    def machine(self, client: str = MACHINE, **claims: Any) -> str:
        """A client-credentials JWT (RFC 9068 §2.2: sub is the client; no e-mail)."""
        return self.idp.mint_id_token(sub=client, client_id=client, jose_typ="at+jwt", **claims)

    def user(self, **claims: Any) -> str:
        base = {"email": "ada@example.com", "email_verified": True, "azp": self.idp.client_id}
        return self.idp.mint_id_token(**{**base, **claims})


@pytest.fixture
def idp() -> Iterator[tuple[FakeIdP, Introspection]]:
    clock = ManualClock()
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        idp = FakeIdP(clock=clock)
        idp.mount(router)
        introspection = Introspection(idp)
        router.post(INTROSPECT).mock(side_effect=introspection)
        yield idp, introspection
    assert not idp.errors


def settings(idp: FakeIdP, **options: Any) -> Any:
    base: dict[str, Any] = {
        "oidc_issuer_url": idp.issuer, "client_id": idp.client_id, "client_secret": idp.client_secret,
        "email_domains": ["*"], "skip_jwt_bearer_tokens": True, "allowed_clients": [MACHINE],
        "introspect_bearer_tokens": True, "oidc_introspection_url": INTROSPECT,
    }
    return make_settings(**{**base, **options})


@pytest.fixture
async def env(idp: tuple[FakeIdP, Introspection]) -> AsyncIterator[Env]:
    fake, introspection = idp
    clock = fake.clock
    assert isinstance(clock, ManualClock)
    async with AuthApp.start(settings(fake), clock) as app:
        yield Env(app, fake, clock, introspection)


async def start(idp: tuple[FakeIdP, Introspection], **options: Any) -> Any:
    fake, _ = idp
    return AuthApp.start(settings(fake, **options), fake.clock)  # type: ignore[arg-type]


# --- machine identities ---------------------------------------------------------------------


async def test_a_named_machine_passes_and_is_marked_as_one(env: Env) -> None:
    response = await env.call(env.machine())
    assert response.status_code == 202
    assert response.headers["x-auth-request-user"] == MACHINE
    assert response.headers["x-auth-request-email"] == ""
    assert response.headers["x-auth-request-identity-type"] == "machine"
    assert response.headers["x-auth-request-client-id"] == MACHINE


async def test_email_domains_star_never_admits_an_unnamed_machine(env: Env) -> None:
    response = await env.call(env.machine("other-svc"))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == 'Bearer error="insufficient_scope"'


async def test_a_machine_without_allowed_clients_is_refused(idp: IdP) -> None:
    async with await start(idp, allowed_clients=[]) as app:
        token = idp[0].mint_id_token(sub=MACHINE, client_id=MACHINE)
        response = await app.auth(headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403
        # no machines can pass: the headers stay as they were
        assert "x-auth-request-identity-type" not in response.headers


async def test_a_user_token_is_a_user_with_its_client(env: Env) -> None:
    response = await env.call(env.user())
    assert response.status_code == 202
    assert response.headers["x-auth-request-identity-type"] == "user"
    assert response.headers["x-auth-request-client-id"] == env.idp.client_id


async def test_a_user_without_email_is_not_a_machine_of_its_client(idp: IdP) -> None:
    # sub names a person, not the client: allowed_clients naming the client admits no user
    async with await start(idp, allowed_clients=[idp[0].client_id]) as app:
        token = idp[0].mint_id_token(sub="user-1", azp=idp[0].client_id)
        response = await app.auth(headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403


async def test_a_browser_session_is_a_user_with_no_client(env: Env) -> None:
    response = await env.app.auth(cookie=await env.app.cookie())
    assert response.status_code == 202
    assert response.headers["x-auth-request-identity-type"] == "user"
    assert response.headers["x-auth-request-client-id"] == ""


async def test_public_routes_send_the_new_headers_empty(idp: IdP) -> None:
    async with await start(idp, skip_auth_routes=["^/public"], proxy_kind="traefik") as app:
        response = await app.auth(headers={"X-Forwarded-Uri": "/public", "X-Forwarded-Host": "app.test",
                                           "X-Forwarded-Proto": "https", "X-Forwarded-Method": "GET"})
        assert response.status_code == 202
        assert response.headers["x-auth-request-identity-type"] == ""
        assert response.headers["x-auth-request-client-id"] == ""


async def test_per_route_allowed_clients_admit_only_those_machines(env: Env) -> None:
    assert (await env.call(env.machine(), f"/oauth2/auth?allowed_clients={MACHINE},x")).status_code == 202
    assert (await env.call(env.machine(), "/oauth2/auth?allowed_clients=x")).status_code == 403
    assert (await env.call(env.user(), f"/oauth2/auth?allowed_clients={MACHINE}")).status_code == 403


# --- scopes and audiences -------------------------------------------------------------------


async def test_every_listed_scope_is_required(env: Env) -> None:
    path = "/oauth2/auth?allowed_scopes=read,write"
    assert (await env.call(env.machine(scope="read write admin"), path)).status_code == 202
    response = await env.call(env.machine(scope="read"), path)
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="read write"'
    assert (await env.call(env.machine(scp=["read", "write"]), path)).status_code == 202


async def test_scope_rules_as_headers(env: Env) -> None:
    rule = {"X-Authsvc-Allowed-Scopes": "write"}
    assert (await env.call(env.machine(scope="read"), **rule)).status_code == 403
    assert (await env.call(env.machine(scope="write"), **rule)).status_code == 202


async def test_a_browser_session_has_no_known_scopes(env: Env) -> None:
    cookie = await env.app.cookie()
    assert (await env.app.auth("/oauth2/auth?allowed_scopes=read", cookie=cookie)).status_code == 403
    assert (await env.app.auth("/oauth2/auth?allowed_audiences=x", cookie=cookie)).status_code == 403
    # and a session's 403 is no bearer challenge
    response = await env.app.auth("/oauth2/auth?allowed_scopes=read", cookie=cookie)
    assert "www-authenticate" not in response.headers


async def test_one_of_the_listed_audiences_is_required(env: Env) -> None:
    path = "/oauth2/auth?allowed_audiences=my-api,other-api"
    both = env.machine(aud=[env.idp.client_id, "my-api"])
    assert (await env.call(both, path)).status_code == 202
    assert (await env.call(env.machine(), path)).status_code == 403


async def test_an_empty_scope_rule_admits_nobody(env: Env) -> None:
    assert (await env.call(env.machine(scope="read"), "/oauth2/auth?allowed_scopes=")).status_code == 403


async def test_no_credentials_is_a_bearer_challenge(env: Env) -> None:
    response = await env.app.auth(headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


# --- opaque tokens (RFC 7662) -------------------------------------------------------------


async def test_introspection_authenticates_with_the_jwt_key_when_there_is_one(
    idp: tuple[FakeIdP, Introspection]
) -> None:
    fake, introspection = idp
    fake.client_jwk = RSAKey.import_key(client_key().as_dict(private=False)).as_dict()
    introspection.active("opaque-1")
    async with AuthApp.start(settings(fake, client_secret="", jwt_key=client_key_pem()),
                             fake.clock) as app:  # type: ignore[arg-type]
        answer = await app.auth("/oauth2/auth", headers={"Authorization": "Bearer opaque-1"})
    assert answer.status_code == 202 and introspection.calls == 1


async def test_an_opaque_machine_token_is_introspected_and_cached(env: Env) -> None:
    env.introspection.active("opaque-1", scope="read write")
    response = await env.call("opaque-1", "/oauth2/auth?allowed_scopes=write")
    assert response.status_code == 202
    assert response.headers["x-auth-request-identity-type"] == "machine"
    assert response.headers["x-auth-request-client-id"] == MACHINE
    assert (await env.call("opaque-1")).status_code == 202
    assert env.introspection.calls == 1


async def test_a_revoked_token_is_refused_after_the_cache_lifetime(env: Env) -> None:
    env.introspection.active("opaque-1")
    assert (await env.call("opaque-1")).status_code == 202
    env.introspection.answers["opaque-1"] = {"active": False}
    env.clock.advance(59)
    assert (await env.call("opaque-1")).status_code == 202  # within introspection_cache_ttl
    env.clock.advance(2)
    response = await env.call("opaque-1")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_with_the_cache_off_a_revoked_token_is_refused_at_once(idp: IdP) -> None:
    async with await start(idp, introspection_cache_ttl=0) as app:
        idp[1].active("opaque-1")
        headers = {"Authorization": "Bearer opaque-1"}
        assert (await app.auth(headers=headers)).status_code == 202
        idp[1].answers["opaque-1"] = {"active": False}
        assert (await app.auth(headers=headers)).status_code == 401
        assert idp[1].calls == 2


async def test_the_cache_never_outlives_the_token(env: Env) -> None:
    env.introspection.active("opaque-1", exp=int(env.clock()) + 10)
    assert (await env.call("opaque-1")).status_code == 202
    env.clock.advance(11)
    env.introspection.answers.pop("opaque-1")
    assert (await env.call("opaque-1")).status_code == 401
    assert env.introspection.calls == 2


async def test_an_inactive_answer_is_cached_briefly(env: Env) -> None:
    assert (await env.call("unknown")).status_code == 401
    assert (await env.call("unknown")).status_code == 401
    assert env.introspection.calls == 1
    env.clock.advance(5)
    env.introspection.active("unknown")
    assert (await env.call("unknown")).status_code == 202


@pytest.mark.parametrize("answer", [
    {"active": "true", "client_id": MACHINE},
    {"client_id": MACHINE},
    {"active": True, "client_id": MACHINE, "token_type": "refresh_token"},
    {"active": True, "client_id": MACHINE, "iss": "https://evil.test"},
    {"active": True, "client_id": MACHINE, "exp": 1},
    {"active": True, "client_id": MACHINE, "aud": "someone-else"},
])
async def test_answers_that_do_not_say_active_and_ours_are_refused(env: Env, answer: dict[str, Any]) -> None:
    env.introspection.answers["opaque-1"] = answer
    assert (await env.call("opaque-1")).status_code == 401


async def test_an_idp_that_cannot_answer_is_a_503_not_cached(env: Env, caplog: Any) -> None:
    env.introspection.status = 500
    env.introspection.active("opaque-secret-token")
    with caplog.at_level(logging.DEBUG):
        response = await env.call("opaque-secret-token")
    assert response.status_code == 503
    assert "opaque-secret-token" not in caplog.text
    env.introspection.status = 200
    assert (await env.call("opaque-secret-token")).status_code == 202


async def test_an_opaque_user_token_gets_the_user_rules(env: Env) -> None:
    env.introspection.active("opaque-u", client_id=env.idp.client_id, sub="u-9", email="bob@example.com")
    response = await env.call("opaque-u")
    assert response.status_code == 202
    assert response.headers["x-auth-request-user"] == "u-9"
    assert response.headers["x-auth-request-identity-type"] == "user"


async def test_the_discovered_endpoint_is_used(idp: IdP) -> None:
    idp[0].discovery_overrides["introspection_endpoint"] = INTROSPECT
    async with await start(idp, oidc_introspection_url="") as app:
        idp[1].active("opaque-1")
        assert (await app.auth(headers={"Authorization": "Bearer opaque-1"})).status_code == 202


async def test_opaque_tokens_without_introspection_are_refused(idp: IdP) -> None:
    async with await start(idp, introspect_bearer_tokens=False) as app:
        idp[1].active("opaque-1")
        assert (await app.auth(headers={"Authorization": "Bearer opaque-1"})).status_code == 401
        assert idp[1].calls == 0


async def test_the_introspection_cache_is_bounded(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from authsvc.providers import introspection

    monkeypatch.setattr(introspection, "CACHE_SIZE", 2)
    for name in ("t1", "t2", "t3"):
        env.introspection.active(name)
        assert (await env.call(name)).status_code == 202
    intro = env.app.services.bearer._introspector
    assert intro is not None and len(intro._cache) == 2
