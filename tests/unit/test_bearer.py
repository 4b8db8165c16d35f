"""Bearer JWTs for API clients, verified against each configured issuer's JWKS (FakeIdP x2)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import respx

from authsvc.providers.bearer import access_token
from authsvc.providers.metadata import KID_REFETCH_INTERVAL
from tests.conftest import make_settings
from tests.support.auth_app import AuthApp
from tests.support.fake_idp import FakeIdP, ManualClock

pytestmark = pytest.mark.anyio

OTHER_ISSUER = "https://login.partner.test"
INVALID = 'Bearer error="invalid_token"'


@dataclass
class Env:
    app: AuthApp
    idp: FakeIdP
    other: FakeIdP
    clock: ManualClock

    async def call(self, token: str, path: str = "/oauth2/auth", **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        return await self.app.auth(path, headers=headers, **kw)

    def token(self, **claims: Any) -> str:
        """A token from the main IdP for our client, with a verified e-mail."""
        base = {"email": "ada@example.com", "email_verified": True, "groups": ["admins"]}
        return self.idp.mint_id_token(**{**base, **claims})


@pytest.fixture
def idps() -> Iterator[tuple[FakeIdP, FakeIdP, ManualClock]]:
    clock = ManualClock()
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        idp = FakeIdP(clock=clock)
        other = FakeIdP(issuer=OTHER_ISSUER, client_id="partner-app", clock=clock)
        other.rotate_key()  # its own key, so one issuer cannot sign for the other
        idp.mount(router)
        other.mount(router)
        yield idp, other, clock
    assert not idp.errors and not other.errors


def bearer_settings(idp: FakeIdP, **options: Any) -> Any:
    base: dict[str, Any] = {
        "oidc_issuer_url": idp.issuer, "client_id": idp.client_id, "client_secret": idp.client_secret,
        "email_domains": ["example.com"], "skip_jwt_bearer_tokens": True,
        "extra_jwt_issuers": [f"{OTHER_ISSUER}=my-api"],
    }
    return make_settings(**{**base, **options})


@pytest.fixture
async def env(idps: tuple[FakeIdP, FakeIdP, ManualClock]) -> AsyncIterator[Env]:
    idp, other, clock = idps
    async with AuthApp.start(bearer_settings(idp, set_authorization_header=True), clock) as app:
        yield Env(app, idp, other, clock)


async def test_a_valid_token_is_a_session(env: Env) -> None:
    token = env.token(sub="svc-1", preferred_username="ada")
    response = await env.call(token)
    assert response.status_code == 202
    assert response.headers["x-auth-request-user"] == "svc-1"
    assert response.headers["x-auth-request-email"] == "ada@example.com"
    assert response.headers["x-auth-request-groups"] == "admins"
    assert response.headers["authorization"] == f"Bearer {token}"


async def test_a_second_configured_issuer(env: Env) -> None:
    token = env.other.mint_id_token(aud="my-api", email="bob@example.com", sub="partner-1")
    response = await env.call(token)
    assert (response.status_code, response.headers["x-auth-request-user"]) == (202, "partner-1")
    assert env.other.calls["jwks"] == 1


def _forged(env: Env) -> dict[str, str]:
    now = int(env.clock())
    good: dict[str, Any] = {"email": "ada@example.com", "email_verified": True}
    return {
        "expired": env.idp.mint_id_token(exp=now - 3600, iat=now - 7200, **good),
        "not yet valid": env.idp.mint_id_token(nbf=now + 3600, **good),
        "wrong aud": env.idp.mint_id_token(aud="someone-else", **good),
        "aud of the other issuer": env.idp.mint_id_token(aud="my-api", **good),
        "other issuer, our aud": env.other.mint_id_token(aud=env.idp.client_id, **good),
        "wrong iss": env.idp.mint_id_token(iss="https://evil.example", **good),
        "iss missing": env.idp.mint_id_token(iss=None, **good),
        "other issuer signs as ours": env.other.mint_id_token(iss=env.idp.issuer, aud="client", **good),
        "alg none": env.idp.mint_id_token(signing="none", **good),
        "HS256 keyed with the public key": env.idp.mint_id_token(signing="hs_public", **good),
        "bad signature": env.idp.mint_id_token(signing="bad_signature", **good),
        "exp missing": env.idp.mint_id_token(exp=None, **good),
        "no sub": env.idp.mint_id_token(sub=None, **good),
        "unverified e-mail": env.idp.mint_id_token(email="ada@example.com", email_verified=False),
        "truncated": env.token()[:-10],
        "not a JWT": "opaque-token-123",
        "two parts": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0",
        "huge": "eyJ" + "A" * 20000 + ".eyJ.x",
    }


FORGED = [
    "expired", "not yet valid", "wrong aud", "aud of the other issuer", "other issuer, our aud",
    "wrong iss", "iss missing", "other issuer signs as ours", "alg none",
    "HS256 keyed with the public key", "bad signature", "exp missing", "no sub", "unverified e-mail",
    "truncated", "not a JWT", "two parts", "huge",
]


@pytest.mark.parametrize("case", FORGED)
async def test_an_invalid_token_is_401_invalid_token(env: Env, case: str) -> None:
    response = await env.call(_forged(env)[case])
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == INVALID
    assert "x-auth-request-user" not in response.headers


async def test_unknown_kid_refetches_the_jwks_exactly_once(env: Env) -> None:
    assert (await env.call(env.token())).status_code == 202
    assert env.idp.calls["jwks"] == 1
    assert (await env.call(env.idp.mint_id_token(kid="forged-1"))).status_code == 401
    assert env.idp.calls["jwks"] == 2
    # more forged kids soon after: no more fetches (they cannot make us hammer the IdP)
    for i in range(5):
        assert (await env.call(env.idp.mint_id_token(kid=f"forged-{i + 2}"))).status_code == 401
    assert env.idp.calls["jwks"] == 2


async def test_a_rotated_key_is_picked_up_with_one_refetch(env: Env) -> None:
    assert (await env.call(env.token())).status_code == 202
    env.clock.advance(KID_REFETCH_INTERVAL + 1)
    env.idp.rotate_key()
    assert (await env.call(env.token())).status_code == 202
    assert env.idp.calls["jwks"] == 2


async def test_rules_apply_to_bearer_identities(env: Env) -> None:
    outsider = env.token(email="eve@other.org")
    assert (await env.call(outsider)).status_code == 403
    admin = env.token()
    assert (await env.call(admin, "/oauth2/auth?allowed_groups=admins")).status_code == 202
    assert (await env.call(admin, "/oauth2/auth?allowed_groups=ops")).status_code == 403
    assert (await env.call(env.token(email="a@evil.com@example.com"))).status_code == 403


async def test_verified_tokens_are_cached_but_never_past_exp(env: Env) -> None:
    now = int(env.clock())
    token = env.token(exp=now + 30)
    for _ in range(3):
        assert (await env.call(token)).status_code == 202
    assert env.idp.calls["jwks"] == 1 and env.idp.calls["discovery"] == 1
    env.clock.advance(31 + 60)  # past exp and the leeway
    assert (await env.call(token)).status_code == 401


async def test_a_token_that_shares_a_cached_tokens_tail_is_verified_itself(env: Env) -> None:
    """Verified tokens are remembered under their tail and length (providers/bearer.py
    `_token_key`): a forged token with the same signature and length, its claims altered, finds
    that entry and must still be judged on its own, never answered with the cached identity."""
    token = env.token(sub="ada", groups=["dev"])
    assert (await env.call(token)).status_code == 202
    header, payload, signature = token.split(".")
    middle = len(payload) // 2
    flipped = "A" if payload[middle] != "A" else "B"
    forged = f"{header}.{payload[:middle]}{flipped}{payload[middle + 1:]}.{signature}"
    assert len(forged) == len(token) and forged[-48:] == token[-48:] and forged != token
    refused = await env.call(forged)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert (await env.call(token)).status_code == 202  # the real one is still remembered
    assert env.idp.calls["jwks"] == 1


async def test_a_session_cookie_wins_over_a_foreign_bearer_token(env: Env) -> None:
    cookie = await env.app.cookie(user="ada", email="ada@example.com")
    response = await env.app.auth(cookie=cookie, headers={"Authorization": "Bearer for-the-app-itself"})
    assert (response.status_code, response.headers["x-auth-request-user"]) == (202, "ada")


async def test_bearer_tokens_are_off_by_default(idps: tuple[FakeIdP, FakeIdP, ManualClock]) -> None:
    idp, _, clock = idps
    settings = bearer_settings(idp, skip_jwt_bearer_tokens=False)
    async with AuthApp.start(settings, clock) as app:
        token = idp.mint_id_token(email="ada@example.com")
        response = await app.auth(headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert "www-authenticate" not in response.headers
    assert idp.calls["jwks"] == 0


async def test_extra_audiences_of_the_main_issuer(idps: tuple[FakeIdP, FakeIdP, ManualClock]) -> None:
    idp, _, clock = idps
    async with AuthApp.start(bearer_settings(idp, oidc_extra_audiences=["cli"]), clock) as app:
        token = idp.mint_id_token(aud="cli", email="ada@example.com")
        assert (await app.auth(headers={"Authorization": f"Bearer {token}"})).status_code == 202


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1), else None."""
    got = access_token(authorization)
    return got[1] if got is not None and got[0] == "bearer" else None


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("BEARER abc", "abc"), ("Bearer", None),
     ("Basic abc", None), ("", None), (None, None), ("Bearerabc", None)],
)
def test_bearer_token_parsing(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


# --- tokens are used only for what they are (RFC 8725 §3.11, RFC 9068, OIDC Core §3.1.3.7) ---
EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.mark.parametrize(
    "typ",
    ["logout+jwt", "application/logout+jwt", "LOGOUT+JWT", "secevent+jwt", "dpop+jwt",
     "token-introspection+jwt", "id_token+jwt", "JOSE", "jwt ", 1, ["JWT"], {"a": 1}],
)  # fmt: skip
async def test_a_token_typed_as_something_else_is_refused(env: Env, typ: Any) -> None:
    response = await env.call(env.token(jose_typ=typ))
    assert (response.status_code, response.headers["www-authenticate"]) == (401, INVALID)


@pytest.mark.parametrize("typ", [None, "", "JWT", "jwt", "application/jwt", "at+jwt",
                                 "application/at+jwt", "AT+JWT"])  # fmt: skip
async def test_access_and_id_token_types_are_accepted(env: Env, typ: str | None) -> None:
    assert (await env.call(env.token(jose_typ=typ))).status_code == 202


@pytest.mark.parametrize(
    "events",
    [{EVENT: {}}, {}, {"https://schemas.openid.net/secevent/risc/event-type/account-disabled": {}},
     "not-an-object"],
)  # fmt: skip
async def test_a_token_with_an_events_claim_is_never_a_bearer_token(env: Env, events: Any) -> None:
    """A logout token is signed by the same keys and names the same audience (typ JWT here, as
    Keycloak before 25 sent them): the events claim gives it away."""
    token = env.token(events=events, sid="sid-1", jti="j-1")
    assert (await env.call(token)).status_code == 401


@pytest.mark.parametrize(
    ("claims", "status"),
    [({}, 202), ({"azp": "client"}, 202), ({"azp": "someone-else"}, 401), ({"azp": ""}, 401),
     ({"azp": ["client"]}, 401), ({"azp": 7}, 401),
     ({"aud": ["client", "account"], "azp": "cli"}, 401),
     ({"aud": ["client", "account"], "azp": "client"}, 202)],
)  # fmt: skip
async def test_azp_when_present_names_an_accepted_audience(
    env: Env, claims: dict[str, Any], status: int
) -> None:
    assert (await env.call(env.token(**claims))).status_code == status


@pytest.mark.parametrize(("azp", "status"), [("my-api", 202), ("client", 401), ("other", 401)])
async def test_azp_of_another_issuer_is_checked_against_its_audiences(
    env: Env, azp: str, status: int
) -> None:
    token = env.other.mint_id_token(aud="my-api", azp=azp, email="bob@example.com")
    assert (await env.call(token)).status_code == status


async def test_a_client_listed_in_extra_audiences_may_be_the_azp(
    idps: tuple[FakeIdP, FakeIdP, ManualClock],
) -> None:
    idp, _, clock = idps
    async with AuthApp.start(bearer_settings(idp, oidc_extra_audiences=["cli"]), clock) as app:
        token = idp.mint_id_token(aud=["client", "account"], azp="cli", email="ada@example.com")
        assert (await app.auth(headers={"Authorization": f"Bearer {token}"})).status_code == 202


@pytest.mark.parametrize(("typ", "status"), [("at+jwt", 202), ("application/at+jwt", 202),
                                             ("JWT", 401), (None, 401), ("logout+jwt", 401)])  # fmt: skip
async def test_without_jwt_bearer_id_tokens_only_access_tokens_pass(
    idps: tuple[FakeIdP, FakeIdP, ManualClock], typ: str | None, status: int
) -> None:
    idp, _, clock = idps
    async with AuthApp.start(bearer_settings(idp, jwt_bearer_id_tokens=False), clock) as app:
        token = idp.mint_id_token(jose_typ=typ, email="ada@example.com", email_verified=True)
        assert (await app.auth(headers={"Authorization": f"Bearer {token}"})).status_code == status


@pytest.mark.parametrize("verified", [False, "false", "0", 0, "no", "f", " false", 1, "1", "yes",
                                      "true ", [], {}])  # fmt: skip
async def test_anything_but_a_true_email_verified_is_refused(env: Env, verified: Any) -> None:
    token = env.idp.mint_id_token(email="ada@example.com", email_verified=verified)
    assert (await env.call(token)).status_code == 401


@pytest.mark.parametrize("verified", [True, "true", "TRUE"])
async def test_a_true_email_verified_is_accepted(env: Env, verified: Any) -> None:
    token = env.idp.mint_id_token(email="ada@example.com", email_verified=verified)
    assert (await env.call(token)).status_code == 202
