"""BitbucketProvider against FakeBitbucket: login URL, code exchange, API calls, workspace and
repository checks, refresh; then the whole login through the app."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from authsvc.config import Settings, load_settings
from authsvc.errors import ClientRejected, ConfigError, ProviderUnavailable, TokenError
from authsvc.models import Identity, Tokens
from authsvc.providers import create_provider
from authsvc.providers.bitbucket import BitbucketProvider
from authsvc.providers.oidc import s256_challenge
from tests.support.app_driver import REDIRECT_URI, app_driver, callback_url
from tests.support.fake_bitbucket import BitbucketAccount, FakeBitbucket
from tests.support.fake_idp import ManualClock
from tests.support.provider_login import LOGIN, redeem_login

pytestmark = pytest.mark.anyio

ADA = "ada@example.com"


def settings(**options: Any) -> Settings:
    base: dict[str, Any] = {
        "provider": "bitbucket", "cookie_secret": "a" * 32, "client_id": "consumer-key",
        "client_secret": "consumer-secret", "email_domains": ["*"],
    }
    return load_settings(**{**base, **options})


async def login(
    bitbucket: FakeBitbucket, http: httpx.AsyncClient, account: BitbucketAccount, grant: str = "",
    clock: ManualClock | None = None, **options: Any,
) -> tuple[Identity, Tokens]:
    provider = BitbucketProvider(settings(**options), http, clock or ManualClock())
    return await redeem_login(provider, lambda url: bitbucket.authorize(url, account, grant).code)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def test_login_url_has_state_pkce_and_oauth2_proxys_scopes(http: httpx.AsyncClient) -> None:
    url = await BitbucketProvider(settings(), http, ManualClock()).login_url(LOGIN, REDIRECT_URI)
    assert url.startswith("https://bitbucket.org/site/oauth2/authorize?")
    assert query(url) == {
        "response_type": "code", "client_id": "consumer-key", "redirect_uri": REDIRECT_URI,
        "scope": "email", "state": "state-1", "code_challenge": s256_challenge(LOGIN.code_verifier),
        "code_challenge_method": "S256",
    }
    both = BitbucketProvider(settings(bitbucket_team="acme", bitbucket_repository="acme/site"), http,
                             ManualClock())
    assert query(await both.login_url(LOGIN, REDIRECT_URI))["scope"] == "email team repository"


async def test_identity_from_the_api(fake_bitbucket: FakeBitbucket, http: httpx.AsyncClient) -> None:
    clock = ManualClock()
    identity, tokens = await login(fake_bitbucket, http, BitbucketAccount(), clock=clock)
    uuid = "{7b8f5a0e-1c2d-4e3f-9a8b-0c1d2e3f4a5b}"  # the user: a nickname is not unique
    assert identity == Identity(user=uuid, email=ADA, preferred_username="ada", email_verified=True,
                                subject=uuid)
    assert tokens.refresh_token and tokens.expires_at == int(clock()) + 7200
    # no restriction configured: no workspace or repository is asked about
    assert [r.url.path for r in fake_bitbucket.api_requests] == ["/2.0/user", "/2.0/user/emails"]
    for request in fake_bitbucket.api_requests:
        assert request.headers["authorization"] == f"Bearer {tokens.access_token}"
        assert tokens.access_token not in str(request.url)


async def test_the_team_is_a_workspace_asked_of_user_workspaces(
    fake_bitbucket: FakeBitbucket, http: httpx.AsyncClient
) -> None:
    account = BitbucketAccount(workspaces=["other", "acme"])
    identity, _ = await login(fake_bitbucket, http, account, bitbucket_team="acme")
    assert identity.preferred_username == "ada"
    asked = [r for r in fake_bitbucket.api_requests if r.url.path == "/2.0/user/workspaces"]
    assert [r.url.params["q"] for r in asked] == ['workspace.slug="acme"']


async def test_the_repository_needs_write_access(
    fake_bitbucket: FakeBitbucket, http: httpx.AsyncClient
) -> None:
    account = BitbucketAccount(repositories={"acme/site": "write"})
    await login(fake_bitbucket, http, account, bitbucket_repository="acme/site")
    asked = [r for r in fake_bitbucket.api_requests if r.url.path.startswith("/2.0/repositories/")]
    assert [(r.url.path, r.url.params["role"], r.url.params["q"]) for r in asked] == [
        ("/2.0/repositories/acme", "contributor", 'full_name="acme/site"')]


@pytest.mark.parametrize(
    ("account", "options", "reason"),
    [
        (BitbucketAccount(workspaces=["acme-evil"]), {"bitbucket_team": "acme"},
         "not a member of bitbucket_team 'acme'"),
        (BitbucketAccount(repositories={"acme/site": "read"}), {"bitbucket_repository": "acme/site"},
         "no write access to bitbucket_repository 'acme/site'"),
        (BitbucketAccount(workspaces=["acme"], repositories={"acme/other": "admin"}),
         {"bitbucket_team": "acme", "bitbucket_repository": "acme/site"}, "no write access"),
        (BitbucketAccount(emails=[{"email": ADA, "is_primary": True, "is_confirmed": False}]), {},
         "no confirmed primary e-mail"),
        (BitbucketAccount(emails=[{"email": ADA, "is_primary": False, "is_confirmed": True}]), {},
         "no confirmed primary e-mail"),
    ],
    ids=["team", "repo-read-only", "team-ok-repo-not", "unconfirmed-email", "no-primary"],
)
async def test_refusals(
    fake_bitbucket: FakeBitbucket, http: httpx.AsyncClient, account: BitbucketAccount,
    options: dict[str, Any], reason: str,
) -> None:
    with pytest.raises(TokenError, match=reason):
        await login(fake_bitbucket, http, account, **options)


async def test_a_consumer_without_the_permission_says_so(
    fake_bitbucket: FakeBitbucket, http: httpx.AsyncClient
) -> None:
    # the consumer lacks "Workspace membership: Read": Bitbucket grants no team scope
    with pytest.raises(TokenError, match=r"HTTP 403.*team"):
        await login(fake_bitbucket, http, BitbucketAccount(workspaces=["acme"]), grant="email",
                    bitbucket_team="acme")


async def test_e_mails_are_read_across_pages(fake_bitbucket: FakeBitbucket, http: httpx.AsyncClient) -> None:
    fake_bitbucket.max_pagelen = 2
    emails = [{"email": f"a{i}@example.org", "is_primary": False, "is_confirmed": True} for i in range(4)]
    account = BitbucketAccount(emails=[*emails, {"email": ADA, "is_primary": True, "is_confirmed": True}])
    identity, _ = await login(fake_bitbucket, http, account)
    assert identity.email == ADA
    pages = [r.url.params.get("page") for r in fake_bitbucket.api_requests
             if r.url.path == "/2.0/user/emails"]
    assert pages == [None, "2", "3"]


async def test_a_next_page_on_another_host_is_not_followed(
    fake_bitbucket: FakeBitbucket, http: httpx.AsyncClient
) -> None:
    fake_bitbucket.max_pagelen = 1
    fake_bitbucket.next_override = "https://evil.example/2.0/user/emails?page=2"
    with pytest.raises(TokenError, match="no confirmed primary"):  # the primary is on page 2
        await login(fake_bitbucket, http, BitbucketAccount())
    assert fake_bitbucket.calls["/user/emails"] == 1  # the token never went to evil.example


async def test_a_wrong_consumer_secret_is_the_operators_problem(
    fake_bitbucket: FakeBitbucket, http: httpx.AsyncClient
) -> None:
    with pytest.raises(ClientRejected, match="invalid_client"):
        await login(fake_bitbucket, http, BitbucketAccount(), client_secret="wrong")


@pytest.mark.parametrize("status", [429, 502])
async def test_api_outage_is_provider_unavailable(
    fake_bitbucket: FakeBitbucket, http: httpx.AsyncClient, status: int
) -> None:
    provider = BitbucketProvider(settings(), http, ManualClock())
    fake_bitbucket.fail_next(1, status)
    token = fake_bitbucket.token_for(BitbucketAccount())
    with pytest.raises(ProviderUnavailable):
        await provider._identity(token)


async def test_refresh_checks_the_workspace_again(
    fake_bitbucket: FakeBitbucket, http: httpx.AsyncClient
) -> None:
    account = BitbucketAccount(workspaces=["acme"])
    provider = BitbucketProvider(settings(bitbucket_team="acme"), http, ManualClock())
    _, tokens = await redeem_login(provider, lambda url: fake_bitbucket.authorize(url, account).code)
    identity, new = await provider.refresh(tokens)
    assert identity is not None and identity.email == ADA and new.access_token != tokens.access_token
    account.workspaces.clear()  # removed from the workspace since: the next refresh refuses
    with pytest.raises(TokenError, match="bitbucket_team"):
        await provider.refresh(new)


async def test_factory_knows_bitbucket(http: httpx.AsyncClient) -> None:
    provider = create_provider(settings(), http, ManualClock())
    assert isinstance(provider, BitbucketProvider)
    assert await provider.end_session_url("", "https://app.example.test/") is None


@pytest.mark.parametrize(("options", "message"), [
    ({"bitbucket_team": 'acme" OR 1'}, r"bitbucket_team .*not a Bitbucket workspace id"),
    ({"bitbucket_repository": "site"}, r"bitbucket_repository .*workspace/repository"),
    ({"bitbucket_repository": 'acme/x"'}, r"bitbucket_repository .*workspace/repository"),
    ({"client_secret": "", "jwt_key_file": "/k.pem"}, r"jwt_key .*not used by provider 'bitbucket'"),
])
def test_bad_values_name_the_option(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(**options)


# --- through the ASGI app ---------------------------------------------------------------
def bitbucket_user(bitbucket: FakeBitbucket, account: BitbucketAccount) -> Any:
    """The browser's trip through Bitbucket: grant access, come back with the code."""
    def idp(login_url: str) -> str:
        grant = bitbucket.authorize(login_url, account)
        return callback_url(login_url, grant.code, grant.state)
    return idp


