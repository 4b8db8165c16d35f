"""GitHubProvider against FakeGitHub: login URL, code exchange, API calls, restrictions, refresh."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from authsvc.config import Settings, load_settings
from authsvc.errors import ProviderUnavailable, TokenError
from authsvc.models import Identity, Tokens
from authsvc.providers import create_provider
from authsvc.providers.github import GitHubProvider
from authsvc.providers.oidc import s256_challenge
from tests.support.app_driver import REDIRECT_URI, app_driver, callback_url
from tests.support.fake_github import FakeGitHub, GitHubAccount
from tests.support.fake_idp import ManualClock
from tests.support.provider_login import LOGIN, redeem_login

pytestmark = pytest.mark.anyio



def settings(**options: Any) -> Settings:
    base: dict[str, Any] = {
        "provider": "github", "cookie_secret": "a" * 32, "client_id": "client",
        "client_secret": "secret", "email_domains": ["*"],
    }
    return load_settings(**{**base, **options})


async def login(
    github: FakeGitHub, http: httpx.AsyncClient, account: GitHubAccount, **options: Any
) -> tuple[Identity, Tokens]:
    provider = GitHubProvider(settings(**options), http, ManualClock())
    return await redeem_login(provider, lambda url: github.authorize(url, account).code)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def test_login_url_has_state_pkce_and_least_scope(http: httpx.AsyncClient) -> None:
    url = await GitHubProvider(settings(), http, ManualClock()).login_url(LOGIN, REDIRECT_URI)
    assert url.startswith("https://github.com/login/oauth/authorize?")
    assert query(url) == {
        # RFC 6749 §4.1.1 requires response_type; GitHub accepts it (and does not need it)
        "response_type": "code",
        "client_id": "client", "redirect_uri": REDIRECT_URI, "scope": "user:email",
        "state": "state-1", "code_challenge": s256_challenge(LOGIN.code_verifier),
        "code_challenge_method": "S256",
    }
    with_org = GitHubProvider(settings(github_org="acme"), http, ManualClock())
    assert query(await with_org.login_url(LOGIN, REDIRECT_URI))["scope"] == "user:email read:org"
    explicit = GitHubProvider(settings(scope="read:user user:email"), http, ManualClock())
    assert query(await explicit.login_url(LOGIN, REDIRECT_URI))["scope"] == "read:user user:email"


async def test_identity_from_the_api(fake_github: FakeGitHub, http: httpx.AsyncClient) -> None:
    account = GitHubAccount(orgs=["acme"], teams=[("acme", "ops"), ("other", "dev")])
    identity, tokens = await login(fake_github, http, account, scope="user:email read:org")
    assert identity == Identity(
        user="octocat", email="octocat@example.com", groups=("acme", "acme:ops", "other:dev"),
        preferred_username="octocat", email_verified=True, subject="583231",
    )
    assert tokens.access_token.startswith("gho_") and not tokens.refresh_token
    assert tokens.expires_at == 0  # OAuth App tokens do not expire
    # every API call: the documented media type, API version and the user's token
    assert {r.url.path for r in fake_github.api_requests} == {
        "/user", "/user/emails", "/user/orgs", "/user/teams"}
    for request in fake_github.api_requests:
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"
        assert request.headers["authorization"] == f"Bearer {tokens.access_token}"


async def test_without_read_org_no_orgs_or_teams_are_asked(
    fake_github: FakeGitHub, http: httpx.AsyncClient
) -> None:
    identity, _ = await login(fake_github, http, GitHubAccount(orgs=["acme"]))
    assert identity.groups == ()
    assert fake_github.calls["/user/orgs"] == fake_github.calls["/user/teams"] == 0


async def test_teams_are_read_across_link_pages(fake_github: FakeGitHub, http: httpx.AsyncClient) -> None:
    fake_github.max_per_page = 2
    teams = [("acme", f"team-{i}") for i in range(5)]
    identity, _ = await login(fake_github, http, GitHubAccount(teams=teams), github_team=["acme:team-4"])
    assert fake_github.calls["/user/teams"] == 3  # 2 + 2 + 1, following rel="next"
    pages = [r.url.params for r in fake_github.api_requests if r.url.path == "/user/teams"]
    assert [(p["per_page"], p.get("page")) for p in pages] == [("100", None), ("100", "2"), ("100", "3")]
    assert identity.groups[-1] == "acme:team-4"


async def test_a_next_page_on_another_host_is_not_followed(
    fake_github: FakeGitHub, http: httpx.AsyncClient
) -> None:
    fake_github.link_override = '<https://evil.example/user/teams?page=2>; rel="next"'
    identity, _ = await login(fake_github, http, GitHubAccount(teams=[("o", "a")]),
                              scope="user:email read:org")
    assert identity.groups == ("o:a",)
    assert fake_github.calls["/user/teams"] == 1  # the token never went to evil.example


ACME = {"github_org": "acme"}


@pytest.mark.parametrize(
    ("account", "options", "reason"),
    [
        (GitHubAccount(orgs=["other"]), ACME, "not a member of github_org 'acme'"),
        (GitHubAccount(orgs=["acme"], teams=[("acme", "dev")]), {**ACME, "github_team": ["ops"]},
         "none of the teams in github_team"),
        (GitHubAccount(teams=[("other", "ops")]), {"github_team": ["acme:ops"]},
         "none of the teams in github_team"),
        (GitHubAccount(repos={"acme/app": {"private": False, "permissions": {"pull": True, "push": False}}}),
         {"github_repo": "acme/app"}, "may not use github_repo 'acme/app'"),
        (GitHubAccount(), {"github_repo": "acme/secret"}, "may not use github_repo"),
        (GitHubAccount(), {"github_repo": "acme/app", "github_token": "ghp_service"},
         "may not use github_repo"),
        (GitHubAccount(), {"github_user": ["someone"]}, "not listed in github_user"),
        (GitHubAccount(emails=[{"email": "o@example.com", "primary": True, "verified": False}]), {},
         "no verified primary e-mail"),
    ],
    ids=["org", "team-in-org", "org-team", "public-repo-pull-only", "private-repo-invisible",
         "not-collaborator", "user-list", "unverified-email"],
)
async def test_denials(
    fake_github: FakeGitHub, http: httpx.AsyncClient, account: GitHubAccount,
    options: dict[str, Any], reason: str,
) -> None:
    with pytest.raises(TokenError, match=reason):
        await login(fake_github, http, account, **options)


@pytest.mark.parametrize(
    ("account", "options"),
    [
        (GitHubAccount(orgs=["ACME"]), ACME),
        (GitHubAccount(teams=[("acme", "ops")]), {**ACME, "github_team": ["ops", "dev"]}),
        (GitHubAccount(repos={"acme/app": {"private": True, "permissions": {"pull": True}}}),
         {"github_repo": "acme/app"}),
        (GitHubAccount(repos={"acme/app": {"private": False, "permissions": {"push": True}}}),
         {"github_repo": "acme/app"}),
        (GitHubAccount(orgs=["other"]), {**ACME, "github_user": ["OctoCat"]}),
    ],
    ids=["org-case-insensitive", "team", "private-repo-pull", "public-repo-push", "user-bypass"],
)
async def test_allowed(
    fake_github: FakeGitHub, http: httpx.AsyncClient, account: GitHubAccount, options: dict[str, Any]
) -> None:
    identity, _ = await login(fake_github, http, account, **options)
    assert identity.user == "octocat"


@pytest.mark.parametrize(("scope", "options", "needed"), [
    ("user:email", {"github_org": "acme"}, "read:org"),
    ("read:org", {}, "user:email"),
])
async def test_a_scope_too_small_for_the_options_says_so(
    fake_github: FakeGitHub, http: httpx.AsyncClient, scope: str, options: dict[str, Any], needed: str
) -> None:
    with pytest.raises(TokenError, match=f"does the scope include {needed}"):
        await login(fake_github, http, GitHubAccount(orgs=["acme"]), scope=scope, **options)


async def test_repo_collaborator_is_asked_with_github_token(
    fake_github: FakeGitHub, http: httpx.AsyncClient
) -> None:
    fake_github.collaborators["acme/app"] = {"octocat"}
    await login(fake_github, http, GitHubAccount(), github_repo="acme/app", github_token="ghp_service")
    asked = [r for r in fake_github.api_requests if "collaborators" in r.url.path]
    assert [r.url.path for r in asked] == ["/repos/acme/app/collaborators/octocat"]
    assert asked[0].headers["authorization"] == "Bearer ghp_service"


@pytest.mark.parametrize("status", [403, 502, 0], ids=["rate-limit", "5xx", "connect"])
async def test_api_outage_is_provider_unavailable(
    fake_github: FakeGitHub, http: httpx.AsyncClient, status: int
) -> None:
    provider = GitHubProvider(settings(), http, ManualClock())
    token = fake_github.token_for(GitHubAccount())
    if status == 403:
        fake_github.rate_limited = True
    else:
        fake_github.fail_next(1, status)
    with pytest.raises(ProviderUnavailable):
        await provider.refresh(Tokens(access_token=token))


@pytest.mark.parametrize(("code", "client_secret", "error"), [
    ("unknown", "secret", "bad_verification_code"),
    (None, "wrong", "incorrect_client_credentials"),
])
async def test_token_endpoint_errors_are_token_errors(
    fake_github: FakeGitHub, http: httpx.AsyncClient, code: str | None, client_secret: str, error: str
) -> None:
    provider = GitHubProvider(settings(client_secret=client_secret), http, ManualClock())
    grant = fake_github.authorize(await provider.login_url(LOGIN, REDIRECT_URI), GitHubAccount())
    with pytest.raises(TokenError, match=error):
        await provider.redeem(code or grant.code, LOGIN, REDIRECT_URI)


async def test_refresh_of_expiring_tokens_and_recheck(
    fake_github: FakeGitHub, http: httpx.AsyncClient
) -> None:
    fake_github.expiring_tokens = True
    clock = ManualClock()
    account = GitHubAccount(orgs=["acme"])
    provider = GitHubProvider(settings(**ACME), http, clock)
    grant = fake_github.authorize(await provider.login_url(LOGIN, REDIRECT_URI), account)
    _, tokens = await provider.redeem(grant.code, LOGIN, REDIRECT_URI)
    assert tokens.refresh_token.startswith("ghr_") and tokens.expires_at == int(clock()) + 28800
    identity, new = await provider.refresh(tokens)
    assert identity is not None and identity.user == "octocat"
    assert new.access_token != tokens.access_token and new.refresh_token != tokens.refresh_token
    account.orgs.clear()  # removed from the org since: the next refresh refuses
    with pytest.raises(TokenError, match="github_org"):
        await provider.refresh(new)


async def test_github_enterprise_server_urls(http: httpx.AsyncClient) -> None:
    ghes = FakeGitHub(base_url="https://ghe.example.test", api_url="https://ghe.example.test/api/v3")
    with respx.mock(assert_all_mocked=True) as router:
        ghes.mount(router)
        identity, _ = await login(ghes, http, GitHubAccount(), github_base_url="https://ghe.example.test/")
    assert identity.user == "octocat"
    assert {str(r.url.copy_with(query=None)) for r in ghes.api_requests} == {
        "https://ghe.example.test/api/v3/user", "https://ghe.example.test/api/v3/user/emails"}
    assert not ghes.errors


async def test_factory_knows_github(http: httpx.AsyncClient) -> None:
    provider = create_provider(settings(), http, ManualClock())
    assert isinstance(provider, GitHubProvider)
    assert await provider.end_session_url("", "https://app.example.test/") is None


# --- through the ASGI app ---------------------------------------------------------------
def github_user(github: FakeGitHub, account: GitHubAccount) -> Any:
    """The browser's trip through GitHub: approve the app, come back with the code."""
    def idp(login_url: str) -> str:
        grant = github.authorize(login_url, account)
        return callback_url(login_url, grant.code, grant.state)
    return idp


