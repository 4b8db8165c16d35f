"""oauth2-proxy's alpha configuration (`--alpha-config`, YAML): what applies to auth-request mode.

Read like oauth2-proxy reads it (`pkg/apis/options/load.go`, `alpha_options.go`): `${VAR}` is
substituted from the environment first, keys match case-insensitively (mapstructure), and the
file holds `server`, `metricsServer`, `providers`, `injectRequestHeaders`,
`injectResponseHeaders` and `upstreamConfig`. Provider and server settings become oauth2-proxy
cfg keys (translated by oauth2_proxy.py like any other source); the response headers map onto
authsvc's header options where authsvc sends the same header, other claims onto `claim_headers`
(oauth2-proxy#772), and the rest (prefixes, session fields, plain values) are refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import oauth2_proxy as o2p
from .headers import BUILT_IN

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")

#: alpha provider keys -> cfg keys (pkg/apis/options/providers.go); lower-cased
_PROVIDER = {
    "clientid": "client_id", "clientsecret": "client_secret", "clientsecretfile": "client_secret_file",
    "provider": "provider", "name": "provider_display_name", "cafiles": "provider_ca_files",
    "usesystemtruststore": "use_system_trust_store", "loginurl": "login_url",
    "authrequestresponsemode": "auth_request_response_mode", "redeemurl": "redeem_url",
    "profileurl": "profile_url", "skipclaimsfromprofileurl": "skip_claims_from_profile_url",
    "resource": "resource", "validateurl": "validate_url", "scope": "scope",
    "allowedgroups": "allowed_groups", "code_challenge_method": "code_challenge_method",
    "backendlogouturl": "backend_logout_url",
}
_SECTIONS: dict[str, dict[str, str]] = {
    "oidcconfig": {
        "issuerurl": "oidc_issuer_url",
        "insecureallowunverifiedemail": "insecure_oidc_allow_unverified_email",
        "insecureskipissuerverification": "insecure_oidc_skip_issuer_verification",
        "insecureskipnonce": "insecure_oidc_skip_nonce", "skipdiscovery": "skip_oidc_discovery",
        "jwksurl": "oidc_jwks_url", "publickeyfiles": "oidc_public_key_files",
        "emailclaim": "oidc_email_claim", "groupsclaim": "oidc_groups_claim",
        "useridclaim": "user_id_claim", "audienceclaims": "oidc_audience_claims",
        "extraaudiences": "oidc_extra_audiences", "enabledsigningalgs": "oidc_enabled_signing_algs",
    },
    "keycloakconfig": {"groups": "keycloak_groups", "roles": "allowed_roles"},
    "azureconfig": {"tenant": "azure_tenant", "graphgroupfield": "azure_graph_group_field"},
    "microsoftentraidconfig": {"allowedtenants": "entra_id_allowed_tenants",
                               "federatedtokenauth": "entra_id_federated_token_auth"},
    "bitbucketconfig": {"team": "bitbucket_team", "repository": "bitbucket_repository"},
    "githubconfig": {"org": "github_org", "team": "github_team", "repo": "github_repo",
                     "token": "github_token", "users": "github_users"},
    "gitlabconfig": {"group": "gitlab_groups", "projects": "gitlab_projects"},
    "googleconfig": {"group": "google_groups", "adminemail": "google_admin_email",
                     "serviceaccountjson": "google_service_account_json",
                     "useapplicationdefaultcredentials": "google_use_application_default_credentials",
                     "targetprincipal": "google_target_principal",
                     "useorganizationid": "google_use_organization_id",
                     "adminapiuserscope": "google_admin_api_user_scope"},
    "logingovconfig": {"jwtkey": "jwt_key", "jwtkeyfile": "jwt_key_file", "pubjwkurl": "pubjwk_url"},
    "adfsconfig": {},
}
#: loginURLParameters that --convert-config-to-alpha writes from these cfg keys
_LEGACY_PARAMS = frozenset({"prompt", "approval_prompt", "acr_values"})
#: alpha-only provider options whose default is what authsvc does: accepted at that value
_DEFAULT_ONLY = {("adfsconfig", "skipscope"): False}
#: response headers authsvc sends, as oauth2-proxy's --convert-config-to-alpha writes them
#: oauth2-proxy claimSource names that are session fields, not ID token claims
#: (pkg/apis/options/header.go ClaimSource): they cannot become `claim_headers`
_SESSION_FIELDS = frozenset({"access_token", "id_token", "refresh_token", "created_at", "expires_on",
                             "user"})
_XAUTH = {"x-auth-request-user": "user", "x-auth-request-email": "email",
          "x-auth-request-preferred-username": "preferred_username", "x-auth-request-groups": "groups"}


@dataclass
class Alpha:
    """What an alpha file says: oauth2-proxy cfg keys, authsvc options, notes and errors."""

    cfg: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[o2p.Note] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def substitute(text: str, environ: Mapping[str, str]) -> str:
    """envsubst: `${VAR}`, `${VAR:-default}`, `${VAR-default}` and `$VAR`; `$1` stays as it is."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        got = environ.get(name)
        if match.group(2) == ":-" and not got:
            return match.group(3)
        if match.group(2) == "-" and got is None:
            return match.group(3)
        return got or ""

    return _VAR.sub(value, text)


