"""The command line: check-config, generate-secret, --version, and start-up errors."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest

from authsvc import __version__
from authsvc.cli import main
from tests.conftest import SECRET_A

FLAGS = ["--client-id", "c", "--client-secret", "very-secret-value", "--oidc-issuer-url",
         "https://idp.example", "--cookie-secret", SECRET_A]


def test_check_config_prints_masked_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", *FLAGS, "--email-domains", "a.example,b.example"]) == 0
    out, err = capsys.readouterr()
    settings = json.loads(out)
    assert settings["email_domains"] == ["a.example", "b.example"]
    assert "very-secret-value" not in out and SECRET_A not in out
    assert "configuration OK" in err


def test_invalid_flag_value_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", *FLAGS, "--cookie-expire", "forever"]) == 2
    _, err = capsys.readouterr()
    assert err.strip().splitlines() == [
        "authsvc: invalid option cookie_expire (AUTHSVC_COOKIE_EXPIRE): 'forever': "
        "'forever' is not a duration (use e.g. 168h, 1h30m, 15m, 30s)"
    ]


def test_generate_secret_is_32_random_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    main(["generate-secret"])
    first = capsys.readouterr().out.strip()
    main(["generate-secret"])
    second = capsys.readouterr().out.strip()
    assert len(base64.urlsafe_b64decode(first)) == 32
    assert first != second


def test_console_entry_points() -> None:
    out = subprocess.run([sys.executable, "-m", "authsvc", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == f"authsvc {__version__}"
    bad = subprocess.run([sys.executable, "-m", "authsvc", "serve"], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"})
    assert bad.returncode == 2
    assert "cookie_secret" in bad.stderr and "Traceback" not in bad.stderr
