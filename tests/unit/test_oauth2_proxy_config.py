"""oauth2-proxy's configuration read as it is: its .cfg, OAUTH2_PROXY_* env, its flags, alpha YAML."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from authsvc.cli import main, parse
from authsvc.config import Settings
from authsvc.config import oauth2_proxy as o2p
from authsvc.config.sources import ConfigInput, Report, load
from authsvc.errors import ConfigError
from tests.conftest import SECRET_A

SECRET = base64.urlsafe_b64encode(b"s" * 32).decode()
OIDC = {"provider": "oidc", "oidc_issuer_url": "https://idp.example", "client_id": "c",
        "client_secret": "very-secret-client", "cookie_secret": SECRET}


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith(("AUTHSVC_", "OAUTH2_PROXY_")):
            monkeypatch.delenv(key)


def cfg(tmp_path: Path, text: str, name: str = "oauth2-proxy.cfg") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def toml(options: dict[str, Any]) -> str:
    return "".join(f"{k} = {json.dumps(v)}\n" for k, v in options.items())


def run(argv: list[str]) -> Report:
    from authsvc.cli import config_input

    return load(config_input(parse(argv)))


# --- the inventory ------------------------------------------------------------------------------
def test_inventory_has_every_option_and_a_treatment_for_each() -> None:
    assert len(o2p.OPTIONS) == 168  # pkg/apis/options at 14af2951, google_group included
    fields = set(Settings.model_fields)
    for option in o2p.OPTIONS:
        assert o2p.treatment(option.key, fields) is not None or option.key in fields, option.key


def test_coverage_of_auth_request_mode_options() -> None:
    """The count the migration guide reports: supported = same + renamed + built in."""
    fields = set(Settings.model_fields)
    proxy_mode = {k for k, t in o2p.TREATMENTS.items() if isinstance(t, o2p.Ignored)
                  and t.reason.startswith(o2p._PROXY_MODE)}
    relevant = [o for o in o2p.OPTIONS if o.key not in proxy_mode]
    unsupported = [o.key for o in relevant
                   if isinstance(o2p.treatment(o.key, fields), o2p.Unsupported)]
    supported = len(relevant) - len(unsupported)
    assert len(relevant) + len(o2p.CLI_FLAGS) >= 160
    assert supported / len(relevant) >= 0.80, unsupported


# --- the .cfg file -------------------------------------------------------------------------------
def test_oauth2_proxy_cfg_with_its_forms(tmp_path: Path) -> None:
    path = cfg(tmp_path, f"""
