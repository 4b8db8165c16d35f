"""Every option added for oauth2-proxy users, read from every source: its .cfg, OAUTH2_PROXY_*,
its flags (repeated list flags, bare booleans), AUTHSVC_* and authsvc's TOML."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from authsvc.cli import config_input, parse
from authsvc.config import oauth2_proxy as o2p
from authsvc.config.sources import ConfigInput, load
from tests.support.fake_idp import client_key_pem
from tests.support.pki import make_pki

COOKIE = "OQINaROshtE9TcZkNAm-5Zs2Pv3xaWytBmc5W7sPX7w="
BASE = {"provider": "oidc", "oidc_issuer_url": "https://idp.example", "client_id": "c",
        "client_secret": "s", "cookie_secret": COOKIE}
TENANT = "11111111-2222-3333-4444-555555555555"
#: oauth2-proxy's spelling -> authsvc's, of the renamed keys used here
RENAMED = {"azure_tenant": "entra_id_tenant", "azure_graph_group_field": "entra_id_graph_group_field",
           "pubjwk_url": "oidc_jwks_url"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    import bcrypt

    d = tmp_path_factory.mktemp("files")
    pki = make_pki(d / "pki")
    (d / "cookie").write_text(COOKIE)
    from joserfc.jwk import RSAKey

    (d / "pub.pem").write_bytes(RSAKey.generate_key(2048, private=True).as_pem(private=False))
    (d / "htpasswd").write_text(f"ada:{bcrypt.hashpw(b'x', bcrypt.gensalt(rounds=4)).decode()}\n")
    (d / "client.pem").write_text(client_key_pem())
    (d / "sa.json").write_text(json.dumps({"client_email": "sa@p.iam.gserviceaccount.com",
                                           "private_key": "-----BEGIN PRIVATE KEY-----"}))
    return {"ca": str(pki.ca_cert), "cert": str(pki.server_cert), "key": str(pki.server_key),
            "cookie": str(d / "cookie"), "htpasswd": str(d / "htpasswd"), "sa": str(d / "sa.json"),
            "pub": str(d / "pub.pem"), "client_key": str(d / "client.pem")}


def cases(f: dict[str, str]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """option -> (the options to set, as oauth2-proxy users write them; what authsvc must read)."""
    return {
        "cookie_secret_file": ({"cookie_secret_file": f["cookie"]},
                               {"cookie_secret_file": f["cookie"]}),
        "provider_ca_files": ({"provider_ca_files": [f["ca"], f["ca"]]},
                              {"provider_ca_files": [f["ca"], f["ca"]]}),
        "use_system_trust_store": ({"use_system_trust_store": True}, {"use_system_trust_store": True}),
        "ssl_insecure_skip_verify": ({"ssl_insecure_skip_verify": True}, {"ssl_insecure_skip_verify": True}),
        "https+tls": ({"https_address": "0.0.0.0:4443", "tls_cert_file": f["cert"], "tls_key_file": f["key"],
                       "tls_min_version": "TLS1.3",
                       "tls_cipher_suites": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                                             "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]},
                      {"https_address": "0.0.0.0:4443", "serves_tls": True, "tls_min_version": "TLS1.3",
                       "openssl_ciphers": "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256"}),
        "metrics_tls": ({"metrics_secure_address": "0.0.0.0:9443", "metrics_tls_cert_file": f["cert"],
                         "metrics_tls_key_file": f["key"]},
                        {"metrics_secure_address": "0.0.0.0:9443", "metrics_tls_key_file": f["key"]}),
        "skip_oidc_discovery": ({"skip_oidc_discovery": True, "login_url": "https://idp.example/auth",
                                 "redeem_url": "https://idp.example/token",
                                 "profile_url": "https://idp.example/me",
                                 "oidc_jwks_url": "https://idp.example/keys",
                                 "validate_url": "https://idp.example/validate"},
                                {"skip_oidc_discovery": True, "redeem_url": "https://idp.example/token",
                                 "oidc_jwks_url": "https://idp.example/keys"}),
        "oidc_public_key_files": ({"skip_oidc_discovery": True, "login_url": "https://idp.example/auth",
                                   "redeem_url": "https://idp.example/token",
                                   "oidc_public_key_files": [f["pub"], f["pub"]]},
                                  {"oidc_public_key_files": [f["pub"], f["pub"]], "oidc_jwks_url": ""}),
        "token checks": ({"oidc_enabled_signing_algs": ["RS256", "ES256"],
                          "oidc_audience_claims": ["aud", "azp"],
                          "insecure_oidc_skip_issuer_verification": True},
                         {"oidc_enabled_signing_algs": ["RS256", "ES256"],
                          "oidc_audience_claims": ["aud", "azp"],
                          "insecure_oidc_skip_issuer_verification": True}),
        "login parameters": ({"prompt": "select_account", "approval_prompt": "force", "acr_values": "urn:mfa",
                              "provider_display_name": "Corp SSO"},
                             {"prompt": "select_account", "acr_values": "urn:mfa",
                              "provider_display_name": "Corp SSO", "approval_prompt": "force"}),
        "form_post, force_https, resource": (
            {"auth_request_response_mode": "form_post", "force_https": True,
             "resource": "https://graph.windows.net/"},
            {"auth_request_response_mode": "form_post", "force_https": True,
             "resource": "https://graph.windows.net/", "form_post": True}),
        "basic auth": ({"set_basic_auth": True, "basic_auth_password": "pw", "prefer_email_to_user": True},
                       {"set_basic_auth": True, "prefer_email_to_user": True}),
        "htpasswd": ({"htpasswd_file": f["htpasswd"], "htpasswd_user_groups": ["a", "b"]},
                     {"htpasswd_file": f["htpasswd"], "htpasswd_user_groups": ["a", "b"]}),
        "trusted_ips": ({"trusted_ips": ["10.0.0.0/8", "192.0.2.1"],
                         "real_client_ip_header": "X-Forwarded-For"},
                        {"trusted_ips": ["10.0.0.0/8", "192.0.2.1"],
                         "real_client_ip_header": "X-Forwarded-For"}),
        "google_groups": ({"provider": "google", "oidc_issuer_url": "",
                           "google_groups": ["g1@x.com", "g2@x.com"],
                           "google_admin_email": "admin@x.com", "google_service_account_json": f["sa"]},
                          {"google_groups": ["g1@x.com", "g2@x.com"], "google_admin_email": "admin@x.com"}),
        "google_use_organization_id": ({"provider": "google", "oidc_issuer_url": "",
                                        "google_use_organization_id": True,
                                        "google_admin_api_user_scope": "cloud",
                                        "google_admin_email": "admin@x.com",
                                        "google_service_account_json": f["sa"]},
                                       {"google_use_organization_id": True,
                                        "google_admin_api_user_scope": "cloud"}),
        "entra federated": ({"provider": "entra-id", "oidc_issuer_url": "", "azure_tenant": TENANT,
                             "entra_id_federated_token_auth": True},
                            {"entra_id_federated_token_auth": True, "entra_id_tenant": TENANT}),
        "azure_graph_group_field": ({"provider": "azure", "oidc_issuer_url": "", "azure_tenant": TENANT,
                                     "azure_graph_group_field": "displayName"},
                                    {"entra_id_graph_group_field": "displayName"}),
        "request_id_header": ({"request_id_header": "X-Correlation-Id"},
                              {"request_id_header": "X-Correlation-Id"}),
        "logging": ({"auth_logging": False, "exclude_logging_paths": ["/oauth2/auth", "/ping"]},
                    {"auth_logging": False, "exclude_logging_paths": ["/oauth2/auth", "/ping"]}),
        "log file": ({"logging_filename": "/var/log/authsvc.log", "logging_max_size": 10,
                      "logging_max_age": 3, "logging_max_backups": 4, "logging_compress": True},
                     {"logging_filename": "/var/log/authsvc.log", "logging_max_size": 10,
                      "logging_max_age": 3, "logging_max_backups": 4, "logging_compress": True}),
        # true is oauth2-proxy's default: false read from its sources shows it is not that default
        "logging_local_time": ({"logging_local_time": False}, {"logging_local_time": False}),
        "bitbucket": ({"provider": "bitbucket", "bitbucket_team": "acme",
                       "bitbucket_repository": "acme/site"},
                      {"provider": "bitbucket", "bitbucket_team": "acme",
                       "bitbucket_repository": "acme/site"}),
        "login.gov key file": ({"provider": "login.gov", "client_secret": "", "jwt_key_file": f["client_key"],
                                "pubjwk_url": "https://idp.example/certs"},
                               {"provider": "login.gov", "jwt_key_file": f["client_key"],
                                "oidc_jwks_url": "https://idp.example/certs"}),
        "login.gov key": ({"provider": "login.gov", "client_secret": "", "jwt_key": client_key_pem()},
                          {"jwt_key": SecretStr(client_key_pem()), "client_secret": SecretStr("")}),
        "sign-out and probes": ({"backend_logout_url": "https://idp.example/logout?t={id_token}",
                                 "ping_path": "/healthz", "ready_path": "/readyz", "gcp_healthchecks": True},
                                {"backend_logout_url": "https://idp.example/logout?t={id_token}",
                                 "ping_path": "/healthz", "gcp_healthchecks": True}),
    }


SOURCES = ("o2p-cfg", "o2p-env", "o2p-flags", "authsvc-env", "authsvc-toml")


def _toml(value: Any) -> str:
    return json.dumps(value)


def _env(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return ",".join(value) if isinstance(value, list) else str(value)


FILES = ("ca", "cert", "key", "cookie", "htpasswd", "sa", "pub", "client_key")


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("case", sorted(cases(dict.fromkeys(FILES, ""))))
def test_option_from_every_source(case: str, source: str, files: dict[str, str], tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("AUTHSVC_", "OAUTH2_PROXY_")):
            monkeypatch.delenv(key)
    given, want = cases(files)[case]
    options = {**BASE, **given}
    theirs = options
    ours = {RENAMED.get(k, k): v for k, v in options.items()}
    if source == "o2p-cfg":
        path = tmp_path / "oauth2-proxy.cfg"
        path.write_text("".join(f"{k} = {_toml(v)}\n" for k, v in theirs.items()))
        report = load(ConfigInput(str(path)))
    elif source == "o2p-env":
        for k, v in theirs.items():
            monkeypatch.setenv(f"OAUTH2_PROXY_{k.upper()}", _env(v))
        report = load(ConfigInput())
    elif source == "o2p-flags":
        argv: list[str] = []
        for k, v in theirs.items():
            flag = "--" + o2p.BY_KEY[k].flag
            if v is True:
                argv.append(flag)  # a bare boolean
            elif v is False:
                argv.append(f"{flag}=false")  # pflag: a boolean's value only after '='
            elif isinstance(v, list):
                argv += [f"{flag}={item}" for item in v]  # repeated, accumulating
            else:
                argv += [flag, str(v)]
        report = load(config_input(parse(argv)))
    elif source == "authsvc-env":
        for k, v in ours.items():
            monkeypatch.setenv(f"AUTHSVC_{k.upper()}", _env(v))
        report = load(ConfigInput())
    else:
        path = tmp_path / "authsvc.toml"
        path.write_text("".join(f"{k} = {_toml(v)}\n" for k, v in ours.items()))
        report = load(ConfigInput(str(path)))
    s = report.settings
    for key, value in want.items():
        assert getattr(s, key) == value, (case, source, key)
    if source == "o2p-flags":  # only a spelling of oauth2-proxy's own says whose flags they are
        assert report.compat == any(o2p.BY_KEY[k].flag != RENAMED.get(k, k).replace("_", "-") for k in theirs)
    else:
        assert report.compat == source.startswith("o2p")


@pytest.mark.parametrize(("argv", "option", "want"), [
    (["--provider", "keycloak-oidc", "--oidc-issuer-url", "https://kc.example/realms/r",
      "--allowed-role", "admin"], "allowed_groups", ["role:admin"]),
    (["--provider", "azure", "--azure-tenant", TENANT, "--azure-graph-group-field", "displayName"],
     "entra_id_graph_group_field", "displayName"),
])  # fmt: skip
def test_a_transform_sees_the_provider_of_a_flag_both_have(argv: list[str], option: str, want: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """`--provider` is authsvc's flag as well as oauth2-proxy's: the options whose meaning
    depends on the provider must see it all the same."""
    for key in list(os.environ):
        if key.startswith(("AUTHSVC_", "OAUTH2_PROXY_")):
            monkeypatch.delenv(key)
    base = ["--client-id", "c", "--client-secret", "s", "--cookie-secret", COOKIE, "--email-domain", "*"]
    assert getattr(load(config_input(parse([*base, *argv]))).settings, option) == want


@pytest.mark.parametrize(("provider", "want"), [
    (f"provider: azure\n  azureConfig: {{tenant: {TENANT}, graphGroupField: displayName}}\n",
     {"entra_id_graph_group_field": "displayName", "entra_id_tenant": TENANT}),
    ("provider: google\n  googleConfig: {adminEmail: admin@x.com, useApplicationDefaultCredentials: true,"
     " useOrganizationID: true, adminAPIUserScope: cloud}\n",
     {"google_use_organization_id": True, "google_admin_api_user_scope": "cloud"}),
])  # fmt: skip
def test_provider_options_from_the_alpha_config(provider: str, want: dict[str, Any], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("AUTHSVC_", "OAUTH2_PROXY_")):
            monkeypatch.delenv(key)
    alpha = tmp_path / "alpha.yaml"
    alpha.write_text(f"providers:\n- id: p\n  clientID: c\n  clientSecret: s\n  {provider}")
    legacy = tmp_path / "oauth2-proxy.cfg"
    legacy.write_text(f'cookie_secret = "{COOKIE}"\nemail_domains = ["*"]\n')
    s = load(ConfigInput(str(legacy), str(alpha))).settings
    assert {key: getattr(s, key) for key in want} == want


@pytest.mark.parametrize(("provider", "block", "want"), [
    ("bitbucket", "bitbucketConfig:\n    team: acme\n    repository: acme/site",
     {"bitbucket_team": "acme", "bitbucket_repository": "acme/site"}),
    ("login.gov", "loginGovConfig:\n    jwtKeyFile: {key}\n    pubjwkURL: https://idp.example/certs",
     {"jwt_key_file": "{key}", "oidc_jwks_url": "https://idp.example/certs"}),
])
def test_the_bitbucket_and_login_gov_blocks_of_the_alpha_config(
    provider: str, block: str, want: dict[str, str], files: dict[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OAUTH2_PROXY_COOKIE_SECRET", COOKIE)
    alpha = tmp_path / "alpha.yaml"
    alpha.write_text(f"providers:\n- id: p\n  provider: {provider}\n  clientID: c\n  clientSecret: s\n"
                     f"  {block.format(key=files['client_key'])}\n")
    s = load(ConfigInput(None, str(alpha))).settings
    assert s.provider == provider
    for key, value in want.items():
        assert getattr(s, key) == value.format(key=files["client_key"])
