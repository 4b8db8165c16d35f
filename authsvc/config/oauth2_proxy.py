"""oauth2-proxy's options, and what each one becomes in authsvc.

The inventory is oauth2-proxy v7.15's (`pkg/apis/options/*.go` at 14af2951: the `cfg` keys, their
flags, kinds and defaults). `translate` turns oauth2-proxy settings (from a `.cfg` file,
`OAUTH2_PROXY_*` variables, its flags or the alpha YAML) into authsvc options with oauth2-proxy's
meaning, and says what happened to each one:

  same         an authsvc option of the same name and meaning
  renamed      an authsvc option of another name or form (`github_users` -> `github_user`)
  built in     authsvc always behaves one way; a value asking for that is accepted
  ignored      accepted with a warning: proxy mode only, or nothing to do in auth-request mode
  unsupported  refused with the reason (fail closed) unless the value is oauth2-proxy's default

Which key is "same" is decided by `Settings.model_fields`, so an option added to authsvc later is
taken as it is without a change here.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from . import o2p_routes
from .loading import list_items, parse_duration

Kind = Literal["str", "bool", "list", "duration", "int"]
Status = Literal["same", "renamed", "built in", "ignored", "unsupported", "unknown"]

#: what oauth2-proxy's own command line has besides the options (main.go)
CLI_FLAGS = ("config", "alpha-config", "convert-config-to-alpha", "config-test", "version")


@dataclass(frozen=True)
class Option:
    """One oauth2-proxy option: cfg key, flag name, value kind and default."""

    key: str
    flag: str
    kind: Kind
    default: Any


def _o(key: str, flag: str = "", kind: Kind = "str", default: Any = None) -> Option:
    defaults: dict[str, Any] = {"str": "", "bool": False, "list": [], "duration": 0.0, "int": 0}
    return Option(key, flag or key.replace("_", "-"), kind, defaults[kind] if default is None else default)


OPTIONS: tuple[Option, ...] = (
    _o("proxy_prefix", default="/oauth2"), _o("ping_path", default="/ping"), _o("ping_user_agent"),
    _o("ready_path", default="/ready"), _o("reverse_proxy", kind="bool"),
    _o("real_client_ip_header", default="X-Real-IP"),
    _o("trusted_proxy_ips", "trusted-proxy-ip", "list"), _o("trusted_ips", "trusted-ip", "list"),
    _o("force_https", kind="bool"), _o("redirect_url"), _o("relative_redirect_url", kind="bool"),
    _o("authenticated_emails_file"), _o("email_domains", "email-domain", "list"),
    _o("whitelist_domains", "whitelist-domain", "list"), _o("htpasswd_file"),
    _o("htpasswd_user_groups", "htpasswd-user-group", "list"), _o("api_routes", "api-route", "list"),
    _o("skip_auth_regex", kind="list"), _o("skip_auth_routes", "skip-auth-route", "list"),
    _o("skip_jwt_bearer_tokens", kind="bool"), _o("bearer_token_login_fallback", kind="bool", default=True),
    _o("extra_jwt_issuers", kind="list"), _o("skip_provider_button", kind="bool"),
    _o("ssl_insecure_skip_verify", kind="bool"), _o("skip_auth_preflight", kind="bool"),
    _o("force_json_errors", kind="bool"), _o("encode_state", kind="bool"),
    _o("allow_query_semicolons", kind="bool"), _o("signature_key"), _o("gcp_healthchecks", kind="bool"),
    # upstreams (proxy mode)
    _o("flush_interval", kind="duration", default=1.0), _o("pass_host_header", kind="bool", default=True),
    _o("proxy_websockets", kind="bool", default=True), _o("ssl_upstream_insecure_skip_verify", kind="bool"),
    _o("upstreams", "upstream", "list"), _o("upstream_timeout", kind="duration", default=30.0),
    _o("disable_keep_alives", kind="bool"),
    # headers
    _o("pass_basic_auth", kind="bool", default=True), _o("pass_access_token", kind="bool"),
    _o("pass_user_headers", kind="bool", default=True), _o("pass_authorization_header", kind="bool"),
    _o("set_basic_auth", kind="bool"), _o("set_xauthrequest", kind="bool"),
    _o("set_authorization_header", kind="bool"), _o("prefer_email_to_user", kind="bool"),
    _o("basic_auth_password"), _o("skip_auth_strip_headers", kind="bool", default=True),
    # server
    _o("metrics_address"), _o("metrics_secure_address"), _o("metrics_tls_cert_file"),
    _o("metrics_tls_key_file"), _o("http_address", default="127.0.0.1:4180"),
    _o("https_address", default=":443"), _o("tls_cert_file"), _o("tls_key_file"), _o("tls_min_version"),
    _o("tls_cipher_suites", "tls-cipher-suite", "list"),
    # provider
    _o("client_id"), _o("client_secret"), _o("client_secret_file"),
    _o("keycloak_groups", "keycloak-group", "list"), _o("azure_tenant", default="common"),
    _o("azure_graph_group_field"), _o("entra_id_allowed_tenants", "entra-id-allowed-tenant", "list"),
    _o("entra_id_federated_token_auth", kind="bool"), _o("bitbucket_team"), _o("bitbucket_repository"),
    _o("github_org"), _o("github_team"), _o("github_repo"), _o("github_token"),
    _o("github_users", "github-user", "list"), _o("gitlab_groups", "gitlab-group", "list"),
    _o("gitlab_projects", "gitlab-project", "list"), _o("google_group", "google-group", "list"),
    _o("google_groups", "google-group", "list"), _o("google_admin_email"),
    _o("google_service_account_json"), _o("google_use_application_default_credentials", kind="bool"),
    _o("google_target_principal"), _o("google_use_organization_id", kind="bool"),
    _o("google_admin_api_user_scope"), _o("provider", default="google"), _o("provider_display_name"),
    _o("provider_ca_files", "provider-ca-file", "list"), _o("use_system_trust_store", kind="bool"),
    _o("oidc_issuer_url"), _o("insecure_oidc_allow_unverified_email", kind="bool"),
    _o("insecure_oidc_skip_issuer_verification", kind="bool"),
    _o("insecure_oidc_skip_nonce", kind="bool", default=True), _o("skip_oidc_discovery", kind="bool"),
    _o("oidc_jwks_url"), _o("oidc_email_claim", default="email"), _o("oidc_groups_claim", default="groups"),
    _o("oidc_audience_claims", "oidc-audience-claim", "list", ["aud"]),
    _o("oidc_extra_audiences", "oidc-extra-audience", "list"),
    _o("oidc_public_key_files", "oidc-public-key-file", "list"),
    _o("oidc_enabled_signing_algs", "oidc-enabled-signing-alg", "list"), _o("login_url"),
    _o("auth_request_response_mode"), _o("redeem_url"), _o("profile_url"),
    _o("skip_claims_from_profile_url", kind="bool"), _o("resource"), _o("validate_url"), _o("scope"),
    _o("prompt"), _o("approval_prompt", default="force"), _o("user_id_claim", default="email"),
    _o("allowed_groups", "allowed-group", "list"), _o("allowed_roles", "allowed-role", "list"),
    _o("backend_logout_url"), _o("acr_values"), _o("jwt_key"), _o("jwt_key_file"), _o("pubjwk_url"),
    _o("code_challenge_method"), _o("force_code_challenge_method"),
    # cookie
    _o("cookie_name", default="_oauth2_proxy"), _o("cookie_secret"), _o("cookie_secret_file"),
    _o("cookie_domains", "cookie-domain", "list"), _o("cookie_path", default="/"),
    _o("cookie_expire", kind="duration", default=168 * 3600.0), _o("cookie_refresh", kind="duration"),
    _o("cookie_secure", kind="bool", default=True), _o("cookie_httponly", kind="bool", default=True),
    _o("cookie_samesite"), _o("cookie_csrf_per_request", kind="bool"),
    _o("cookie_csrf_per_request_limit", kind="int"),
    _o("cookie_csrf_expire", kind="duration", default=15 * 60.0), _o("cookie_csrf_samesite"),
    # sessions
    _o("session_store_type", default="cookie"), _o("session_cookie_minimal", kind="bool"),
    _o("redis_connection_url"), _o("redis_username"), _o("redis_password"),
    _o("redis_use_sentinel", kind="bool"), _o("redis_sentinel_password"), _o("redis_sentinel_master_name"),
    _o("redis_sentinel_connection_urls", kind="list"), _o("redis_use_cluster", kind="bool"),
    _o("redis_cluster_connection_urls", kind="list"), _o("redis_ca_path"),
    _o("redis_insecure_skip_tls_verify", kind="bool"), _o("redis_connection_idle_timeout", kind="int"),
    # logging
    _o("auth_logging", kind="bool", default=True), _o("auth_logging_format"),
    _o("request_logging", kind="bool", default=True), _o("request_logging_format"),
    _o("standard_logging", kind="bool", default=True), _o("standard_logging_format"),
    _o("errors_to_info_log", kind="bool"), _o("exclude_logging_paths", "exclude-logging-path", "list"),
    _o("logging_local_time", kind="bool", default=True), _o("silence_ping_logging", kind="bool"),
    _o("request_id_header", default="X-Request-Id"), _o("logging_filename"),
    _o("logging_max_size", kind="int", default=100), _o("logging_max_age", kind="int", default=7),
    _o("logging_max_backups", kind="int"), _o("logging_compress", kind="bool"),
    # templates
    _o("custom_templates_dir"), _o("custom_sign_in_logo"), _o("banner"), _o("footer"),
    _o("display_htpasswd_form", kind="bool", default=True), _o("show_debug_on_error", kind="bool"),
)

BY_KEY: dict[str, Option] = {o.key: o for o in OPTIONS}
#: flag name (no dashes in front) -> cfg keys it sets (`--google-group` sets both of its keys)
BY_FLAG: dict[str, tuple[str, ...]] = {}
for _opt in OPTIONS:
    BY_FLAG[_opt.flag] = (*BY_FLAG.get(_opt.flag, ()), _opt.key)


# --- what becomes of each option -------------------------------------------------------------
Value = Any
#: a transform's keys for the parts of a value it dropped, and for what it kept otherwise (Rename)
DROPPED = "@dropped"
CAVEATS = "@caveats"
Transform = Callable[[Value, Mapping[str, Value]], dict[str, Value]]


@dataclass(frozen=True)
class Rename:
    """Another authsvc option (or several), optionally with the value transformed.

    Without a transform it is a plain alias: its flag is another spelling of the target's.
    A transform raises ValueError for a value authsvc cannot mean; under the key `DROPPED` it
    may return messages about parts of the value that oauth2-proxy never acted on either, under
    `CAVEATS` about what it kept with another meaning (each a start-up warning).
    """

    target: str
    transform: Transform | None = None
    note: str = ""


@dataclass(frozen=True)
class Builtin:
    """authsvc always does this; `ok(value)` says whether the value asks for the same."""

    reason: str
    ok: Callable[[Value], bool] = lambda value: True


@dataclass(frozen=True)
class Ignored:
    """Accepted and ignored with one warning (when the value is not oauth2-proxy's default)."""

    reason: str


@dataclass(frozen=True)
class Unsupported:
    """Refused unless the value is oauth2-proxy's default."""

    reason: str


Treatment = Rename | Builtin | Ignored | Unsupported

_PROXY_MODE = "proxy mode only: authsvc answers the proxy's auth request and proxies nothing"
_LOG_FORMAT = "authsvc logs JSON or text lines (log_format); oauth2-proxy's templates do not apply"


def _strip_scheme(scheme: str, target: str) -> Transform:
    def strip(value: Value, _: Mapping[str, Value]) -> dict[str, Value]:
        text = str(value)
        if text.lower().startswith(f"{scheme}://"):
            text = text[len(scheme) + 3:]
        return {target: text}

    return strip


def _metrics_off_when_empty(value: Value, _: Mapping[str, Value]) -> dict[str, Value]:
    # pkg/proxyhttp/server.go: an empty bind address, like "-", starts no listener; authsvc's
    # empty metrics_address would put /metrics on the main port instead
    text = str(value)
    return {"metrics_address": text if text.strip() else "-"}


def _roles(value: Value, ctx: Mapping[str, Value]) -> dict[str, Value]:
    # providers/keycloak_oidc.go: roles join the allowed groups as role:<role> (any of them passes)
    if ctx.get("provider", "google") != "keycloak-oidc":
        return {}
    return {"allowed_groups": [f"role:{r}" for r in value]}


def _user_id_claim(value: Value, ctx: Mapping[str, Value]) -> dict[str, Value]:
    # providers/providers.go: the deprecated user_id_claim replaces the e-mail claim while
    # oidc_email_claim is left at its default; the user itself is always `sub`
    if value and value != "email" and ctx.get("oidc_email_claim", "email") == "email":
        return {"oidc_email_claim": value, "user_id_claim": "sub"}
    return {"user_id_claim": "sub"}


_KEYCLOAK_AUTH = re.compile(r"(https?://[^?#\s]+/realms/[^/?#\s]+)/protocol/openid-connect/auth/?")


def _github_login_url(value: Value, ctx: Mapping[str, Value]) -> dict[str, Value]:
    # a GitHub Enterprise or Gitea server: <base>/login/oauth/authorize
    if ctx.get("provider") == "github":
        return {"github_base_url": re.sub(r"/login/oauth/authorize/?$", "", str(value))}
    # the legacy keycloak provider is configured by its endpoints (providers/keycloak.md:
    # --login-url=".../auth/realms/<realm>/protocol/openid-connect/auth"); authsvc's keycloak is
    # Keycloak's OIDC, whose issuer is the realm URL those endpoints sit under
    realm = _KEYCLOAK_AUTH.fullmatch(str(value))
    if ctx.get("provider") == "keycloak" and realm and not ctx.get("oidc_issuer_url"):
        return {"login_url": value, "oidc_issuer_url": realm.group(1)}
    return {"login_url": value}


def _github_validate_url(value: Value, ctx: Mapping[str, Value]) -> dict[str, Value]:
    # providers/github.go: the API base is the validate URL without /user/emails (or /user)
    if ctx.get("provider") == "github":
        return {"github_api_url": re.sub(r"/user(/emails)?/?$", "", str(value))}
    return {"validate_url": value}


def _github_redeem_url(value: Value, ctx: Mapping[str, Value]) -> dict[str, Value]:
    # the GitHub provider derives its token endpoint from github_base_url
    return {} if ctx.get("provider") == "github" else {"redeem_url": value}


def _graph_group_field(value: Value, ctx: Mapping[str, Value]) -> dict[str, Value]:
    # providers/azure.go: read by the azure provider only (entra-id's Graph call takes ids);
    # empty means id
    if ctx.get("provider", "google") != "azure":
        return {}
    return {"entra_id_graph_group_field": value or "id"}


def _pubjwk_url(value: Value, ctx: Mapping[str, Value]) -> dict[str, Value]:
    # providers/logingov.go: only the login.gov provider reads it (its keys; no discovery)
    return {"oidc_jwks_url": value} if ctx.get("provider") == "login.gov" else {}


def _csrf_limit(value: Value, _: Mapping[str, Value]) -> dict[str, Value]:
    # oauth2-proxy's 0 means "no limit": authsvc always caps its login cookies (issue 11 §4), so
    # 0 keeps authsvc's default and is reported as ignored
    return {"cookie_csrf_per_request_limit": value} if value else {}


def _standard_logging(value: Value, _: Mapping[str, Value]) -> dict[str, Value]:
    return {} if value else {"log_level": "warning"}


def _upstreams(value: Value, _: Mapping[str, Value]) -> dict[str, Value]:
    """`static://<code>` upstreams become any_path_auth_status; proxied ones are ignored.

    oauth2-proxy's legacy upstreams (legacy_options.go `convert`) put a static upstream on path
    `/` whatever follows the code, and answer every request outside proxy_prefix with that code
    once signed in (pkg/upstream/static.go): forward-auth pointed at `/` (Traefik, Istio, Caddy).
    A code that is not a number (oauth2-proxy logs an error and uses 200), not 2xx (a
    denial to every proxy), two different codes, or static and proxied upstreams together
    (authsvc cannot proxy the others' paths) are refused: ValueError.
    """
    static: list[int] = []
    proxied: list[str] = []
    for entry in value:
        text = str(entry).strip()
        if text.lower() == "file:///dev/null":
            continue  # the Helm chart's "no upstream" (values.yaml config.upstreams): nothing to serve
        if not text.lower().startswith("static://"):
            proxied.append(text)
            continue
        code = text[len("static://"):].split("/", 1)[0]
        if not code.isdigit() or not 200 <= int(code) <= 299:
            raise ValueError(f"{text!r}: authsvc answers a static upstream only with a 2xx code "
                             "(static://202)")
        static.append(int(code))
    if static and proxied:
        raise ValueError(f"static and proxied upstreams together: authsvc proxies nothing, so "
                         f"{proxied[0]!r} cannot be served; keep only static://<code> (forward-auth "
                         "at every path) or only the proxied ones (ignored)")
    if len(set(static)) > 1:
        raise ValueError("two static upstreams with different codes for the same path /")
    return {"any_path_auth_status": static[0]} if static else {}


def _skip_routes(value: Value, _: Mapping[str, Value]) -> dict[str, Value]:
    # oauth2-proxy's `!=` negates the path (authsvc's own settings refuse it): config/o2p_routes.py
    routes = o2p_routes.skip_routes(list(value))
    if routes.errors:
        raise ValueError("; ".join(routes.errors))
    return {"skip_auth_routes": routes.entries, DROPPED: routes.warnings}


_ENTRA_ISSUER = re.compile(r"https://login\.microsoftonline\.com/([A-Za-z0-9.\-]+)/v2\.0/?", re.IGNORECASE)
_AZURE_V1_ISSUER = re.compile(r"https://sts\.windows\.net/([A-Za-z0-9.\-]+)/?", re.IGNORECASE)


def _issuer(value: Value, ctx: Mapping[str, Value]) -> dict[str, Value]:
    """The Microsoft issuer URL names the tenant (docs/.../providers/ms_entra_id.md:
    `oidc_issuer_url="https://login.microsoftonline.com/<tenant-id>/v2.0"`, ms_azure_ad.md's v1
    `https://sts.windows.net/{tenant-id}/`); authsvc derives the issuer from entra_id_tenant."""
    text = str(value)
    match = _ENTRA_ISSUER.fullmatch(text) or _AZURE_V1_ISSUER.fullmatch(text)
    if ctx.get("provider", "google") not in ("entra-id", "azure") or match is None:
        return {"oidc_issuer_url": value}
    tenant = match.group(1)
    # an explicit tenant must agree; `common` with a tenant's issuer admitted that tenant alone
    # (the login was at common, the ID token's issuer had to be the tenant's)
    given = str(ctx.get("azure_tenant") or ctx.get("entra_id_tenant") or "")
    if given and given.lower() not in ("common", "organizations", tenant.lower()):
        raise ValueError(f"{text!r} names tenant {tenant!r} but azure_tenant is {given!r}: authsvc signs "
                         "in at one tenant; make them the same")
    out: dict[str, Value] = {"entra_id_tenant": tenant}
    if given.lower() in ("common", "organizations") and tenant.lower() not in ("common", "organizations"):
        out = {"entra_id_allowed_tenants": [tenant]}
    if match.re is _AZURE_V1_ISSUER:
        out[CAVEATS] = [f"{text!r} is Azure AD v1's issuer: authsvc signs in with Entra ID v2.0 at tenant "
                        f"{tenant!r} (issuer https://login.microsoftonline.com/{tenant}/v2.0)"]
    return out


def _redirect_url(value: Value, ctx: Mapping[str, Value]) -> dict[str, Value]:
    # oauth2-proxy sends a path as it is with relative_redirect_url (oauthproxy.go
    # getOAuthRedirectURI); authsvc sends an absolute redirect_uri only
    text = str(value)
    if text.startswith("/"):
        with_flag = " (relative_redirect_url)" if ctx.get("relative_redirect_url") else ""
        raise ValueError(f"{text!r} is a path{with_flag}: authsvc sends the IdP an absolute redirect_uri; "
                         f"leave redirect_url empty to derive https://<request host>{text} per request")
    return {"redirect_url": value}


def _pkce(value: Value) -> bool:
    return str(value).upper() in ("", "S256")


TREATMENTS: dict[str, Treatment] = {
    # server and proxy
    "http_address": Rename("http_address", _strip_scheme("http", "http_address")),
    "https_address": Rename("https_address", _strip_scheme("https", "https_address")),
    "metrics_address": Rename("metrics_address", _metrics_off_when_empty,
                              "empty, as `-`, means no metrics listener (oauth2-proxy's reading)"),
    "ping_user_agent": Ignored("ping_path answers whatever the User-Agent; no other path answers "
                               "by User-Agent (the hole of CVE-2026-34457)"),
    "allow_query_semicolons": Builtin("query strings are split on '&' only (WHATWG URL)",
                                      lambda v: not v),
    "oidc_issuer_url": Rename("oidc_issuer_url", _issuer,
                              "for `entra-id` and `azure`, a Microsoft issuer URL sets `entra_id_tenant` "
                              "(authsvc derives the v2.0 issuer from it)"),
    "redirect_url": Rename("redirect_url", _redirect_url,
                           "a path (`relative_redirect_url`) is refused: leave it empty to derive it "
                           "per request"),
    "relative_redirect_url": Builtin("an empty redirect_url is derived from each request's host"),
    "signature_key": Ignored(_PROXY_MODE + " (GAP-Signature is sent to upstreams)"),
    # proxy mode only
    **{k: Ignored(_PROXY_MODE) for k in (
        "flush_interval", "pass_host_header", "proxy_websockets", "ssl_upstream_insecure_skip_verify",
        "upstream_timeout", "disable_keep_alives", "pass_basic_auth", "pass_user_headers",
        "pass_authorization_header", "skip_auth_strip_headers")},
    "upstreams": Rename("any_path_auth_status", _upstreams,
                        "`static://<code>` (forward-auth at `/`): `any_path_auth_status = <code>`; "
                        "http(s), file and unix upstreams: " + _PROXY_MODE + ", ignored; both "
                        "together: refused"),
    # access
    "skip_auth_regex": Rename("skip_auth_routes",
                              lambda v, _: {"skip_auth_routes": o2p_routes.skip_regexes(list(v))},
                              "bare regexes in skip_auth_routes"),
    "skip_auth_routes": Rename("skip_auth_routes", _skip_routes,
                               "oauth2-proxy's `METHOD!=regex` (that method, paths *not* matching) is "
                               "rewritten as `METHOD=^(?!.*(?:regex))`; authsvc's own settings "
                               "refuse `!=`"),
    "bearer_token_login_fallback": Builtin("an invalid bearer token gets 401 with WWW-Authenticate: "
                                           "Bearer error=\"invalid_token\""),
    "force_json_errors": Builtin("/oauth2/auth answers 401/403 with a short text body, never a page"),
    "encode_state": Builtin("the OAuth state is a random token; rd stays in the login cookie"),
    "display_htpasswd_form": Builtin("no password form on the sign-in page", lambda v: True),
    # provider
    "keycloak_groups": Rename("allowed_groups", lambda v, _: {"allowed_groups": list(v)}),
    "allowed_roles": Rename("allowed_groups", _roles, "role:<role> entries (keycloak-oidc only)"),
    "azure_tenant": Rename("entra_id_tenant"),
    "github_users": Rename("github_user"),
    "gitlab_groups": Rename("gitlab_group"),
    "gitlab_projects": Rename("gitlab_project"),
    "user_id_claim": Rename("oidc_email_claim", _user_id_claim,
                            "oauth2-proxy's meaning: the e-mail claim; the user is always sub"),
    "login_url": Rename("login_url", _github_login_url),
    "redeem_url": Rename("redeem_url", _github_redeem_url),
    "validate_url": Rename("validate_url", _github_validate_url),
    "request_logging": Rename("log_requests"),
    "standard_logging": Rename("log_level", _standard_logging, "false means log_level = \"warning\""),
    "insecure_oidc_skip_nonce": Builtin("the nonce is always sent and checked (OIDC Core 3.1.2.1)"),
    "code_challenge_method": Builtin("PKCE S256 is always used (RFC 7636 4.2)", _pkce),
    "force_code_challenge_method": Builtin("PKCE S256 is always used (RFC 7636 4.2)", _pkce),
    "cookie_csrf_per_request": Builtin("every login attempt has its own state cookie"),
    "cookie_csrf_samesite": Builtin("the login cookie's SameSite follows cookie_samesite (Strict "
                                    "relaxed to Lax, so the IdP's redirect carries it)"),
    "session_cookie_minimal": Builtin("a token is kept in the session only if a feature uses it"),
    "azure_graph_group_field": Rename(
        "entra_id_graph_group_field", _graph_group_field,
        "`entra_id_graph_group_field` (provider azure only, as in oauth2-proxy)"),
    "google_group": Rename("google_groups", lambda v, _: {"google_groups": list(v)}),
    "skip_claims_from_profile_url": Builtin("userinfo is read only when the ID token lacks the "
                                            "e-mail or groups claim"),
    "pubjwk_url": Rename("oidc_jwks_url", _pubjwk_url,
                         "`oidc_jwks_url` (login.gov only, as in oauth2-proxy)"),
    # sessions
    "redis_connection_idle_timeout": Ignored("authsvc uses redis_connect_timeout and "
                                             "redis_command_timeout"),
    # logging
    **{k: Ignored(_LOG_FORMAT) for k in (
        "auth_logging_format", "request_logging_format", "standard_logging_format")},
    # oauth2-proxy sends error lines to stderr and the others to stdout unless this is true;
    # authsvc writes every line to the one stream (stderr), which is what true asks for
    "errors_to_info_log": Builtin("error lines go where the other lines go (one stream, stderr)",
                                  lambda v: bool(v)),
    "silence_ping_logging": Builtin("/ping and /ready are never logged"),
    # pages
    # not a fallback: authsvc has custom_templates_dir, but oauth2-proxy's directory holds Go
    # templates of other names and variables, which Jinja2 would misread
    "custom_templates_dir": Builtin("authsvc's own pages are shown: oauth2-proxy's Go templates "
                                    "are not read; port them to Jinja2 (docs/pages.md) and set "
                                    "custom_templates_dir in authsvc's configuration",
                                    lambda value: not value),
    "show_debug_on_error": Builtin("error pages never show details", lambda v: not v),
    # not (yet) in authsvc; taken as "same" once an option of the name exists
    "cookie_csrf_per_request_limit": Rename("cookie_csrf_per_request_limit", _csrf_limit),
}

#: treatments that apply only while authsvc has no option of the name
_FALLBACKS = (Ignored, Unsupported)


def treatment(key: str, fields: Iterable[str]) -> Treatment | None:
    """How `key` is treated; None means an authsvc option of the same name and meaning."""
    found = TREATMENTS.get(key)
    if found is None or (isinstance(found, _FALLBACKS) and key in set(fields)):
        return None
    return found


# --- values ------------------------------------------------------------------------------------
_TRUE = {"1", "t", "true", "y", "yes", "on"}
_FALSE = {"0", "f", "false", "n", "no", "off", ""}


#: lists whose items keep the spaces around them, as oauth2-proxy keeps them: a route written
#: ` GET=^/metrics` (method " GET") or `^/pub ` matched nothing, or less, there, and trimmed it
#: would be a public route oauth2-proxy never had
KEPT_AS_WRITTEN = frozenset({"skip_auth_routes", "skip_auth_regex"})


def normalise(option: Option, value: Any) -> Any:
    """A value of the option's kind, read the way viper/pflag read it; ValueError if it is not."""
    nested = isinstance(value, list) and any(isinstance(v, dict | list) for v in value)
    if isinstance(value, dict) or nested:
        raise ValueError("is a table or nested list, not a value")
    if option.kind == "list":
        # one string (env, a TOML string) is comma-separated (viper's StringToSliceHookFunc), or
        # a JSON array as authsvc's own lists; the items of a TOML array, YAML list or repeated
        # flags are taken whole: `["GET=^/api/v{1,2}/"]` is one regex (the flags are split
        # into items by the command line, as pflag's StringSlice does)
        if option.key in KEPT_AS_WRITTEN:
            text = str(value)
            if isinstance(value, list | tuple):
                items = [str(item) for item in value]
            elif text.strip().startswith("[") and text.strip().endswith("]"):
                items = list_items(text)  # a JSON array, authsvc's own form
            else:
                items = text.split(",")
            return [item for item in items if item.strip()]
        if not isinstance(value, list | tuple):
            return list_items(str(value))
        return [text for text in (str(item).strip() for item in value) if text]
    if option.kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ValueError("is not a boolean (true or false)")
    if option.kind == "duration":
        return parse_duration(value)
    if option.kind == "int":
        text = str(value).strip()
        if isinstance(value, bool) or not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError("is not a whole number")
        return int(text)
    if isinstance(value, list):
        raise ValueError("takes one value, not a list")
    return str(value)


def is_default(option: Option, value: Any) -> bool:
    """Whether `value` (normalised) is oauth2-proxy's default, i.e. changes nothing."""
    return bool(value == option.default or (option.kind == "str" and value == ""))


# --- translation ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Note:
    """What happened to one oauth2-proxy option, for the start-up log and `authsvc migrate`."""

    key: str
    status: Status
    message: str
    #: where it came from ("file x.cfg", "env OAUTH2_PROXY_X", "flag --x", "alpha x.yaml")
    origin: str = ""
    #: the authsvc options it became
    targets: tuple[str, ...] = ()
    #: warn at start-up (ignored, or a value authsvc does not honour)
    warn: bool = False


@dataclass
class Translation:
    """authsvc options from oauth2-proxy settings, with a note per option and the errors."""

    options: dict[str, Any] = field(default_factory=dict)
    #: authsvc option -> the oauth2-proxy keys it came from
    sources: dict[str, list[str]] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def suggest(name: str, known: Iterable[str]) -> str:
    """ "; did you mean X?" for a near miss, else "" (difflib)."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f"; did you mean {close[0]}?" if close else ""


def translate(raw: Mapping[str, Any], origins: Mapping[str, str], fields: Iterable[str],
              context: Mapping[str, Any] | None = None) -> Translation:
    """oauth2-proxy settings (cfg keys -> values) to authsvc options, with oauth2-proxy's meaning.

    `origins` names where each key came from; `fields` are authsvc's options; `context` holds
    values given otherwise that win over `raw`'s (the provider a transform reads: `--provider
    login.gov` as a flag while `--pubjwk-url` is translated).
    """
    fields = set(fields)
    out = Translation()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        option = BY_KEY.get(key)
        origin = origins.get(key, "")
        if option is None:
            hint = suggest(key, [*BY_KEY, *fields])
            out.errors.append(f"invalid option {key} ({origin}): is neither an oauth2-proxy nor an "
                              f"authsvc option{hint}")
            out.notes.append(Note(key, "unknown", f"unknown option{hint}", origin))
            continue
        try:
            values[key] = normalise(option, value)
        except ValueError as exc:
            shown = "" if _secret(key) else f"{value!r}: "
            out.errors.append(f"invalid option {key} ({origin}): {shown}{exc}")
            continue
        padded = _padded_items(option, value)
        if padded and key in KEPT_AS_WRITTEN:
            out.notes.append(Note(key, "same", (
                f"{padded!r}: the spaces around this item are kept, as oauth2-proxy keeps them (viper "
                f"splits at ',' only): it is not the route {padded.strip()!r}; write it without them "
                "if that is the one meant"), origin, warn=True))
        elif padded:
            out.notes.append(Note(key, "same", (
                f"{padded!r}: oauth2-proxy keeps the spaces around a list item (viper splits at ',' "
                f"only), so it matched nothing there; authsvc reads {padded.strip()!r}"), origin, warn=True))
    ctx = {**values, **(context or {})}
    for key, value in values.items():
        _translate_one(BY_KEY[key], value, ctx, origins.get(key, ""), fields, out)
    return out


def _padded_items(option: Option, value: Any) -> str:
    """The first list item written with spaces around it (`"a.com, b.com"`), or ""."""
    if option.kind != "list":
        return ""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            return ""  # a JSON array (authsvc's own form), not oauth2-proxy's
        items = value.split(",")
    else:
        items = [str(v) for v in value] if isinstance(value, list | tuple) else []
    return next((item for item in items if item.strip() and item != item.strip()), "")


def _secret(key: str) -> bool:
    return any(word in key for word in ("secret", "password", "token", "key"))


def _add(out: Translation, key: str, produced: Mapping[str, Any]) -> tuple[str, ...]:
    for target, value in produced.items():
        if isinstance(value, list) and isinstance(out.options.get(target), list):
            out.options[target] = [*out.options[target], *value]  # e.g. allowed_groups + roles
        else:
            out.options[target] = value
        out.sources.setdefault(target, []).append(key)
    return tuple(produced)


def _translate_one(option: Option, value: Any, ctx: Mapping[str, Any], origin: str,
                   fields: set[str], out: Translation) -> None:
    key = option.key
    how = treatment(key, fields)
    default = is_default(option, value)
    if how is None:
        if key not in fields:  # an inventory key without a treatment: a bug in this table
            raise AssertionError(f"oauth2-proxy option {key} has no treatment")
        targets = _add(out, key, {key: value})
        out.notes.append(Note(key, "same", "", origin, targets))
    elif isinstance(how, Rename):
        try:
            produced = how.transform(value, ctx) if how.transform else {how.target: value}
        except ValueError as exc:  # a value with no authsvc meaning (e.g. upstreams)
            out.notes.append(Note(key, "unsupported", str(exc), origin))
            out.errors.append(f"invalid option {key} ({origin}): {exc}")
            return
        dropped = produced.pop(DROPPED, [])
        caveats = produced.pop(CAVEATS, [])
        for message in dropped:  # parts of the value oauth2-proxy never acted on either
            out.notes.append(Note(key, "ignored", message, origin, warn=True))
        targets = _add(out, key, produced)
        for message in caveats:
            out.notes.append(Note(key, "renamed", message, origin, targets, warn=True))
        if not produced and dropped:
            return
        if not produced:
            out.notes.append(Note(key, "ignored", _ignored_rename(key), origin, warn=not default))
        else:
            status: Status = "same" if targets == (key,) else "renamed"
            out.notes.append(Note(key, status, how.note, origin, targets))
    elif isinstance(how, Builtin):
        if how.ok(value):
            out.notes.append(Note(key, "built in", how.reason, origin))
        else:
            out.notes.append(Note(key, "built in", f"{how.reason}; the value given is not used",
                                  origin, warn=True))
    elif isinstance(how, Ignored):
        out.notes.append(Note(key, "ignored", how.reason, origin, warn=not default))
    elif default:
        out.notes.append(Note(key, "unsupported", f"{how.reason} (oauth2-proxy's default; no effect)",
                              origin))
    else:
        out.notes.append(Note(key, "unsupported", how.reason, origin))
        out.errors.append(f"option {key} ({origin}) is not supported by authsvc: {how.reason}")


def _ignored_rename(key: str) -> str:
    if key == "allowed_roles":
        return "roles are read for provider keycloak-oidc only (as in oauth2-proxy)"
    if key == "cookie_csrf_per_request_limit":
        return "0 (no limit) is not offered: authsvc keeps its cap of login cookies (default 5)"
    if key == "upstreams":
        return _PROXY_MODE + "; the proxy's auth_request / forward-auth calls /oauth2/auth"
    if key == "redeem_url":
        return "the github provider derives its token endpoint from login_url"
    return "no effect with this provider"


# --- oauth2-proxy's defaults where authsvc's differ ---------------------------------------------
#: applied when settings come from oauth2-proxy's cfg, its env or its flags (weakest of all)
COMPAT_DEFAULTS: dict[str, Any] = {
    "cookie_name": "_oauth2_proxy",
    "provider": "google",
    "cookie_samesite": "",
    "set_xauthrequest": False,
    "reverse_proxy": False,
    # oauth2-proxy serves no /metrics unless metrics_address is set
    "metrics_address": "-",
    "log_requests": True,
    "logging_local_time": True,
}

#: oauth2-proxy defaults authsvc does not adopt, and why (one start-up warning each, if unset)
KEPT_DEFAULTS: dict[str, str] = {
    "insecure_oidc_skip_nonce": "oauth2-proxy's default (true) is not applied: the nonce is always "
                                "sent and checked (OIDC Core 3.1.2.1)",
    "code_challenge_method": "oauth2-proxy sends no PKCE by default; authsvc always uses S256",
    "approval_prompt": "oauth2-proxy's default approval_prompt=force is not sent; set prompt "
                       "(e.g. consent) to ask for it",
}


# --- the migration guide's table ------------------------------------------------------------------
def inventory_rows(fields: Iterable[str]) -> list[tuple[str, str, str, str]]:
    """(cfg key, flag, what it is in authsvc, why/where) for every option, as the guide lists them."""
    fields = set(fields)
    rows = []
    for option in OPTIONS:
        how = treatment(option.key, fields)
        if how is None:
            rows.append((option.key, option.flag, "same", ""))
        elif isinstance(how, Rename):
            target = how.target
            status = "same" if target == option.key else "renamed"
            rows.append((option.key, option.flag, status, how.note or f"`{target}`"))
        elif isinstance(how, Builtin):
            rows.append((option.key, option.flag, "built in", how.reason))
        elif isinstance(how, Ignored):
            status = "proxy mode" if how.reason.startswith(_PROXY_MODE) else "ignored"
            rows.append((option.key, option.flag, status, how.reason))
        else:
            rows.append((option.key, option.flag, "not supported", how.reason))
    return rows


def markdown_table(fields: Iterable[str]) -> str:
    """The option table of docs/migrating-from-oauth2-proxy.md (regenerate it with
    `python -m authsvc.config.oauth2_proxy` after adding an option)."""
    lines = ["| oauth2-proxy option (cfg key) | flag | in authsvc | note |", "| --- | --- | --- | --- |"]
    for key, flag, status, why in inventory_rows(fields):
        why = why.replace("|", "\\|")
        lines.append(f"| `{key}` | `--{flag}` | {status} | {why} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - a docs helper
    from .settings import Settings

    print(markdown_table(Settings.model_fields), end="")
