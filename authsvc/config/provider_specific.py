"""Options of one provider each: GitHub, Google, Entra ID, GitLab, Keycloak (README, "Identity providers").

Their checks also fill in `oidc_issuer_url` for providers whose issuer follows from other
options, so everything that reads it (bearer tokens, check-config) sees the issuer actually used.
"""

from __future__ import annotations

import re
from typing import Self

from pydantic import Field, SecretStr, model_validator

from .loading import CommaList, Problems
from .provider import ProviderOptions

_URL = re.compile(r"^https?://[^/\s?#]+(/[^\s?#]*)?$")
#: GitHub logins, organisations, team slugs and repository names
_GITHUB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: a Microsoft Graph property name (`$select` takes it as it is)
_GRAPH_PROPERTY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,99}")
GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?)+")
_GITLAB_PATH = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.\-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.\-]*)*")
#: GitLab's access levels: minimal, guest, planner, reporter, developer, maintainer, owner
GITLAB_ACCESS_LEVELS = (5, 10, 15, 20, 30, 40, 50)
#: Reporter: can read the code (oauth2-proxy's default for gitlab_project too)
GITLAB_DEFAULT_ACCESS_LEVEL = 20
#: multi-tenant Entra ID authorities: the issuer depends on the user's tenant
ENTRA_MULTI_TENANT = ("common", "organizations")
ENTRA_AUTHORITY = "https://login.microsoftonline.com"
GOOGLE_ISSUER = "https://accounts.google.com"


# A subclass of ProviderOptions because its checks read `provider` and `oidc_issuer_url`.
class ProviderSpecificOptions(ProviderOptions):
    """The provider-specific options and their checks, run after the single-field ones."""

    github_org: str = Field(
        "",
        description="(`github`) only members of this organisation",
    )
    github_team: CommaList = Field(
        default_factory=list,
        description=(
            "(`github`) only members of one of these teams: `org:team`, or a team slug "
            "within `github_org`"
        ),
    )
    github_repo: str = Field(
        "",
        description=(
            "(`github`) only collaborators on `owner/repo` (push access, or pull on a "
            "private repository)"
        ),
    )
    github_token: SecretStr = Field(
        SecretStr(""),
        description=(
            "(`github`) a token that may list `github_repo`'s collaborators; the check "
            "then asks GitHub with it"
        ),
    )
    github_user: CommaList = Field(
        default_factory=list,
        description=(
            "(`github`) these logins may sign in whatever the other `github_*` "
            "restrictions say (alone: only they may)"
        ),
    )
    github_base_url: str = Field(
        "https://github.com",
        description="(`github`) GitHub Enterprise Server: `https://github.example.com`",
    )
    github_api_url: str = Field(
        "",
        description="(`github`) the REST API's URL",
        json_schema_extra={"default_note": "(`https://api.github.com`, or `<github_base_url>/api/v3`)"},
    )
    google_hosted_domains: CommaList = Field(
        default_factory=list,
        description="(`google`) only accounts whose ID token's `hd` claim is one of these Workspace domains",
    )
    entra_id_tenant: str = Field(
        "common",
        description="(`entra-id`) tenant id or domain; `common` / `organizations` for multi-tenant apps",
    )
    entra_id_allowed_tenants: CommaList = Field(
        default_factory=list,
        description=(
            "(`entra-id`) tenant ids (`tid`) allowed to sign in; required for `common` / "
            "`organizations` (`*` = any)"
        ),
    )
    entra_id_federated_token_auth: bool = Field(
        False,
        description=(
            "(`entra-id`) authenticate with the Workload Identity token "
            "(`AZURE_FEDERATED_TOKEN_FILE`) as client assertion instead of "
            "`client_secret`"
        ),
    )
    entra_id_graph_group_field: str = Field(
        "id",
        description=(
            "(`entra-id`) the Graph group property that names a group: `id` (object ids, from the "
            "token or, on groups overage, from Graph) or `displayName` (or another property; then "
            "every login asks Graph `/me/transitiveMemberOf`, which needs `GroupMember.Read.All` "
            "in `scope`, and `allowed_groups` lists those names)"
        ),
    )
    gitlab_base_url: str = Field(
        "https://gitlab.com",
        description="(`gitlab`) the GitLab instance (the OIDC issuer)",
    )
    gitlab_group: CommaList = Field(
        default_factory=list,
        description="(`gitlab`) only members of one of these groups (full paths, e.g. `acme/ops`)",
    )
    gitlab_project: CommaList = Field(
        default_factory=list,
        description=(
            "(`gitlab`) or of one of these projects: `group/project`, or "
            "`group/project=<access level>` (default `20`, Reporter)"
        ),
    )

    @model_validator(mode="after")
    def _provider_specific(self) -> Self:
        problems = Problems()
        check_provider_options(self, problems)
        self.resolve_client(problems)  # after: the issuer of google, gitlab, entra-id is derived
        problems.raise_any()
        return self


