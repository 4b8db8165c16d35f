"""`--convert-config-to-alpha`: oauth2-proxy's own expectations (legacy_options_test.go's cases,
tests/fixtures/oauth2-proxy/pkg), its yaml.v3 layout, its command-line errors, and round trips:
each contrib cfg converted, read back with --alpha-config plus what is left of the cfg, gives
the settings the cfg alone gives."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from authsvc.cli import main
from authsvc.config import go_yaml
from authsvc.config.sources import ConfigInput, check
from authsvc.config.to_alpha import LEGACY_KEYS, convert, converted, go_duration
from authsvc.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "tests" / "fixtures" / "oauth2-proxy" / "contrib" / "local-environment"
CASES = yaml.safe_load((ROOT / "tests" / "fixtures" / "oauth2-proxy" / "pkg" /
                        "legacy_options_cases.yaml").read_text())
#: what the samples leave out, as oauth2-proxy users pass it (OAUTH2_PROXY_*)
ENV = {"OAUTH2_PROXY_CLIENT_ID": "sample-client", "OAUTH2_PROXY_CLIENT_SECRET": "sample-secret",
       "OAUTH2_PROXY_COOKIE_SECRET": "OQINaROshtE9TcZkNAm-5Zs2Pv3xaWytBmc5W7sPX7w="}


def _header(ref: str) -> dict[str, Any]:
    name, _, preserve = ref.partition("+")
    header: dict[str, Any] = json.loads(json.dumps(CASES["headers"][name]))
    source = header["values"][0]["claimSource"]
    if "basicAuthPassword" in source:  # a Go []byte: yaml.v3 writes its bytes
        source["basicAuthPassword"]["value"] = list(source["basicAuthPassword"]["value"].encode())
    if preserve:
        header["preserveRequestValue"] = True
    return header


def _bag(headers: list[dict[str, Any]]) -> list[str]:
    """ConsistOf: the same headers in any order."""
    return sorted(json.dumps(h, sort_keys=True) for h in headers)


@pytest.mark.parametrize("case", CASES["header_cases"], ids=lambda c: c["name"])
def test_headers_convert_as_in_oauth2_proxy(case: dict[str, Any]) -> None:
    out = convert(case["legacy"])
    assert _bag(out.get("injectRequestHeaders", [])) == _bag([_header(r) for r in case["request"]])
    assert _bag(out.get("injectResponseHeaders", [])) == _bag([_header(r) for r in case["response"]])


@pytest.mark.parametrize("case", CASES["server_cases"], ids=lambda c: c["name"])
def test_servers_convert_as_in_oauth2_proxy(case: dict[str, Any]) -> None:
    out = convert(case["legacy"])
    assert out["server"] == case["server"]
    assert out["metricsServer"] == case["metricsServer"]


def test_to_options_converts_as_in_oauth2_proxy() -> None:
    case = CASES["to_options"]
    out = convert(case["legacy"])
    assert out["upstreamConfig"] == {"proxyRawPath": False, "upstreams": case["upstreams"]}
    assert out["injectRequestHeaders"] == [_header(r) for r in case["injectRequestHeaders"]]
    assert "injectResponseHeaders" not in out  # [] and omitempty
    assert out["server"] == case["server"]
    [provider] = out["providers"]
    for key, value in case["provider"].items():
        if isinstance(value, dict):
            assert {k: provider[key][k] for k in value} == value, key
        else:
            assert provider[key] == value, key
    # providerDefaults and EnsureDefaults fill in the rest
    assert provider["oidcConfig"]["emailClaim"] == provider["oidcConfig"]["userIDClaim"] == "email"
    assert provider["provider"] == "google" and provider["azureConfig"] == {"tenant": "common"}
    assert provider["backendLogoutURL"] == ""


@pytest.mark.parametrize(("legacy", "provider_block"), [
    ({"provider": "github", "github_org": "o", "github_users": ["a", "b"], "github_token": "t"},
     ("githubConfig", {"org": "o", "token": "t", "users": ["a", "b"]})),
    ({"provider": "keycloak-oidc", "keycloak_groups": ["g"], "allowed_roles": ["r"]},
     ("keycloakConfig", {"groups": ["g"], "roles": ["r"]})),
    ({"provider": "keycloak", "keycloak_groups": ["g"], "allowed_roles": ["r"]},
     ("keycloakConfig", {"groups": ["g"]})),
    ({"provider": "gitlab", "gitlab_groups": ["g"], "gitlab_projects": ["p=40"]},
     ("gitlabConfig", {"group": ["g"], "projects": ["p=40"]})),
    ({"provider": "bitbucket", "bitbucket_team": "t"}, ("bitbucketConfig", {"team": "t"})),
    ({"provider": "login.gov", "jwt_key_file": "k.pem", "pubjwk_url": "https://x/jwk"},
     ("loginGovConfig", {"jwtKeyFile": "k.pem", "pubjwkURL": "https://x/jwk"})),
    ({"provider": "entra-id", "entra_id_allowed_tenants": ["t1"], "entra_id_federated_token_auth": True},
     ("microsoftEntraIDConfig", {"allowedTenants": ["t1"], "federatedTokenAuth": True})),
    # "with legacy provider config": google_group (the legacy spelling) wins when it differs
    ({"google_group": ["1", "2"], "google_groups": ["3"], "google_admin_email": "email@email.com"},
     ("googleConfig", {"group": ["1", "2"], "adminEmail": "email@email.com",
                       "useApplicationDefaultCredentials": False, "useOrganizationID": False})),
])
def test_each_provider_block(legacy: dict[str, Any], provider_block: tuple[str, dict[str, Any]]) -> None:
    [provider] = convert(legacy)["providers"]
    block, want = provider_block
    assert provider[block] == want
    if legacy.get("provider") != "github":
        assert "githubConfig" not in provider


def test_display_name_prompt_and_acr_values() -> None:
    [provider] = convert({"provider_display_name": "displayName", "prompt": "switch_user",
                          "acr_values": "mfa", "force_code_challenge_method": "S256"})["providers"]
    assert provider["id"] == provider["name"] == "displayName"
    assert provider["loginURLParameters"] == [{"name": "acr_values", "default": ["mfa"]},
                                              {"name": "prompt", "default": ["switch_user"]}]
    assert provider["code_challenge_method"] == "S256"


@pytest.mark.parametrize(("seconds", "text"), [(1, "1s"), (30, "30s"), (300, "5m0s"), (3600, "1h0m0s"),
                                               (1.5, "1.5s"), (0.1, "100ms"), (0, "0s"), (90, "1m30s")])
def test_durations_read_as_go_prints_them(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_an_upstream_go_cannot_parse_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--upstream", ":foo", "--convert-config-to-alpha"]) == 1
    assert 'could not parse upstream ":foo"' in capsys.readouterr().err


def test_an_unparsable_upstream_is_echoed_without_its_password(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--upstream", "http://user:s3cret@app.internal/\x01", "--convert-config-to-alpha"]) == 1
    err = capsys.readouterr().err
    assert 'could not parse upstream "http://user:****@app.internal/' in err
    assert "s3cret" not in err


#: the nginx sample, as oauth2-proxy's yaml.v3 lays it out (maps sorted, struct fields in order)
NGINX_HEAD = """\
metricsServer: {}
providers:
    - clientID: oauth2-proxy
      clientSecret: b2F1dGgyLXByb3h5LWNsaWVudC1zZWNyZXQK
      azureConfig:
        tenant: common
      microsoftEntraIDConfig:
        federatedTokenAuth: false
      ADFSConfig:
        skipScope: false
      googleConfig:
        useApplicationDefaultCredentials: false
        useOrganizationID: false
      oidcConfig:
        issuerURL: http://dex.localtest.me:5556/dex
        insecureAllowUnverifiedEmail: false
        insecureSkipIssuerVerification: false
        insecureSkipNonce: true
        skipDiscovery: false
        emailClaim: email
        groupsClaim: groups
        userIDClaim: email
        audienceClaims:
            - aud
      id: Dex
      provider: oidc
      name: Dex
      useSystemTrustStore: false
      loginURLParameters:
        - name: approval_prompt
          default:
            - force
      skipClaimsFromProfileURL: false
      backendLogoutURL: ""
