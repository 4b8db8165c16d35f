"""OIDCProvider against the FakeIdP: login URL, code redemption, userinfo, refresh, logout."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from authsvc.config import load_settings
from authsvc.errors import ConfigError, ProviderUnavailable, TokenError
from authsvc.models import LoginState, Tokens
from authsvc.providers import create_provider
from authsvc.providers.oidc import OIDCProvider, s256_challenge
from tests.support.fake_idp import FakeIdP, ManualClock

pytestmark = pytest.mark.anyio

REDIRECT = "https://app.example.test/oauth2/callback"
LOGIN = LoginState(
    state="state-1", nonce="nonce-1", code_verifier="v" * 43, rd="/", created_at=1_700_000_000
)


@dataclass
class Env:
    idp: FakeIdP
    clock: ManualClock
    provider: OIDCProvider

    def make(self, **options: Any) -> OIDCProvider:
        """Another provider on the same IdP and clock, with other settings."""
        return OIDCProvider(settings(self.idp, **options), self.provider._http, self.clock)

    async def login(self, **user: Any) -> tuple[Any, Tokens]:
        grant = self.idp.authorize(await self.provider.login_url(LOGIN, REDIRECT), **user)
        return await self.provider.redeem(grant.code, LOGIN, REDIRECT)


def settings(idp: FakeIdP, **options: Any) -> Any:
    return load_settings(
        cookie_secret="a" * 32, client_id=idp.client_id, client_secret=idp.client_secret,
        oidc_issuer_url=idp.issuer, email_domains=["*"], **options,
    )


@pytest.fixture
async def env(fake_idp: FakeIdP) -> AsyncIterator[Env]:
    clock = ManualClock()
    fake_idp.clock = clock
    async with httpx.AsyncClient() as http:
        yield Env(fake_idp, clock, OIDCProvider(settings(fake_idp), http, clock))


async def test_login_url_carries_state_nonce_and_pkce(env: Env) -> None:
    url = await env.provider.login_url(LOGIN, REDIRECT)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert url.startswith(env.idp.url("authorize") + "?")
    assert query == {
        "response_type": "code", "client_id": "client", "redirect_uri": REDIRECT,
        "scope": "openid email profile", "state": "state-1", "nonce": "nonce-1",
        "code_challenge": s256_challenge(LOGIN.code_verifier), "code_challenge_method": "S256",
    }


def test_s256_matches_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


async def test_redeem_returns_identity_and_tokens(env: Env) -> None:
    identity, tokens = await env.login(
        sub="u-42", email="ada@example.com", groups=["admins", "dev"],
        preferred_username="ada", sid="s-1",
    )
    assert (identity.user, identity.email, identity.groups) == ("u-42", "ada@example.com",
                                                                 ("admins", "dev"))
    assert (identity.subject, identity.sid, identity.preferred_username) == ("u-42", "s-1", "ada")
    assert identity.email_verified is True
    assert tokens.access_token and tokens.refresh_token and tokens.id_token
    assert tokens.expires_at == int(env.clock()) + 3600
    assert env.idp.calls["userinfo"] == 0  # the ID token had everything


async def test_client_secret_post_when_basic_is_not_offered(env: Env) -> None:
    env.idp.discovery_overrides["token_endpoint_auth_methods_supported"] = ["client_secret_post"]
    identity, _ = await env.login()
    assert identity.user == "user-1"


async def test_a_code_is_single_use(env: Env) -> None:
    grant = env.idp.authorize(await env.provider.login_url(LOGIN, REDIRECT))
    await env.provider.redeem(grant.code, LOGIN, REDIRECT)
    with pytest.raises(TokenError, match="invalid_grant"):
        await env.provider.redeem(grant.code, LOGIN, REDIRECT)


async def test_fake_idp_catches_a_wrong_code_verifier(env: Env) -> None:
    grant = env.idp.authorize(await env.provider.login_url(LOGIN, REDIRECT))
    other = LoginState("state-1", "nonce-1", "w" * 43, "/", 0)
    with pytest.raises(AssertionError, match="code_verifier"):
        await env.provider.redeem(grant.code, other, REDIRECT)
    env.idp.errors.clear()
    env.idp.strict = False
    grant = env.idp.authorize(await env.provider.login_url(LOGIN, REDIRECT))
    with pytest.raises(TokenError, match="invalid_grant"):
        await env.provider.redeem(grant.code, other, REDIRECT)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "https://evil.example.test"}, "iss"),
        ({"aud": "someone-else"}, "aud"),
        ({"nonce": "replayed"}, "nonce"),
        ({"exp": 1_700_000_000 - 3600}, "exp"),
        ({"signing": "bad_signature"}, "signature"),
        ({"signing": "none"}, "alg"),
        ({"signing": "hs_public"}, "alg"),
        ({"kid": "unknown"}, "kid"),
    ],
    ids=["iss", "aud", "nonce", "expired", "bad-signature", "alg-none", "hs256-public", "kid"],
)
async def test_redeem_rejects_a_bad_id_token(env: Env, overrides: dict[str, Any], reason: str) -> None:
    env.idp.id_token_overrides.update(overrides)
    with pytest.raises(TokenError, match=reason):
        await env.login()


async def test_redeem_requires_an_id_token(env: Env) -> None:
    env.idp.token_overrides["id_token"] = None
    with pytest.raises(TokenError, match="no id_token"):
        await env.login()


async def test_unverified_email_is_refused_unless_allowed(env: Env) -> None:
    with pytest.raises(TokenError, match="email_verified"):
        await env.login(email_verified=False)
    env.provider = env.make(insecure_oidc_allow_unverified_email=True)
    identity, _ = await env.login(email_verified=False)
    assert identity.email_verified is False


async def test_userinfo_fills_in_missing_email_and_groups(env: Env) -> None:
    identity, _ = await env.login(
        email="bob@example.com", groups=["ops"], userinfo_only={"email", "groups"}
    )
    assert (identity.email, identity.groups) == ("bob@example.com", ("ops",))
    assert env.idp.calls["userinfo"] == 1


async def test_userinfo_for_another_subject_is_refused(env: Env) -> None:
    env.idp.userinfo_overrides["sub"] = "someone-else"
    with pytest.raises(TokenError, match="sub"):
        await env.login(userinfo_only={"email"})


@pytest.mark.parametrize("status", [503, 500, 0], ids=["503", "500", "connect-error"])
async def test_token_endpoint_outage_is_provider_unavailable(env: Env, status: int) -> None:
    env.idp.fail_next(1, status=status, endpoint="token")
    with pytest.raises(ProviderUnavailable):
        await env.login()


async def test_refresh_gives_new_tokens_and_identity(env: Env) -> None:
    _, tokens = await env.login(email="ada@example.com")
    env.clock.advance(600)
    identity, new = await env.provider.refresh(tokens)
    assert identity is not None and identity.email == "ada@example.com"
    assert new.refresh_token != tokens.refresh_token  # the fake rotates by default
    assert new.access_token != tokens.access_token
    assert new.expires_at == int(env.clock()) + 3600


async def test_refresh_without_id_token_or_rotation_keeps_the_old_ones(env: Env) -> None:
    _, tokens = await env.login()
    env.idp.id_token_on_refresh = False
    env.idp.rotate_refresh_tokens = False
    identity, new = await env.provider.refresh(tokens)
    assert identity is None
    assert (new.id_token, new.refresh_token) == (tokens.id_token, tokens.refresh_token)


async def test_refresh_refuses_an_id_token_for_another_subject(env: Env) -> None:
    _, tokens = await env.login()
    env.idp.id_token_overrides["sub"] = "someone-else"
    with pytest.raises(TokenError, match="subject"):
        await env.provider.refresh(tokens)


@pytest.mark.parametrize("error", ["invalid_grant", "invalid_client"])
async def test_refresh_refused_is_token_error(env: Env, error: str) -> None:
    _, tokens = await env.login()
    env.idp.refresh_error = error
    with pytest.raises(TokenError, match=error):
        await env.provider.refresh(tokens)


async def test_refresh_during_outage_is_provider_unavailable(env: Env) -> None:
    _, tokens = await env.login()
    env.idp.fail_next(1, status=503, endpoint="token")
    with pytest.raises(ProviderUnavailable):
        await env.provider.refresh(tokens)


async def test_end_session_url(env: Env) -> None:
    url = await env.provider.end_session_url("the.id.token", "https://app.example.test/bye")
    assert url is not None
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(env.idp.url("logout") + "?")
    assert query == {"client_id": "client", "id_token_hint": "the.id.token",
                     "post_logout_redirect_uri": "https://app.example.test/bye"}
    env.idp.discovery_overrides["end_session_endpoint"] = None
    assert await env.make().end_session_url("t", "https://app.example.test/") is None


async def test_nothing_is_fetched_until_ready(env: Env) -> None:
    assert sum(env.idp.calls.values()) == 0
    await env.provider.ready()
    assert (env.idp.calls["discovery"], env.idp.calls["jwks"]) == (1, 1)


async def test_ready_fails_while_the_idp_was_never_reachable(env: Env) -> None:
    env.idp.fail_next(1, status=503, endpoint="discovery")
    with pytest.raises(ProviderUnavailable):
        await env.provider.ready()
    await env.provider.ready()


async def test_create_provider(fake_idp: FakeIdP) -> None:
    async with httpx.AsyncClient() as http:
        assert isinstance(create_provider(settings(fake_idp), http, ManualClock()), OIDCProvider)
        with pytest.raises(ConfigError, match=r"provider.*'nope'.*oidc"):
            create_provider(settings(fake_idp, provider="nope"), http, ManualClock())