def github_teams(s: ProviderSpecificOptions) -> frozenset[tuple[str, str]]:
    """github_team as (org, team slug) pairs, lower-cased (GitHub compares them so)."""
    pairs = set()
    for entry in s.github_team:
        org, sep, team = entry.rpartition(":")
        pairs.add(((org if sep else s.github_org).lower(), team.lower()))
    return frozenset(pairs)


def gitlab_projects(s: ProviderSpecificOptions) -> tuple[tuple[str, int], ...]:
    """gitlab_project as (path, minimum access level) pairs."""
    out = []
    for entry in s.gitlab_project:
        path, sep, level = entry.partition("=")
        out.append((path.strip("/"), int(level) if sep else GITLAB_DEFAULT_ACCESS_LEVEL))
    return tuple(out)


def check_provider_options(s: ProviderSpecificOptions, problems: Problems) -> None:
    """Record every provider-specific option that is invalid (the first bad entry of each)."""
    for option in ("github_base_url", "github_api_url", "gitlab_base_url"):
        value = getattr(s, option)
        if value and not _URL.match(value):
            problems.add(option, f"{value!r} is not an absolute http(s) URL")
    _check_github(s, problems)
    _check_entra(s, problems)
    _check_gitlab(s, problems)
    _derive_issuer(s, problems)
    for domain in s.google_hosted_domains:
        if not _DOMAIN.fullmatch(domain.lower()):
            problems.add("google_hosted_domains", f"{domain!r} is not a domain name (e.g. example.com)")
            break
    if s.provider in ("keycloak-oidc", "keycloak") and not s.oidc_issuer_url:
        problems.add(
            "oidc_issuer_url",
            f"is required for provider {s.provider!r} (the realm URL: https://<host>/realms/<realm>)",
        )


def _check_github(s: ProviderSpecificOptions, problems: Problems) -> None:
    if s.github_org and not _GITHUB_NAME.fullmatch(s.github_org):
        problems.add("github_org", f"{s.github_org!r} is not a GitHub organisation name")
    for entry in s.github_team:
        org, sep, team = entry.rpartition(":")
        if not _GITHUB_NAME.fullmatch(team) or (sep and not _GITHUB_NAME.fullmatch(org)):
            problems.add("github_team", f"{entry!r} is not a team slug or org:team")
            break
        if not sep and not s.github_org:
            problems.add("github_team", f"{entry!r} needs github_org (or write it as org:{team})")
            break
    if s.github_repo:
        owner, sep, repo = s.github_repo.partition("/")
        if not (sep and _GITHUB_NAME.fullmatch(owner) and _GITHUB_NAME.fullmatch(repo)):
            problems.add("github_repo", f"{s.github_repo!r} is not owner/repository")
    if s.github_token.get_secret_value() and not s.github_repo:
        problems.add("github_token", "is only used to check github_repo; set github_repo too")
    bad_logins = [login for login in s.github_user if not _GITHUB_NAME.fullmatch(login)]
    if bad_logins:
        problems.add("github_user", f"{bad_logins[0]!r} is not a GitHub login")


