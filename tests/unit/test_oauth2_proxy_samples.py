"""oauth2-proxy's own sample configs (tests/fixtures/oauth2-proxy, unchanged) pass check-config
and mean what they meant in oauth2-proxy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRIB = ROOT / "tests" / "fixtures" / "oauth2-proxy" / "contrib"
LOCAL = CONTRIB / "local-environment"
#: the secrets the samples leave out, as oauth2-proxy users pass them: OAUTH2_PROXY_* env
SECRETS = {"OAUTH2_PROXY_CLIENT_ID": "sample-client", "OAUTH2_PROXY_CLIENT_SECRET": "sample-secret",
           "OAUTH2_PROXY_COOKIE_SECRET": "OQINaROshtE9TcZkNAm-5Zs2Pv3xaWytBmc5W7sPX7w="}

EXPECTED: dict[str, dict[str, Any]] = {
    "oauth2-proxy-nginx.cfg": {"provider": "oidc", "provider_display_name": "Dex",
                               "oidc_issuer_url": "http://dex.localtest.me:5556/dex",
                               "reverse_proxy": True, "cookie_domains": [".localtest.me"],
                               "email_domains": ["example.com"], "cookie_secure": False},
    "oauth2-proxy-traefik.cfg": {"skip_provider_button": True,
                                 "whitelist_domains": [".oauth2-proxy.localhost"],
                                 "cookie_domains": [".oauth2-proxy.localhost"]},
    "oauth2-proxy-keycloak.cfg": {"provider_display_name": "Keycloak",
                                  "oidc_issuer_url": "http://keycloak.localtest.me:9080/realms/oauth2-proxy"},
    "oauth2-proxy.cfg": {"provider_display_name": "Dex", "client_id": "sample-client"},  # env wins
    "oauth2-proxy-gitea.cfg": {"provider": "github", "provider_display_name": "Gitea",
                               "github_base_url": "http://gitea.localtest.me:3000",
                               "github_api_url": "http://gitea.localtest.me:3000/api/v1"},
    "oauth2-proxy-alpha-config.cfg": {"provider": "google", "email_domains": ["example.com"]},
}


def check_config(*args: str, env: dict[str, str] | None = None) -> tuple[dict[str, Any], str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSVC_", "OAUTH2_PROXY_"))}
    proc = subprocess.run([sys.executable, "-m", "authsvc", *args], capture_output=True, text=True,
                          timeout=60, env={**clean, **(env or {})}, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_cfg_is_accepted_as_it_is(name: str) -> None:
    settings, err = check_config("--config", str(LOCAL / name), "--config-test", env=SECRETS)
    for key, value in EXPECTED[name].items():
        assert settings[key] == value, key
    # oauth2-proxy's defaults, since the samples rely on them
    assert settings["cookie_name"] == "_oauth2_proxy"
    assert settings["set_xauthrequest"] is False and settings["cookie_samesite"] == ""
    text = (LOCAL / name).read_text()
    if "static://" in text:  # forward-auth at `/`: answered at every path (web/any_path.py)
        assert settings["any_path_auth_status"] == int(text.split("static://")[1][:3])
        assert "oauth2-proxy option upstreams" not in err
    elif "upstreams" in text:
        assert "oauth2-proxy option upstreams" in err and "ignored: proxy mode only" in err
        assert settings["any_path_auth_status"] == 0
    assert "configuration OK" in err
    assert "sample-secret" not in err and SECRETS["OAUTH2_PROXY_COOKIE_SECRET"] not in err


def test_the_commented_example_cfg() -> None:
    settings, _ = check_config("--config", str(CONTRIB / "oauth2-proxy.cfg.example"), "--config-test",
                               env=SECRETS)
    assert (settings["provider"], settings["oidc_issuer_url"]) == ("google", "https://accounts.google.com")
    assert settings["http_address"] == "127.0.0.1:4180"


def test_the_alpha_sample_with_its_cfg() -> None:
    settings, err = check_config("--alpha-config", str(LOCAL / "oauth2-proxy-alpha-config.yaml"),
                                 "--config", str(LOCAL / "oauth2-proxy-alpha-config.cfg"), "--config-test")
    assert (settings["provider"], settings["client_id"]) == ("oidc", "oauth2-proxy")
    assert settings["oidc_issuer_url"] == "http://dex.localtest.me:5556/dex"
    assert settings["http_address"] == "0.0.0.0:4180"
    assert settings["set_xauthrequest"] is False  # no injectResponseHeaders: no identity headers
    assert "injectrequestheaders" in err and "upstreamconfig" in err