def _lower(node: Any) -> dict[str, Any]:
    """A mapping with lower-cased keys (mapstructure matches keys in any case); anything that is
    not a mapping is empty here, and `_mapping` reports it."""
    if isinstance(node, dict):
        return {str(k).lower(): v for k, v in node.items()}
    return {}


def _mapping(node: Any, where: str, out: Alpha) -> dict[str, Any]:
    if node is None:
        return {}
    if not isinstance(node, dict):
        out.errors.append(f"--alpha-config: {where} must be a mapping")
        return {}
    return _lower(node)


def _list(node: Any, where: str, out: Alpha) -> list[Any]:
    if node is None:
        return []
    if not isinstance(node, list):
        out.errors.append(f"--alpha-config: {where} must be a list")
        return []
    return node


def read_alpha(path: Path, environ: Mapping[str, str] | None = None) -> Alpha:
    """Read `path`; every problem is an error line naming the file."""
    import yaml

    environ = os.environ if environ is None else environ
    out = Alpha()
    where = f"alpha {path}"
    try:
        text = substitute(path.read_text(), environ)
    except (OSError, UnicodeDecodeError) as exc:
        out.errors.append(f"--alpha-config: {path} cannot be read: {getattr(exc, 'strerror', exc)}")
        return out
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark else ""
        out.errors.append(f"--alpha-config: {path} is not valid YAML{at}")
        return out
    if data is not None and not isinstance(data, dict):
        out.errors.append(f"--alpha-config: {path} is not a YAML mapping")
        return out
    data = _lower(data)
    known = {"server", "metricsserver", "providers", "injectrequestheaders", "injectresponseheaders",
             "upstreamconfig"}
    for key in data:
        if key not in known:
            out.errors.append(f"--alpha-config: {path}: unknown section {key!r}"
                              f"{o2p.suggest(key, known)}")
    _server(_mapping(data.get("server"), "server", out), "http_address", "https_address", "tls", out,
            where)
    _server(_mapping(data.get("metricsserver"), "metricsServer", out), "metrics_address",
            "metrics_secure_address", "metrics_tls", out, where)
    _providers(data.get("providers") or [], out, where)
    _response_headers(data.get("injectresponseheaders"), out, where)
    _upstreams(_mapping(data.get("upstreamconfig"), "upstreamConfig", out), out, where)
    for section, why in (("injectrequestheaders", "headers sent upstream"),
                         ("upstreamconfig", "upstreams")):
        if data.get(section) and "upstreams" not in out.cfg:
            out.notes.append(o2p.Note(section, "ignored", f"{why}: {o2p._PROXY_MODE}", where, warn=True))
    return out


def _upstreams(config: dict[str, Any], out: Alpha, where: str) -> None:
    """upstreamConfig.upstreams with a static one: as the cfg's `upstreams` (static://<code>,
    oauth2_proxy.py `_upstreams` decides). A static upstream is answered at every path, so only
    one on path `/` means what it meant (alpha_options.go: `staticCode` defaults to 200)."""
    upstreams = [_lower(u) for u in _list(config.get("upstreams"), "upstreamConfig.upstreams", out)]
    if not any(u.get("static") for u in upstreams):
        return
    as_cfg = []
    for upstream in upstreams:
        if not upstream.get("static"):
            as_cfg.append(str(upstream.get("uri", "")))
            continue
        path = upstream.get("path", "/")
        if path != "/":
            out.errors.append(f"option upstreamConfig ({where}) is not supported by authsvc: a static "
                              f"upstream on path {path!r}; authsvc answers one on path / (every path)")
            return
        as_cfg.append(f"static://{upstream.get('staticcode', 200)}")
    out.cfg["upstreams"] = as_cfg