server:
    bindAddress: 0.0.0.0:4180
upstreamConfig:
    proxyRawPath: false
    upstreams:
        - id: static://200
          path: /
          insecureSkipTLSVerify: false
          static: true
          staticCode: 200
          flushInterval: 1s
          passHostHeader: false
          proxyWebSockets: false
          timeout: 30s
          disableKeepAlives: false
"""


def test_the_command_prints_yaml_v3s_layout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(LOCAL / "oauth2-proxy-nginx.cfg"), "--convert-config-to-alpha"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("injectRequestHeaders:\n    - name: X-Forwarded-Groups\n"
                          "      preserveRequestValue: false\n      values:\n        - claimSource:\n"
                          "            claim: groups\n")
    assert out.endswith(NGINX_HEAD)
    assert err == ""  # nothing logged, the client secret above included


def test_basic_auth_password_is_written_as_bytes_and_read_back(tmp_path: Path) -> None:
    text = converted(ConfigInput(), {"OAUTH2_PROXY_SET_BASIC_AUTH": "true",
                                     "OAUTH2_PROXY_BASIC_AUTH_PASSWORD": "pw: 1"})
    assert f"basicAuthPassword:\n{' ' * 16}value:\n{' ' * 20}- 112\n{' ' * 20}- 119\n" in text
    (tmp_path / "a.yaml").write_text(text)
    got = check(ConfigInput(alpha_config=str(tmp_path / "a.yaml")), ENV)
    assert got.report is not None, got.errors
    settings = got.report.settings
    assert settings.set_basic_auth and settings.basic_auth_password.get_secret_value() == "pw: 1"


@pytest.mark.parametrize(("extra", "message"), [
    (["--alpha-config", "x.yaml"], "cannot use alpha-config and convert-config-to-alpha together"),
    (["--alpha-config=x.yaml", "--config-test"], "cannot use alpha-config and convert-config-to-alpha"),
    (["--config-test"], "cannot use config-test and convert-config-to-alpha together"),
])
def test_conflicting_flags_fail_as_in_oauth2_proxy(extra: list[str], message: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--config", str(LOCAL / "oauth2-proxy.cfg"), "--convert-config-to-alpha", *extra])
    assert stop.value.code == 1
    assert message in capsys.readouterr().err


def test_flags_and_env_count_as_oauth2_proxy_reads_them(capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTH2_PROXY_CLIENT_ID", "from-env")
    monkeypatch.setenv("OAUTH2_PROXY_SET_XAUTHREQUEST", "true")
    assert main(["--config", str(LOCAL / "oauth2-proxy-nginx.cfg"), "--provider=github",
                 "--github-user", "a", "--github-user", "b", "--convert-config-to-alpha"]) == 0
    [provider] = yaml.safe_load(capsys.readouterr().out)["providers"]
    assert provider["clientID"] == "from-env" and provider["provider"] == "github"
    assert provider["githubConfig"] == {"users": ["a", "b"]}


def _split(cfg: Path, tmp_path: Path) -> Path:
    """The cfg without the options the YAML now carries (oauth2-proxy refuses both at once)."""
    data = tomllib.loads(cfg.read_text())
    rest = tmp_path / cfg.name
    rest.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in data.items() if k not in LEGACY_KEYS))
    return rest


@pytest.mark.parametrize("cfg", sorted(LOCAL.glob("*.cfg")), ids=lambda p: p.name)
def test_round_trip_gives_the_same_settings(cfg: Path, tmp_path: Path) -> None:
    alpha = tmp_path / "converted.yaml"
    alpha.write_text(converted(ConfigInput(str(cfg)), ENV))
    env = {k: v for k, v in ENV.items() if k.removeprefix("OAUTH2_PROXY_").lower() not in LEGACY_KEYS}
    before = check(ConfigInput(str(cfg)), ENV)
    after = check(ConfigInput(str(_split(cfg, tmp_path)), str(alpha)), env)
    assert before.errors == after.errors == []
    assert before.report is not None and after.report is not None
    assert after.report.settings.model_dump() == before.report.settings.model_dump()


@pytest.mark.parametrize(("provider_yaml", "want", "error"), [
    ("ADFSConfig: {skipScope: true}", {}, "providers[0].adfsconfig.skipscope"),
    ("loginURLParameters: [{name: prompt, default: [consent]}]", {"prompt": "consent"}, None),
    ("loginURLParameters: [{name: approval_prompt, default: [auto]}]", {"approval_prompt": "auto"}, None),
    # what the conversion writes when neither was set: oauth2-proxy's default, not sent here
    ("loginURLParameters: [{name: approval_prompt, default: [force]}]",
     {"approval_prompt": "", "login_url_parameters": []}, None),
    ("loginURLParameters: [{name: acr_values, default: [mfa]}]", {"acr_values": "mfa"}, None),
])
def test_alpha_reads_what_the_conversion_writes(provider_yaml: str, want: dict[str, Any], error: str | None,
                                                tmp_path: Path) -> None:
    alpha = tmp_path / "a.yaml"
    alpha.write_text("providers:\n  - provider: oidc\n    oidcConfig: {issuerURL: 'https://idp.example'}\n"
                     f"    {provider_yaml}\n")
    got = check(ConfigInput(alpha_config=str(alpha)), ENV)
    if error:
        assert any(error in line for line in got.errors)
        return
    assert got.report is not None, got.errors
    for key, value in want.items():
        assert getattr(got.report.settings, key) == value, key


def _without_ensure_defaults(upstream: dict[str, Any]) -> dict[str, Any]:
    """legacy_options_test.go's convert() expectations precede EnsureDefaults, which (as the
    printed YAML has it) adds `static: false` to a proxied upstream."""
    return {k: v for k, v in upstream.items() if not (k == "static" and v is False)}


@pytest.mark.parametrize("case", CASES["upstream_cases"], ids=lambda c: c["name"])
def test_upstreams_convert_as_in_oauth2_proxy(case: dict[str, Any]) -> None:
    legacy = {**CASES["upstream_options"], "upstreams": case["upstreams"]}
    if "error" in case:
        with pytest.raises(ConfigError) as exc:
            convert(legacy)
        assert case["error"] in str(exc.value)
        return
    got = convert(legacy).get("upstreamConfig", {}).get("upstreams", [])
    want = [CASES["upstreams"][name] for name in case["expected"]]
    assert _bag([_without_ensure_defaults(u) for u in got]) == _bag(want)


def _subset(want: Any, got: Any, where: str) -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict), where
        for key, value in want.items():
            assert key in got, f"{where}.{key}"
            _subset(value, got[key], f"{where}.{key}")
    else:
        assert got == want, where


@pytest.mark.parametrize("case", CASES["provider_cases"], ids=lambda c: c["name"])
def test_providers_convert_as_in_oauth2_proxy(case: dict[str, Any]) -> None:
    [got] = convert({**CASES["provider_zero"], **case["legacy"]})["providers"]
    _subset(case["expected"], got, "provider")
    assert "azureConfig" not in got  # a zero tenant: EnsureDefaults sets none
    assert got["oidcConfig"]["emailClaim"] == "email"  # but the claims, it does


@pytest.mark.parametrize(("value", "written"), [
    (":443", ":443"), ("127.0.0.1:4180", "127.0.0.1:4180"), ("", '""'), ("true", '"true"'),
    ("yes", '"yes"'), ("12", '"12"'), ("1:20", '"1:20"'), ("null", '"null"'), ("Basic ", "'Basic '"),
    ("a: b", "'a: b'"), ("http://dex.localtest.me:5556/dex", "http://dex.localtest.me:5556/dex"),
    (False, "false"), (204, "204"), ({}, "{}"),
])
def test_scalars_are_quoted_as_yaml_v3_quotes_them(value: Any, written: str) -> None:
    assert go_yaml.scalar(value) == written


@pytest.mark.parametrize("cfg", sorted(LOCAL.glob("*.cfg")), ids=lambda p: p.name)
def test_the_yaml_reads_back_as_the_document(cfg: Path) -> None:
    document = convert(tomllib.loads(cfg.read_text()))
    assert yaml.safe_load(converted(ConfigInput(str(cfg)), {})) == document