async def test_app_login_then_auth_202(fake_bitbucket: FakeBitbucket, http: httpx.AsyncClient) -> None:
    account = BitbucketAccount(workspaces=["acme"], repositories={"acme/site": "admin"})
    s = settings(bitbucket_team="acme", bitbucket_repository="acme/site", email_domains=["example.com"])
    async with app_driver(s, http, ManualClock()) as browser:
        assert (await browser.auth()).status_code == 401
        callback = await browser.login(bitbucket_user(fake_bitbucket, account))
        assert callback.status_code == 302 and callback.headers["location"] == "/dashboard"
        auth = await browser.auth()
    assert auth.status_code == 202
    assert auth.headers["x-auth-request-user"] == BitbucketAccount().uuid
    assert auth.headers["x-auth-request-email"] == ADA
    assert auth.headers["x-auth-request-preferred-username"] == "ada"


async def test_app_refused_team_is_a_403_with_the_reason_logged(
    fake_bitbucket: FakeBitbucket, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="authsvc")
    async with app_driver(settings(bitbucket_team="acme"), http, ManualClock()) as browser:
        callback = await browser.login(bitbucket_user(fake_bitbucket, BitbucketAccount(workspaces=["x"])))
        assert callback.status_code == 403
        assert (await browser.auth()).status_code == 401  # no session was written
    assert "not a member of bitbucket_team 'acme'" in caplog.text
    assert "consumer-secret" not in caplog.text