def _server(server: dict[str, Any], plain: str, secure: str, tls_prefix: str, out: Alpha,
            where: str) -> None:
    """server / metricsServer: bindAddress, secureBindAddress and tls (files only)."""
    bind, secure_bind = server.get("bindaddress"), server.get("securebindaddress")
    if bind not in (None, "", "-"):  # "-" (or empty) switches a listener off in oauth2-proxy
        out.cfg[plain] = bind
    if secure_bind not in (None, "", "-"):
        out.cfg[secure] = secure_bind
    tls = _mapping(server.get("tls"), "tls", out)
    for part in ("cert", "key"):
        source = _mapping(tls.get(part), f"tls.{part}", out)
        if source.get("fromfile"):
            out.cfg[f"{tls_prefix}_{part}_file"] = source["fromfile"]
        elif source:
            out.errors.append(f"option {plain.split('_')[0]} server tls.{part} ({where}) is not supported "
                              "by authsvc: give the certificate and key as files (fromFile)")
    if tls.get("minversion"):
        out.cfg["tls_min_version"] = tls["minversion"]
    if tls.get("ciphersuites"):
        out.cfg["tls_cipher_suites"] = tls["ciphersuites"]
    if plain == "http_address" and tls and bind not in (None, "", "-") and secure_bind not in (None, "", "-"):
        out.errors.append(f"option server ({where}) is not supported by authsvc: it serves either http "
                          "(bindAddress) or https (secureBindAddress with tls), not both at once")
    if plain == "http_address" and tls and secure_bind in (None, "", "-"):
        out.errors.append(f"option server.tls ({where}) needs secureBindAddress")


def _providers(providers: Any, out: Alpha, where: str) -> None:
    if not isinstance(providers, list):
        out.errors.append(f"--alpha-config: providers ({where}) must be a list")
        return
    if not providers:
        return
    if len(providers) > 1:
        # oauth2-proxy itself uses only the first one (oauthproxy.go, providers[0])
        out.notes.append(o2p.Note("providers", "ignored", f"only the first of {len(providers)} providers "
                                  "is used, as in oauth2-proxy", where, warn=True))
    if not isinstance(providers[0], dict):
        out.errors.append(f"--alpha-config: providers[0] ({where}) must be a mapping")
        return
    provider = _lower(providers[0])
    for key, value in provider.items():
        if key in _PROVIDER:
            out.cfg[_PROVIDER[key]] = value
        elif key in _SECTIONS:
            for sub, sub_value in _mapping(value, f"providers[0].{key}", out).items():
                target = _SECTIONS[key].get(sub)
                if (key, sub) in _DEFAULT_ONLY and sub_value == _DEFAULT_ONLY[key, sub]:
                    continue  # --convert-config-to-alpha writes it for every provider
                if target is None:
                    out.errors.append(f"option providers[0].{key}.{sub} ({where}) is not supported by "
                                      f"authsvc{o2p.suggest(sub, _SECTIONS[key])}")
                else:
                    out.cfg[target] = sub_value
        elif key == "id":
            continue
        elif key == "loginurlparameters":
            _login_params(value, out, where)
        elif key == "additionalclaims":
            if value:
                out.errors.append(f"option providers[0].additionalClaims ({where}) is not supported by "
                                  "authsvc: it sends a fixed set of identity headers")
        else:
            out.errors.append(f"option providers[0].{key} ({where}) is not an oauth2-proxy provider "
                              f"option{o2p.suggest(key, [*_PROVIDER, *_SECTIONS])}")


def _login_params(params: Any, out: Alpha, where: str) -> None:
    fixed: list[str] = []
    allowed: list[str] = []
    for raw in _list(params, "loginURLParameters", out):
        param = _mapping(raw, "loginURLParameters[]", out)
        name = str(param.get("name", ""))
        defaults = _list(param.get("default"), f"loginURLParameters {name} default", out)
        if name in _LEGACY_PARAMS and len(defaults) == 1 and not param.get("allow"):
            # how the legacy options convert (legacy_options.go): back to their cfg keys, so they
            # mean what they mean there; approval_prompt=force is what it writes when neither
            # prompt nor approval_prompt is set, oauth2-proxy's default, which authsvc does not send
            if not (name == "approval_prompt" and defaults[0] == "force"):
                out.cfg[name] = defaults[0]
            continue
        for default in _list(param.get("default"), f"loginURLParameters {name} default", out):
            fixed.append(f"{name}={default}")
        rules = []
        for raw_rule in _list(param.get("allow"), f"loginURLParameters {name} allow", out):
            rule = _mapping(raw_rule, f"loginURLParameters {name} allow[]", out)
            if "value" in rule:
                rules.append(re.escape(str(rule["value"])))
            elif "pattern" in rule:
                # oauth2-proxy's patterns are unanchored; a full match of .*pattern.* is the same
                rules.append(f".*(?:{rule['pattern']}).*")
        if rules:
            allowed.append(f"{name}={'|'.join(f'(?:{r})' for r in rules)}")
    if fixed:
        out.options["login_url_parameters"] = fixed
    if allowed:
        out.options["login_url_parameters_allowed"] = allowed


