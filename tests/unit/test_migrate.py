"""`authsvc migrate`: a line per oauth2-proxy option, and a TOML that means the same without them."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from authsvc.cli import main
from authsvc.config import oauth2_proxy as o2p
from authsvc.config.sources import ConfigInput, load

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "tests" / "fixtures" / "oauth2-proxy" / "contrib" / "local-environment"
SECRETS = {"CLIENT_ID": "sample-client", "CLIENT_SECRET": "sample-client-secret",
           "COOKIE_SECRET": "OQINaROshtE9TcZkNAm-5Zs2Pv3xaWytBmc5W7sPX7w="}


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("AUTHSVC_", "OAUTH2_PROXY_")):
            monkeypatch.delenv(key)


@pytest.mark.parametrize("name", ["oauth2-proxy-nginx.cfg", "oauth2-proxy-traefik.cfg",
                                  "oauth2-proxy-keycloak.cfg", "oauth2-proxy-gitea.cfg"])
def test_migrated_toml_means_the_same(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in SECRETS.items():
        monkeypatch.setenv(f"OAUTH2_PROXY_{key}", value)
    cfg = LOCAL / name
    before = load(ConfigInput(str(cfg))).settings
    out = tmp_path / "authsvc.toml"
    assert main(["migrate", "--config", str(cfg), "--output", str(out)]) == 0
    report = capsys.readouterr().err
    assert "upstreams" in report and "ignored" in report
    text = out.read_text()
    # upstreams = static://<code>: forward-auth at every path, authsvc's any_path_auth_status
    static = "static://" in cfg.read_text()
    assert ("any_path_auth_status = " in text) == static
    for key in ("CLIENT_SECRET", "COOKIE_SECRET"):
        assert SECRETS[key] not in text + report
    tomllib.loads(text)
    # the same settings from authsvc's own TOML, secrets as AUTHSVC_* variables
    for key, value in SECRETS.items():
        monkeypatch.delenv(f"OAUTH2_PROXY_{key}")
        monkeypatch.setenv(f"AUTHSVC_{key}", value)
    after = load(ConfigInput(str(out)))
    assert not after.compat
    assert after.settings.masked() == before.masked()


def test_report_says_renamed_and_not_supported(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # an option of oauth2-proxy's made unsupported here: the real ones get supported in time
    monkeypatch.setitem(o2p.TREATMENTS, "ping_user_agent", o2p.Unsupported("a reason of the test's"))
    cfg = tmp_path / "x.cfg"
    cfg.write_text('github_users = ["ada"]\nprovider = "github"\nclient_id = "c"\n'
                   'ping_user_agent = "probe/1"\nupstreams = ["static://202"]\n')
    assert main(["migrate", "--config", str(cfg)]) == 1
    out, err = capsys.readouterr()
    lines = {line.split()[0]: line for line in err.splitlines() if line and not line.startswith("cannot")}
    assert "renamed" in lines["github_users"] and "github_user" in lines["github_users"]
    assert "not supported" in lines["ping_user_agent"]
    assert "cannot migrate: option ping_user_agent" in err
    assert 'github_user = ["ada"]' in out


def test_migrate_needs_an_oauth2_proxy_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 2
    assert "no oauth2-proxy configuration" in capsys.readouterr().err


@pytest.mark.parametrize("provider", ["bitbucket", "login.gov"])
def test_the_new_providers_migrate_and_the_jwt_key_stays_a_secret(
    provider: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.fake_idp import client_key_pem

    cfg = tmp_path / "oauth2-proxy.cfg"
    lines = [f'provider = "{provider}"', 'client_id = "c"', 'email_domains = ["*"]']
    if provider == "bitbucket":
        lines += ['client_secret = "s3cret"', 'bitbucket_team = "acme"', 'bitbucket_repository = "acme/site"']
    else:
        monkeypatch.setenv("OAUTH2_PROXY_JWT_KEY", client_key_pem())
        lines += ['pubjwk_url = "https://idp.int.identitysandbox.gov/api/openid_connect/certs"']
    cfg.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("OAUTH2_PROXY_COOKIE_SECRET", SECRETS["COOKIE_SECRET"])
    before = load(ConfigInput(str(cfg))).settings
    out = tmp_path / "authsvc.toml"
    assert main(["migrate", "--config", str(cfg), "--output", str(out)]) == 0
    report, text = capsys.readouterr().err, out.read_text()
    assert "not supported" not in report
    key_body = client_key_pem().splitlines()[1]
    assert key_body not in text + report and "s3cret" not in text + report and "****" not in text
    if provider == "login.gov":
        assert "# jwt_key: was given by env OAUTH2_PROXY_JWT_KEY; set it as AUTHSVC_JWT_KEY or " \
               "jwt_key_file" in text
        assert 'oidc_jwks_url = "https://idp.int.identitysandbox.gov/api/openid_connect/certs"' in text
    else:
        assert 'bitbucket_team = "acme"' in text and 'bitbucket_repository = "acme/site"' in text
    # the TOML, with the secrets as AUTHSVC_* variables, means what the oauth2-proxy cfg meant
    for key in list(os.environ):
        if key.startswith("OAUTH2_PROXY_"):
            monkeypatch.setenv("AUTHSVC_" + key.removeprefix("OAUTH2_PROXY_"), os.environ[key])
            monkeypatch.delenv(key)
    if provider == "bitbucket":
        monkeypatch.setenv("AUTHSVC_CLIENT_SECRET", "s3cret")
    assert load(ConfigInput(str(out))).settings.masked() == before.masked()