def _check_entra(s: ProviderSpecificOptions, problems: Problems) -> None:
    if s.entra_id_federated_token_auth and s.provider not in ("entra-id", "azure"):
        problems.add("entra_id_federated_token_auth", "is for provider 'entra-id' only")
    if not _TENANT.fullmatch(s.entra_id_tenant):
        problems.add("entra_id_tenant", f"{s.entra_id_tenant!r} is not a tenant id, domain, "
                     "'common' or 'organizations'")
    bad_tenants = [tid for tid in s.entra_id_allowed_tenants if tid != "*" and not GUID.fullmatch(tid)]
    if bad_tenants:
        problems.add("entra_id_allowed_tenants", f"{bad_tenants[0]!r} is not a tenant id (a GUID) or '*'")
    if not _GRAPH_PROPERTY.fullmatch(s.entra_id_graph_group_field):
        problems.add("entra_id_graph_group_field", f"{s.entra_id_graph_group_field!r} is not a "
                     "Microsoft Graph group property (id or displayName)")
    multi = s.entra_id_tenant.lower() in ENTRA_MULTI_TENANT
    if s.provider in ("entra-id", "azure") and multi and not s.entra_id_allowed_tenants:
        # with `common` anyone with any Microsoft work account could sign in
        problems.add(
            "entra_id_allowed_tenants",
            f"is required with entra_id_tenant = {s.entra_id_tenant!r}: list the tenant ids "
            "allowed to sign in (or '*' for any tenant)",
        )


def _check_gitlab(s: ProviderSpecificOptions, problems: Problems) -> None:
    bad_groups = [group for group in s.gitlab_group if not _GITLAB_PATH.fullmatch(group.strip("/"))]
    if bad_groups:
        problems.add("gitlab_group", f"{bad_groups[0]!r} is not a group path (e.g. acme or acme/ops)")
    for entry in s.gitlab_project:
        path, sep, level = entry.partition("=")
        if not _GITLAB_PATH.fullmatch(path.strip("/")) or "/" not in path.strip("/"):
            problems.add("gitlab_project", f"{entry!r} is not group/project[=access level]")
            break
        if sep and (not level.isdigit() or int(level) not in GITLAB_ACCESS_LEVELS):
            levels = ", ".join(map(str, GITLAB_ACCESS_LEVELS))
            problems.add("gitlab_project", f"{entry!r}: the access level must be one of {levels}")
            break


def _derive_issuer(s: ProviderSpecificOptions, problems: Problems) -> None:
    """oidc_issuer_url for google, gitlab and entra-id (refused when set to anything else)."""
    if s.provider in ("gitlab",) and s.oidc_issuer_url and "gitlab_base_url" not in s.model_fields_set:
        # oauth2-proxy points its gitlab provider at a self-hosted instance with oidc_issuer_url
        object.__setattr__(s, "gitlab_base_url", s.oidc_issuer_url)
    derived = {
        "google": GOOGLE_ISSUER,
        "gitlab": s.gitlab_base_url.rstrip("/"),
        "entra-id": f"{ENTRA_AUTHORITY}/{s.entra_id_tenant}/v2.0",
        "azure": f"{ENTRA_AUTHORITY}/{s.entra_id_tenant}/v2.0",
    }.get(s.provider)
    if derived is None:
        return
    if s.oidc_issuer_url and s.oidc_issuer_url.rstrip("/") != derived:
        problems.add("oidc_issuer_url", f"is {derived!r} for provider {s.provider!r}; leave it unset "
                     "(or set it to that)")
        return
    object.__setattr__(s, "oidc_issuer_url", derived)