def _claim(header: dict[str, Any]) -> tuple[str, str, Any] | None:
    values = header.get("values")
    if not isinstance(values, list) or len(values) != 1:
        return None
    source = _lower(_lower(values[0]).get("claimsource"))
    if not source:
        return None
    return str(source.get("claim", "")), str(source.get("prefix", "")), source.get("basicauthpassword")


def _squashed(header: dict[str, Any]) -> bool:
    values = header.get("values")
    return isinstance(values, list) and any("claim" in _lower(v) for v in values)


def _secret(raw: Any, environ: Mapping[str, str] | None = None) -> str | None:
    source = _lower(raw)
    if "value" in source:
        import base64

        raw = source["value"]
        if isinstance(raw, list):  # a []byte as yaml.v3 writes it (--convert-config-to-alpha)
            try:
                return bytes(int(b) for b in raw).decode()
            except (TypeError, ValueError):
                return None
        try:  # SecretSource.Value is []byte: YAML gives it base64-encoded
            return base64.b64decode(str(raw), validate=True).decode()
        except ValueError:
            return str(raw)
    if "fromenv" in source:
        return (os.environ if environ is None else environ).get(str(source["fromenv"]), "")
    if "fromfile" in source:
        try:
            return Path(str(source["fromfile"])).read_text().strip()
        except OSError:
            return None
    return None


def _response_headers(headers: Any, out: Alpha, where: str) -> None:
    """injectResponseHeaders onto set_xauthrequest, pass_access_token, set_authorization_header and
    set_basic_auth (the shapes oauth2-proxy's legacy options convert to)."""
    if headers is None:
        return
    if not isinstance(headers, list):
        out.errors.append(f"--alpha-config: injectResponseHeaders ({where}) must be a list")
        return
    for raw in headers:
        header = _mapping(raw, "injectResponseHeaders[]", out)
        name = str(header.get("name", "")).lower()
        claim = _claim(header)
        label = f"injectResponseHeaders {header.get('name', '?')}"
        if claim is None and _squashed(header):
            # docs/docs/configuration/alpha_config.md, "Migrating header injections in v7.14.0"
            out.errors.append(f"option {label} ({where}): `- claim: ...` directly under values is "
                              "the form before oauth2-proxy v7.14, which refuses it too; nest it: "
                              "`- claimSource: {claim: ...}`")
            continue
        if claim is None:
            out.errors.append(f"option {label} ({where}) is not supported by authsvc: only claim "
                              "values (claimSource) of the headers authsvc sends can be mapped")
            continue
        claim_name, prefix, password = claim
        if _XAUTH.get(name) == claim_name and not prefix:
            out.options["set_xauthrequest"] = True
        elif name == "x-auth-request-access-token" and claim_name == "access_token" and not prefix:
            out.options["set_xauthrequest"] = True
            out.options["pass_access_token"] = True
        elif name == "authorization" and claim_name == "id_token" and prefix == "Bearer ":
            out.options["set_authorization_header"] = True
        elif name == "authorization" and claim_name in ("user", "email") and prefix == "Basic ":
            out.options["set_basic_auth"] = True
            out.options["prefer_email_to_user"] = claim_name == "email"
            secret = _secret(password)
            if secret is None and password:
                out.errors.append(f"option {label} basicAuthPassword ({where}) cannot be read")
            out.options["basic_auth_password"] = secret or ""
        elif (name not in BUILT_IN and not prefix and password is None and claim_name
              and claim_name not in _SESSION_FIELDS):
            # oauth2-proxy#772: any ID token claim as a header; authsvc's claim_headers does that
            entry = f"{header.get('name', '')}={claim_name}"
            out.options.setdefault("claim_headers", []).append(entry)
            out.notes.append(o2p.Note(label, "renamed", "", where, ("claim_headers",)))
            continue
        else:
            out.errors.append(f"option {label} ({where}) is not supported by authsvc: it sends "
                              "X-Auth-Request-User/-Email/-Preferred-Username/-Groups/-Access-Token "
                              "and Authorization (Bearer ID token or Basic) from their own claims only; "
                              "other headers map to claim_headers from one ID token claim, "
                              "with no prefix")
            continue
        out.notes.append(o2p.Note(label, "renamed", "", where, tuple(
            k for k in ("set_xauthrequest", "pass_access_token", "set_authorization_header",
                        "set_basic_auth") if k in out.options)))
