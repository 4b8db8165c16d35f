"""Provider-specific options: each bad value is refused with a message that names the option."""

from __future__ import annotations

from typing import Any

import pytest

from authsvc.config import load_settings
from authsvc.config.provider_specific import github_teams, gitlab_projects
from authsvc.errors import ConfigError

BASE: dict[str, Any] = {"cookie_secret": "a" * 32, "client_id": "c", "client_secret": "s",
                        "oidc_issuer_url": "https://idp.example"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"github_team": "ops"}, r"github_team .*'ops' needs github_org"),
        ({"github_team": "acme:o p"}, r"github_team .*not a team slug"),
        ({"github_org": "ac me"}, r"github_org .*not a GitHub organisation"),
        ({"github_repo": "just-a-name"}, r"github_repo .*owner/repository"),
        ({"github_token": "t"}, r"github_token .*set github_repo"),
        ({"github_user": "a b"}, r"github_user .*not a GitHub login"),
        ({"github_base_url": "github.example.com"}, r"github_base_url .*http\(s\) URL"),
        ({"google_hosted_domains": "not a domain"}, r"google_hosted_domains .*not a domain"),
        ({"entra_id_tenant": "a/b"}, r"entra_id_tenant"),
        ({"entra_id_allowed_tenants": "contoso"}, r"entra_id_allowed_tenants .*GUID"),
        ({"provider": "entra-id"}, r"entra_id_allowed_tenants .*required with entra_id_tenant = 'common'"),
        ({"provider": "azure", "entra_id_tenant": "organizations"}, r"entra_id_allowed_tenants"),
        ({"gitlab_group": "a b"}, r"gitlab_group .*group path"),
        ({"gitlab_project": "lonely"}, r"gitlab_project .*group/project"),
        ({"gitlab_project": "a/b=25"}, r"gitlab_project .*access level"),
        ({"provider": "keycloak-oidc", "oidc_issuer_url": ""}, r"oidc_issuer_url .*keycloak-oidc"),
    ],
)
def test_bad_values_name_the_option(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(**{**BASE, **options})


def test_lists_come_comma_separated_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHSVC_GITHUB_TEAM", "ops, acme:sre")
    monkeypatch.setenv("AUTHSVC_GITLAB_PROJECT", "acme/app,acme/ops/tool=30")
    s = load_settings(**BASE, github_org="Acme")
    assert github_teams(s) == {("acme", "ops"), ("acme", "sre")}
    assert gitlab_projects(s) == (("acme/app", 20), ("acme/ops/tool", 30))


NO_ISSUER = {k: v for k, v in BASE.items() if k != "oidc_issuer_url"}


def test_single_tenant_entra_needs_no_allow_list() -> None:
    tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    s = load_settings(**NO_ISSUER, provider="entra-id", entra_id_tenant=tid)
    assert s.oidc_issuer_url == f"https://login.microsoftonline.com/{tid}/v2.0"
    s = load_settings(**NO_ISSUER, provider="entra-id", entra_id_allowed_tenants=f"{tid},*")
    assert s.entra_id_allowed_tenants == [tid, "*"]


@pytest.mark.parametrize(
    ("options", "issuer"),
    [
        ({"provider": "google"}, "https://accounts.google.com"),
        ({"provider": "google", "oidc_issuer_url": "https://accounts.google.com/"},
         "https://accounts.google.com"),
        ({"provider": "gitlab"}, "https://gitlab.com"),
        ({"provider": "gitlab", "gitlab_base_url": "https://git.example.com/"}, "https://git.example.com"),
        # oauth2-proxy users point the gitlab provider at their instance with oidc_issuer_url
        ({"provider": "gitlab", "oidc_issuer_url": "https://git.example.com"}, "https://git.example.com"),
        ({"provider": "azure", "entra_id_allowed_tenants": "*"},
         "https://login.microsoftonline.com/common/v2.0"),
        ({"provider": "github"}, ""),
    ],
)
def test_oidc_issuer_url_follows_from_the_provider(options: dict[str, Any], issuer: str) -> None:
    s = load_settings(**{**NO_ISSUER, **options})
    assert s.oidc_issuer_url == issuer
    if s.provider == "gitlab":
        assert s.gitlab_base_url.rstrip("/") == issuer


@pytest.mark.parametrize(
    "options",
    [
        {"provider": "google", "oidc_issuer_url": "https://idp.example"},
        {"provider": "gitlab", "oidc_issuer_url": "https://a.example", "gitlab_base_url": "https://b.example"},
    ],
)
def test_a_conflicting_oidc_issuer_url_is_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"oidc_issuer_url .*leave it unset"):
        load_settings(**{**NO_ISSUER, **options})


def test_github_token_is_masked() -> None:
    s = load_settings(**BASE, github_repo="acme/app", github_token="ghp_secret")
    assert "ghp_secret" not in str(s.masked()) and "ghp_secret" not in repr(s)
