"""providers[0] of `--convert-config-to-alpha` (config/to_alpha.py): legacy_options.go
`LegacyProvider.convert`, then `Provider.EnsureDefaults` (pkg/apis/options/providers.go).

A provider is a struct in a slice, so yaml.v3 writes its fields in declaration order (kept
here) and omits nil pointers and empty values; the `*bool` fields EnsureDefaults sets are kept
at false, so every provider has `googleConfig`, `microsoftEntraIDConfig` and `ADFSConfig`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .go_yaml import struct as _omit


def _sections(opts: Mapping[str, Any]) -> dict[str, Any]:
    """The provider-specific blocks legacy_options.go fills for each provider type, with the
    pointers EnsureDefaults sets for every provider (useOrganizationID, federatedTokenAuth, ...)."""
    kind = opts["provider"]
    google = kind == "google"
    groups = opts["google_groups"]
    if opts["google_group"] and opts["google_group"] != groups:  # the legacy spelling wins
        groups = opts["google_group"]
    entra = kind == "entra-id"
    return _omit({
        "keycloakConfig": _omit({
            "groups": opts["keycloak_groups"] if kind in ("keycloak", "keycloak-oidc") else [],
            "roles": opts["allowed_roles"] if kind == "keycloak-oidc" else []}),
        "azureConfig": _omit({"tenant": opts["azure_tenant"],
                              "graphGroupField": opts["azure_graph_group_field"]}),
        "microsoftEntraIDConfig": _omit({
            "allowedTenants": opts["entra_id_allowed_tenants"] if entra else [],
            "federatedTokenAuth": entra and opts["entra_id_federated_token_auth"]}),
        "ADFSConfig": {"skipScope": False},
        "bitbucketConfig": _omit({"team": opts["bitbucket_team"], "repository": opts["bitbucket_repository"]})
        if kind == "bitbucket" else {},
        "githubConfig": _omit({"org": opts["github_org"], "team": opts["github_team"],
                               "repo": opts["github_repo"],
                               "token": opts["github_token"], "users": opts["github_users"]})
        if kind == "github" else {},
        "gitlabConfig": _omit({"group": opts["gitlab_groups"], "projects": opts["gitlab_projects"]})
        if kind == "gitlab" else {},
        "googleConfig": _omit({
            "group": groups if google else [],
            "adminEmail": opts["google_admin_email"] if google else "",
            "serviceAccountJson": opts["google_service_account_json"] if google else "",
            "useApplicationDefaultCredentials": google and opts["google_use_application_default_credentials"],
            "targetPrincipal": opts["google_target_principal"] if google else "",
            "useOrganizationID": google and opts["google_use_organization_id"],
            "adminAPIUserScope": opts["google_admin_api_user_scope"] if google else ""}),
        "oidcConfig": _omit({
            "issuerURL": opts["oidc_issuer_url"],
            "insecureAllowUnverifiedEmail": opts["insecure_oidc_allow_unverified_email"],
            "insecureSkipIssuerVerification": opts["insecure_oidc_skip_issuer_verification"],
            "insecureSkipNonce": opts["insecure_oidc_skip_nonce"],
            "skipDiscovery": opts["skip_oidc_discovery"],
            "jwksURL": opts["oidc_jwks_url"], "publicKeyFiles": opts["oidc_public_key_files"],
            "emailClaim": opts["oidc_email_claim"] or "email",
            "groupsClaim": opts["oidc_groups_claim"] or "groups",
            "userIDClaim": opts["user_id_claim"] or "email",
            "audienceClaims": opts["oidc_audience_claims"] or ["aud"],
            "extraAudiences": opts["oidc_extra_audiences"],
            "enabledSigningAlgs": opts["oidc_enabled_signing_algs"]}),
        "loginGovConfig": _omit({"jwtKey": opts["jwt_key"], "jwtKeyFile": opts["jwt_key_file"],
                                 "pubjwkURL": opts["pubjwk_url"]}) if kind == "login.gov" else {},
    })


def _login_parameters(opts: Mapping[str, Any]) -> list[dict[str, Any]]:
    params = []
    if opts["acr_values"]:
        params.append({"name": "acr_values", "default": [opts["acr_values"]]})
    if opts["prompt"]:
        params.append({"name": "prompt", "default": [opts["prompt"]]})
    else:  # approval_prompt, "force" when unset (the legacy behaviour)
        params.append({"name": "approval_prompt", "default": [opts["approval_prompt"] or "force"]})
    return params


def provider(opts: Mapping[str, Any]) -> dict[str, Any]:
    """providers[0], its fields in Provider's order (pkg/apis/options/providers.go)."""
    name = opts["provider_display_name"]
    return {
        **_omit({"clientID": opts["client_id"], "clientSecret": opts["client_secret"],
                 "clientSecretFile": opts["client_secret_file"]}),
        **_sections(opts),
        **_omit({
            "id": name or f"{opts['provider']}={opts['client_id']}", "provider": opts["provider"],
            "name": name,
            "caFiles": opts["provider_ca_files"], "useSystemTrustStore": opts["use_system_trust_store"],
            "loginURL": opts["login_url"], "loginURLParameters": _login_parameters(opts),
            "authRequestResponseMode": opts["auth_request_response_mode"], "redeemURL": opts["redeem_url"],
            "profileURL": opts["profile_url"],
            "skipClaimsFromProfileURL": opts["skip_claims_from_profile_url"],
            "resource": opts["resource"], "validateURL": opts["validate_url"], "scope": opts["scope"],
            "allowedGroups": opts["allowed_groups"],
            # the legacy flag counts only without the new one (oauth2-proxy#1667)
            "code_challenge_method": opts["code_challenge_method"] or opts["force_code_challenge_method"]}),
        "backendLogoutURL": opts["backend_logout_url"],  # no omitempty on this one
    }
