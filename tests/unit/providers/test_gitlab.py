"""GitLabProvider: OIDC at the instance URL, groups from userinfo, projects from the REST API."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from authsvc.config import Settings, load_settings
from authsvc.errors import ProviderUnavailable, TokenError
from authsvc.models import Identity
from authsvc.providers import create_provider
from authsvc.providers.gitlab import GitLabProvider
from tests.support.app_driver import REDIRECT_URI, app_driver
from tests.support.fake_idp import ManualClock
from tests.support.provider_login import LOGIN, redeem_login
from tests.unit.providers.conftest import GitLab

pytestmark = pytest.mark.anyio

BASE_URL = "https://gitlab.example.test"


def settings(**options: Any) -> Settings:
    base: dict[str, Any] = {"provider": "gitlab", "cookie_secret": "a" * 32, "client_id": "client",
                            "client_secret": "secret", "email_domains": ["*"],
                            "gitlab_base_url": BASE_URL + "/"}
    return load_settings(**{**base, **options})


def gitlab_user(groups: list[str], **claims: Any) -> dict[str, Any]:
    """GitLab's claims: `groups_direct` in the ID token, `groups` only from userinfo."""
    direct = [g for g in groups if "/" not in g]
    return {"sub": "1234", "email": "ada@example.com", "preferred_username": "ada",
            "groups": groups, "groups_direct": direct, "userinfo_only": {"groups"}, **claims}


async def login(gl: GitLab, http: httpx.AsyncClient, user: dict[str, Any], **options: Any) -> Identity:
    clock = ManualClock()
    gl.idp.clock = clock
    provider = GitLabProvider(settings(**options), http, clock)
    identity, _ = await redeem_login(provider, lambda url: gl.idp.authorize(url, **user).code)
    return identity


async def test_scopes_and_self_hosted_issuer(fake_gitlab: GitLab, http: httpx.AsyncClient) -> None:
    plain = httpx.URL(await GitLabProvider(settings(), http, ManualClock()).login_url(LOGIN, REDIRECT_URI))
    assert str(plain).startswith(f"{BASE_URL}/authorize?")
    assert plain.params["scope"] == "openid email profile"
    with_projects = GitLabProvider(settings(gitlab_project=["acme/app"]), http, ManualClock())
    url = httpx.URL(await with_projects.login_url(LOGIN, REDIRECT_URI))
    assert url.params["scope"] == "openid email profile read_api"


async def test_groups_come_from_userinfo(fake_gitlab: GitLab, http: httpx.AsyncClient) -> None:
    identity = await login(fake_gitlab, http, gitlab_user(["acme", "acme/ops"]), gitlab_group=["acme/ops"])
    assert identity.groups == ("acme", "acme/ops")
    assert fake_gitlab.idp.calls["userinfo"] == 1


async def test_project_membership_becomes_a_group(fake_gitlab: GitLab, http: httpx.AsyncClient) -> None:
    fake_gitlab.api.projects["acme/app"] = {"1234": (30, None)}
    fake_gitlab.api.projects["acme/infra"] = {"1234": (None, 40)}
    identity = await login(fake_gitlab, http, gitlab_user([]),
                           gitlab_project=["acme/app", "acme/infra=40", "acme/other"])
    assert identity.groups == ("project:acme/app", "project:acme/infra")
    [request, *_] = fake_gitlab.api.requests
    assert request.url.raw_path == b"/api/v4/projects/acme%2Fapp"
    assert request.headers["authorization"].startswith("Bearer ")


@pytest.mark.parametrize(
    ("user", "projects", "options"),
    [
        (gitlab_user(["other"]), {}, {"gitlab_group": ["acme"]}),
        (gitlab_user(["acme-evil", "acme2/ops"]), {}, {"gitlab_group": ["acme"]}),
        # userinfo's `groups` decides, not the ID token's groups_direct
        ({**gitlab_user(["other"]), "groups_direct": ["acme"]}, {}, {"gitlab_group": ["acme"]}),
        (gitlab_user([]), {"acme/app": {"1234": (10, None)}}, {"gitlab_project": ["acme/app"]}),
        (gitlab_user([]), {"acme/app": {"someone-else": (50, None)}}, {"gitlab_project": ["acme/app=10"]}),
        (gitlab_user([]), {"acme/app": {"1234": (50, None)}},
         {"gitlab_project": ["acme/app"], "archived": True}),
    ],
    ids=["other-group", "prefix-is-not-membership", "groups-direct-ignored", "guest-below-reporter",
         "not-a-member", "archived"],
)
async def test_denials(
    fake_gitlab: GitLab, http: httpx.AsyncClient, user: dict[str, Any],
    projects: dict[str, Any], options: dict[str, Any],
) -> None:
    fake_gitlab.api.projects.update(projects)
    if options.pop("archived", False):
        fake_gitlab.api.archived.add("acme/app")
    with pytest.raises(TokenError, match="GitLab user 'ada' is in none of gitlab_group / gitlab_project"):
        await login(fake_gitlab, http, user, **options)


async def test_group_or_project_is_enough(fake_gitlab: GitLab, http: httpx.AsyncClient) -> None:
    fake_gitlab.api.projects["acme/app"] = {"1234": (20, None)}
    options = {"gitlab_group": ["ops"], "gitlab_project": ["acme/app"]}
    identity = await login(fake_gitlab, http, gitlab_user(["other"]), **options)
    assert identity.groups == ("other", "project:acme/app")


@pytest.mark.parametrize(("status", "error"), [(503, ProviderUnavailable), (403, TokenError)])
async def test_project_api_failures(
    fake_gitlab: GitLab, http: httpx.AsyncClient, status: int, error: type[Exception]
) -> None:
    fake_gitlab.api.status = status
    with pytest.raises(error, match="GitLab API /projects"):
        await login(fake_gitlab, http, gitlab_user([]), gitlab_project=["acme/app"])


async def test_app_denial_is_403_with_reason_logged(
    fake_gitlab: GitLab, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="authsvc")
    clock = ManualClock()
    fake_gitlab.idp.clock = clock
    async with app_driver(settings(gitlab_group=["acme"]), http, clock) as browser:
        denied = await browser.login(lambda url: fake_gitlab.idp.callback_url(url, **gitlab_user(["x"])))
        assert denied.status_code == 403
        allowed = await browser.login(lambda url: fake_gitlab.idp.callback_url(url, **gitlab_user(["acme"])))
        assert allowed.status_code == 302
        assert (await browser.auth()).headers["x-auth-request-groups"] == "acme"
    assert "GitLab user 'ada' is in none of gitlab_group / gitlab_project" in caplog.text


async def test_factory_knows_gitlab(http: httpx.AsyncClient) -> None:
    assert isinstance(create_provider(settings(), http, ManualClock()), GitLabProvider)