http_address = "http://0.0.0.0:4180"
provider = "oidc"
oidc_issuer_url = "https://idp.example"
client_id = "c"
client_secret = "s"
cookie_secret = "{SECRET}"
email_domains = "example.com"
whitelist_domains = ".example.com,.example.org"
cookie_secure = "false"
reverse_proxy = "true"
upstreams = "static://202"
github_users = ["ada"]
skip_auth_regex = ["^/health$"]
skip_auth_routes = ["GET=^/public"]
cookie_expire = "12h0m0s"
code_challenge_method = "S256"
silence_ping_logging = true
""")
    report = load(ConfigInput(path))
    s = report.settings
    assert report.compat
    assert s.http_address == "0.0.0.0:4180"
    assert s.email_domains == ["example.com"]
    assert s.whitelist_domains == [".example.com", ".example.org"]
    assert (s.cookie_secure, s.reverse_proxy) == (False, True)
    assert s.github_user == ["ada"]
    assert sorted(s.skip_auth_routes) == ["GET=^/public", "^/health$"]
    assert s.cookie_expire == 12 * 3600
    # oauth2-proxy's defaults where authsvc's differ
    assert (s.cookie_name, s.cookie_samesite, s.set_xauthrequest) == ("_oauth2_proxy", "", False)
    assert (s.metrics_address, s.metrics_on_main_port, s.log_requests) == ("-", False, True)
    assert s.logging_local_time and report.origins["logging_local_time"] == "oauth2-proxy default"
    assert report.origins["cookie_name"] == "oauth2-proxy default"
    assert report.origins["email_domains"] == f"file {path}"
    notes = {n.key: n for n in report.notes}
    # static://202: forward-auth answered at every path (oauth2-proxy's static upstream)
    assert notes["upstreams"].status == "renamed" and s.any_path_auth_status == 202
    assert notes["github_users"].status == "renamed"
    assert notes["code_challenge_method"].status == "built in" and not notes["code_challenge_method"].warn
    assert not any(w.startswith("oauth2-proxy option upstreams") for w in report.warnings)


@pytest.mark.parametrize(("upstreams", "status"), [
    (["static://202"], 202), (["static://200"], 200), ("static://202/ignored/path", 202),
    (["static://202", "static://202"], 202), (["http://app:8080"], 0), (["file:///dev/null"], 0),
    ([], 0),
])
def test_upstreams_static_become_any_path_auth_status(tmp_path: Path, upstreams: Any, status: int) -> None:
    report = load(ConfigInput(cfg(tmp_path, toml({**OIDC, "upstreams": upstreams}))))
    assert report.settings.any_path_auth_status == status
    warned = any(w.startswith("oauth2-proxy option upstreams") and "proxy mode only" in w
                 for w in report.warnings)
    assert warned == (status == 0 and bool(upstreams))


@pytest.mark.parametrize(("upstreams", "message"), [
    (["static://404"], "only with a 2xx code"),
    (["static://abc"], "only with a 2xx code"),
    (["static://202", "http://app:8080"], "static and proxied upstreams together"),
    (["static://202", "static://200"], "different codes"),
])
def test_upstreams_authsvc_cannot_mean_are_refused(
    tmp_path: Path, upstreams: list[str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(ConfigInput(cfg(tmp_path, toml({**OIDC, "upstreams": upstreams}))))
    assert "invalid option upstreams" in str(info.value) and message in str(info.value)


def test_cfg_told_apart_from_authsvc_toml_by_keys(tmp_path: Path) -> None:
    ours = load(ConfigInput(cfg(tmp_path, toml(OIDC), "a.toml")))
    assert not ours.compat and ours.settings.cookie_name == "_authsvc"
    assert not ours.settings.logging_local_time  # authsvc's own default: UTC
    theirs = load(ConfigInput(cfg(tmp_path, toml({**OIDC, "upstreams": ["static://202"]}), "b.toml")))
    assert theirs.compat and theirs.settings.cookie_name == "_oauth2_proxy"


def test_defaults_given_explicitly_win(tmp_path: Path) -> None:
    given = toml({**OIDC, "cookie_name": "_x", "set_xauthrequest": True})
    s = load(ConfigInput(cfg(tmp_path, given))).settings
    assert (s.cookie_name, s.set_xauthrequest) == ("_x", True)


def test_provider_defaults_to_google(tmp_path: Path) -> None:
    s = load(ConfigInput(cfg(tmp_path, toml({"client_id": "c", "client_secret": "s",
                                              "cookie_secret": SECRET})))).settings
    assert (s.provider, s.oidc_issuer_url) == ("google", "https://accounts.google.com")


def test_user_id_claim_means_the_email_claim(tmp_path: Path) -> None:
    s = load(ConfigInput(cfg(tmp_path, toml({**OIDC, "user_id_claim": "upn"})))).settings
    assert (s.oidc_email_claim, s.user_id_claim) == ("upn", "sub")
    both = load(ConfigInput(cfg(tmp_path, toml({**OIDC, "user_id_claim": "upn",
                                                 "oidc_email_claim": "mail"})))).settings
    assert (both.oidc_email_claim, both.user_id_claim) == ("mail", "sub")
    ours = load(ConfigInput(cfg(tmp_path, toml({**OIDC, "user_id_claim": "upn"}), "a.toml"))).settings
    assert (ours.oidc_email_claim, ours.user_id_claim) == ("email", "upn")


def test_allowed_roles_for_keycloak_oidc(tmp_path: Path) -> None:
    options = {**OIDC, "provider": "keycloak-oidc", "allowed_groups": ["/ops"],
               "allowed_roles": ["admin", "app:editor"]}
    s = load(ConfigInput(cfg(tmp_path, toml(options)))).settings
    assert s.allowed_groups == ["/ops", "role:admin", "role:app:editor"]
    google = load(ConfigInput(cfg(tmp_path, toml({**OIDC, "provider": "google", "oidc_issuer_url": "",
                                                   "allowed_roles": ["admin"]}))))
    assert google.settings.allowed_groups == []
    assert any("allowed_roles" in w and "keycloak-oidc" in w for w in google.warnings)


def test_implicit_groups_scope(tmp_path: Path) -> None:
    s = load(ConfigInput(cfg(tmp_path, toml({**OIDC, "allowed_groups": ["ops"]})))).settings
    assert s.scope == "openid email profile groups"


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("ping_user_agent", "probe/1", "a reason of the test's"),
    ],
)
def test_unsupported_option_is_refused_with_the_reason(tmp_path: Path, key: str, value: Any,
                                                       says: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # an option of oauth2-proxy's made unsupported here: the real ones get supported in time
    monkeypatch.setitem(o2p.TREATMENTS, "ping_user_agent", o2p.Unsupported("a reason of the test's"))
    with pytest.raises(ConfigError) as info:
        load(ConfigInput(cfg(tmp_path, toml({**OIDC, key: value}))))
    assert f"option {key} (file " in str(info.value)
    assert "is not supported by authsvc: " in str(info.value) and says in str(info.value)
    assert "check the spelling" not in str(info.value)


def test_oauth2_proxy_go_templates_are_not_read(tmp_path: Path) -> None:
    """oauth2-proxy's custom_templates_dir holds Go templates (other names and variables): the
    pages stay authsvc's own, with a warning, rather than Jinja2 misreading them."""
    report = load(ConfigInput(cfg(tmp_path, toml({**OIDC, "custom_templates_dir": "/templates"}))))
    assert report.settings.custom_templates_dir == ""
    note = {n.key: n for n in report.notes}["custom_templates_dir"]
    assert note.status == "built in" and note.warn and "Go templates" in note.message