async def test_app_login_then_auth_202(fake_github: FakeGitHub, http: httpx.AsyncClient) -> None:
    account = GitHubAccount(orgs=["acme"], teams=[("acme", "ops")])
    s = settings(github_org="acme", github_team=["ops"])
    async with app_driver(s, http, ManualClock()) as browser:
        assert (await browser.auth()).status_code == 401
        callback = await browser.login(github_user(fake_github, account))
        assert callback.status_code == 302 and callback.headers["location"] == "/dashboard"
        auth = await browser.auth()
    assert auth.status_code == 202
    assert auth.headers["x-auth-request-user"] == "octocat"
    assert auth.headers["x-auth-request-email"] == "octocat@example.com"
    assert auth.headers["x-auth-request-groups"] == "acme,acme:ops"


async def test_app_denial_is_a_403_page_with_the_reason_logged(
    fake_github: FakeGitHub, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="authsvc")
    async with app_driver(settings(github_org="acme"), http, ManualClock()) as browser:
        callback = await browser.login(github_user(fake_github, GitHubAccount(orgs=["other"])))
        assert callback.status_code == 403
        assert (await browser.auth()).status_code == 401  # no session was written
    assert "not a member of github_org 'acme'" in caplog.text
    assert "gho_" not in caplog.text  # tokens are never logged