def test_unsupported_option_at_its_default_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(o2p.TREATMENTS, "ping_user_agent", o2p.Unsupported("a reason of the test's"))
    report = load(ConfigInput(cfg(tmp_path, toml({**OIDC, "ping_user_agent": "",
                                                   "oidc_public_key_files": []}))))
    assert {n.key: n.status for n in report.notes}["ping_user_agent"] == "unsupported"


def test_typo_gets_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cookie_sceret .*did you mean cookie_secret"):
        load(ConfigInput(cfg(tmp_path, toml({**OIDC, "cookie_sceret": "x", "upstreams": []}))))
    with pytest.raises(ConfigError, match=r"emial_domains .*did you mean email_domains"):
        load(ConfigInput(cfg(tmp_path, toml({**OIDC, "emial_domains": ["x"]}), "a.toml")))


def test_secret_values_are_not_repeated_in_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(ConfigInput(cfg(tmp_path, toml({**OIDC, "basic_auth_password": ["hunter2-list"]}))))
    assert "hunter2" not in str(info.value)


def test_yaml_given_as_config_says_alpha(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--alpha-config"):
        load(ConfigInput(cfg(tmp_path, "server: {}\n", "x.yaml")))


# --- the environment -----------------------------------------------------------------------------
def test_oauth2_proxy_env_is_read_and_ours_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in OIDC.items():
        monkeypatch.setenv(f"OAUTH2_PROXY_{key.upper()}", value)
    monkeypatch.setenv("OAUTH2_PROXY_EMAIL_DOMAINS", "a.example,b.example")
    monkeypatch.setenv("AUTHSVC_CLIENT_ID", "ours")
    # Kubernetes service links for a Service named oauth2-proxy: not options
    monkeypatch.setenv("OAUTH2_PROXY_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("OAUTH2_PROXY_PORT", "tcp://10.0.0.1:80")
    report = load(ConfigInput())
    s = report.settings
    assert report.compat
    assert s.email_domains == ["a.example", "b.example"]
    assert s.client_id == "ours"
    assert s.client_secret.get_secret_value() == "very-secret-client"
    assert report.origins["client_secret"] == "env OAUTH2_PROXY_CLIENT_SECRET"
    assert report.origins["client_id"] == "env AUTHSVC_CLIENT_ID"


def test_env_beats_the_file_and_flags_beat_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = cfg(tmp_path, toml({**OIDC, "cookie_name": "_file", "scope": "openid"}))
    monkeypatch.setenv("OAUTH2_PROXY_COOKIE_NAME", "_env")
    monkeypatch.setenv("OAUTH2_PROXY_SCOPE", "openid email")
    report = run(["serve", "--config", path, "--cookie-name=_flag"])
    assert (report.settings.cookie_name, report.settings.scope) == ("_flag", "openid email")
    assert report.origins["cookie_name"] == "flag --cookie-name"


# --- flags ---------------------------------------------------------------------------------------
def flags(**options: str) -> list[str]:
    return [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]


def test_flags_alone_run_serve_with_oauth2_proxys_grammar() -> None:
    args = parse([*flags(**OIDC), "--email-domain=a.example", "--email-domain", "b.example,c.example",
                  "--allowed-group=x", "--allowed-group=y", "--set-xauthrequest", "--reverse-proxy",
                  "--skip-provider-button=false", "--upstream=static://202",
                  "--https-address=0.0.0.0:4443"])
    assert args.command == "serve"
    from authsvc.cli import config_input

    report = load(config_input(args))
    s = report.settings
    assert s.email_domains == ["a.example", "b.example", "c.example"]
    assert s.allowed_groups == ["x", "y"]
    assert (s.set_xauthrequest, s.reverse_proxy, s.skip_provider_button) == (True, True, False)
    assert s.https_address == "0.0.0.0:4443" and not s.serves_tls  # a no-op without a certificate
    assert report.compat and s.cookie_name == "_oauth2_proxy"
    assert report.origins["email_domains"] == "flag --email-domain"


def test_authsvc_flags_alone_keep_authsvc_defaults() -> None:
    report = run(["check-config", *flags(**OIDC), "--email-domains=a.example"])
    assert not report.compat and report.settings.cookie_name == "_authsvc"


def test_no_prefix_matching(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse(["serve", "--email-dom=a.example"])
    assert info.value.code == 2
    assert "unknown flag --email-dom" in capsys.readouterr().err


def test_unknown_flag_never_echoes_its_value(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(["--cookie-secrt=TOPSECRETVALUE", "--client-secret", "x"])
    err = capsys.readouterr().err
    assert "TOPSECRETVALUE" not in err and "did you mean --cookie-secret" in err


def test_config_test_flag_is_check_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*flags(**OIDC), "--config-test", "--upstream=file:///dev/null"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["cookie_name"] == "_oauth2_proxy"
    assert "very-secret-client" not in out + err
    assert "sources: " in err and "client_secret <- flag --client-secret" in err


def test_user_id_claim_flag_follows_the_configuration() -> None:
    ours = run(["check-config", *flags(**OIDC), "--user-id-claim=preferred_username"]).settings
    assert ours.user_id_claim == "preferred_username"
    theirs = run([*flags(**OIDC), "--user-id-claim=upn", "--upstream=static://202"]).settings
    assert (theirs.user_id_claim, theirs.oidc_email_claim) == ("sub", "upn")


# --- alpha YAML ----------------------------------------------------------------------------------
ALPHA = """
server:
  BindAddress: '0.0.0.0:4180'
metricsServer:
  bindAddress: '0.0.0.0:44180'
providers:
  - id: kc
    provider: keycloak-oidc
    name: Company SSO
    clientID: ${CLIENT_ID}
    clientSecret: ${CLIENT_SECRET:-fallback-secret}
    allowedGroups: [ops]
    loginURLParameters:
      - name: prompt
        default: [select_account]
      - name: login_hint
        allow:
          - pattern: '^[a-z]+@example\\.com$'
    oidcConfig:
      issuerURL: https://sso.example/realms/acme
      emailClaim: email
      audienceClaims: [aud, azp]
    keycloakConfig:
      roles: [admin]
injectResponseHeaders:
  - name: X-Auth-Request-User
    values: [{claimSource: {claim: user}}]
  - name: X-Auth-Request-Email
    values: [{claimSource: {claim: email}}]
  - name: Authorization
    values:
      - claimSource:
          claim: email
          prefix: 'Basic '
          basicAuthPassword: {value: cGFzc3dvcmQ=}
upstreamConfig:
  upstreams: [{id: x, path: /, uri: http://backend}]
"""


def test_alpha_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIENT_ID", "from-env-subst")
    monkeypatch.setenv("OAUTH2_PROXY_CLIENT_ID", "ignored-in-alpha-mode")
    alpha = cfg(tmp_path, ALPHA, "alpha.yaml")
    legacy = cfg(tmp_path, toml({"cookie_secret": SECRET, "email_domains": ["example.com"]}))
    report = run(["--alpha-config", alpha, "--config", legacy, "--config-test"])
    s = report.settings
    assert (s.http_address, s.metrics_address) == ("0.0.0.0:4180", "0.0.0.0:44180")
    assert (s.provider, s.client_id) == ("keycloak-oidc", "from-env-subst")
    assert s.client_secret.get_secret_value() == "fallback-secret"
    assert s.provider_display_name == "Company SSO"
    assert s.allowed_groups == ["ops", "role:admin"]
    assert s.oidc_audience_claims == ["aud", "azp"]
    assert s.login_params() == {"prompt": "select_account"}
    assert "login_hint" in s.allowed_params()
    assert (s.set_xauthrequest, s.set_basic_auth, s.prefer_email_to_user) == (True, True, True)
    assert s.basic_auth_password.get_secret_value() == "password"
    assert any("upstreamconfig" in w for w in report.warnings)


def test_alpha_claim_header_maps_to_claim_headers(tmp_path: Path) -> None:
    # oauth2-proxy#772: a header from an ID token claim authsvc does not send itself
    extra = ("  - name: X-Department\n    values: [{claimSource: {claim: org.department}}]\n"
             "upstreamConfig:")
    alpha = cfg(tmp_path, ALPHA.replace("upstreamConfig:", extra), "alpha.yaml")
    s = load(ConfigInput(alpha_config=alpha, flags={"cookie_secret": SECRET})).settings
    assert s.claim_headers == ["X-Department=org.department"]
    assert s.set_xauthrequest and s.set_basic_auth


@pytest.mark.parametrize(("values", "says"), [
    ("[{claimSource: {claim: department, prefix: 'x-'}}]", "not supported by authsvc"),
    ("[{claimSource: {claim: access_token}}]", "not supported by authsvc"),
    ("[{value: Zml4ZWQ=}]", "not supported by authsvc"),
])  # fmt: skip
def test_alpha_header_authsvc_cannot_send_is_refused(tmp_path: Path, values: str, says: str) -> None:
    extra = f"  - name: X-Department\n    values: {values}\nupstreamConfig:"
    alpha = cfg(tmp_path, ALPHA.replace("upstreamConfig:", extra), "alpha.yaml")
    with pytest.raises(ConfigError, match=rf"X-Department .*{says}"):
        load(ConfigInput(alpha_config=alpha, flags={"cookie_secret": SECRET}))


def test_alpha_claim_header_with_a_hop_by_hop_name_is_refused(tmp_path: Path) -> None:
    extra = "  - name: Connection\n    values: [{claimSource: {claim: tid}}]\nupstreamConfig:"
    alpha = cfg(tmp_path, ALPHA.replace("upstreamConfig:", extra), "alpha.yaml")
    with pytest.raises(ConfigError, match="claim_headers"):
        load(ConfigInput(alpha_config=alpha, flags={"cookie_secret": SECRET}))


def test_check_config_accepts_the_sample_secret(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = cfg(tmp_path, toml({**OIDC, "cookie_secret": SECRET_A}))
    assert main(["check-config", "--config", path]) == 0


def test_authsvc_options_in_an_oauth2_proxy_cfg(tmp_path: Path) -> None:
    s = load(ConfigInput(cfg(tmp_path, toml({**OIDC, "proxy_kind": "nginx", "upstreams": []})))).settings
    assert s.proxy_kind == "nginx" and s.cookie_name == "_oauth2_proxy"


def test_the_images_listen_default_is_weaker_than_a_cfg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTHSVC_DEFAULT_HTTP_ADDRESS", "0.0.0.0:4180")
    path = cfg(tmp_path, toml({**OIDC, "http_address": "0.0.0.0:8080"}))
    assert load(ConfigInput(path)).settings.http_address == "0.0.0.0:8080"
    report = load(ConfigInput(flags=OIDC))
    assert report.settings.http_address == "0.0.0.0:4180"
    assert report.origins["http_address"] == "env AUTHSVC_DEFAULT_HTTP_ADDRESS"


@pytest.mark.parametrize(("value", "limit", "status"), [(0, 5, "ignored"), (3, 3, "same"), (20, 20, "same")])
def test_cookie_csrf_per_request_limit_zero_keeps_the_cap(tmp_path: Path, value: int, limit: int,
                                                           status: str) -> None:
    """oauth2-proxy's 0 (its default) means "no limit"; authsvc never lets login cookies grow
    unbounded, so 0 keeps authsvc's cap instead of stopping start-up."""
    options = {**OIDC, "email_domains": ["*"], "cookie_csrf_per_request_limit": value}
    report = load(ConfigInput(cfg(tmp_path, toml(options))))
    assert report.settings.cookie_csrf_per_request_limit == limit
    note = next(n for n in report.notes if n.key == "cookie_csrf_per_request_limit")
    assert note.status == status


def test_errors_to_info_log_true_is_what_authsvc_does(tmp_path: Path) -> None:
    """authsvc writes every line to one stream: true (errors with the rest) is built in, false
    (oauth2-proxy's split of errors to stderr) is warned as not honoured."""
    for value, warned in ((True, False), (False, True)):
        report = load(ConfigInput(cfg(tmp_path, toml({**OIDC, "errors_to_info_log": value}))))
        note = next(n for n in report.notes if n.key == "errors_to_info_log")
        assert (note.status, note.warn) == ("built in", warned)


ALPHA_STATIC = """
providers:
  - id: oidc
    provider: oidc
    clientID: c
    clientSecret: s
    oidcConfig: {issuerURL: "https://idp.example"}
upstreamConfig:
  upstreams: [{id: static, path: /, static: true, staticCode: 202}]
"""


@pytest.mark.parametrize(("entry", "status"), [
    ("{id: s, path: /, static: true, staticCode: 202}", 202),
    ("{id: s, path: /, static: true}", 200),  # oauth2-proxy's DefaultUpstreamStaticCode
])
def test_alpha_static_upstream_is_any_path_auth_status(tmp_path: Path, entry: str, status: int) -> None:
    text = ALPHA_STATIC.replace("{id: static, path: /, static: true, staticCode: 202}", entry)
    report = load(ConfigInput(alpha_config=cfg(tmp_path, text, "alpha.yaml"),
                              flags={"cookie_secret": SECRET, "email_domains": "x.example"}))
    assert report.settings.any_path_auth_status == status
    assert not any("upstreamconfig" in w for w in report.warnings)


@pytest.mark.parametrize(("entry", "message"), [
    ("{id: s, path: /app, static: true, staticCode: 202}", "a static upstream on path '/app'"),
    ("{id: s, path: /, static: true, staticCode: 202}, {id: a, path: /api, uri: 'http://api'}",
     "static and proxied upstreams together"),
])
def test_alpha_static_upstreams_authsvc_cannot_mean(tmp_path: Path, entry: str, message: str) -> None:
    text = ALPHA_STATIC.replace("{id: static, path: /, static: true, staticCode: 202}", entry)
    with pytest.raises(ConfigError) as info:
        load(ConfigInput(alpha_config=cfg(tmp_path, text, "alpha.yaml"), flags={"cookie_secret": SECRET}))
    assert message in str(info.value)


def test_any_path_auth_status_is_refused_with_apps(tmp_path: Path) -> None:
    text = toml({**OIDC, "any_path_auth_status": 202}) + '\n[[apps]]\nname = "a"\nhosts = ["a.example"]\n'
    with pytest.raises(ConfigError, match="any_path_auth_status: not with"):
        load(ConfigInput(cfg(tmp_path, text, "a.toml")))
    with pytest.raises(ConfigError, match="is not a 2xx status"):
        load(ConfigInput(cfg(tmp_path, toml({**OIDC, "any_path_auth_status": 302}), "b.toml")))
