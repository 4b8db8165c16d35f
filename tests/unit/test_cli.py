"""The command line: check-config, generate-secret, --version, and start-up errors."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

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


SECRET = "s3cr3t-Xq9vT2"


@pytest.mark.parametrize("argv", [
    ["serve", "--cookie-secert", SECRET],                 # a mistyped flag, then its secret
    ["serve", f"--client-secert={SECRET}"],
    ["serve", "--cookie-secret", f"-{SECRET}"],            # a value that starts with "-"
    ["serve", "--cookie-secert", f"-{SECRET}"],
    ["serve", f"-{SECRET}"],
    ["serve", f"--{SECRET}"],
    ["serve", SECRET],
    ["serve", "--", SECRET],
    ["serve", f"--help={SECRET}"],
    ["demo", "--port", SECRET],
    [SECRET],                                              # where the command goes
    [f"--client-secert={SECRET}"],                         # oauth2-proxy's way: flags, no command
    ["check-config", "--cookie-secret"],
])
def test_flag_errors_never_repeat_a_value(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert err.startswith("authsvc: error: ") and "Traceback" not in err


def test_a_mistyped_flag_is_named_with_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--cookie-secert", SECRET, "--cookie-secret", f"-{SECRET}"])
    assert capsys.readouterr().err.splitlines() == [
        "authsvc: error: argument --cookie-secret: expected one argument (a value that starts with "
        "'-' is written --flag=VALUE)"]
    with pytest.raises(SystemExit):
        main(["serve", "--cookie-secert", SECRET])
    assert capsys.readouterr().err.splitlines() == [
        "authsvc: error: unknown flag --cookie-secert; did you mean --cookie-secret?",
        "authsvc: error: unexpected argument (values are not repeated here)"]
    assert main(["check-config", *FLAGS[:-2], f"--cookie-secret=-{SECRET_A[1:]}"]) == 0


def test_invalid_secret_values_are_not_repeated(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", *FLAGS[:-2], "--cookie-secret", SECRET, "--client-secret",
                 "<" + SECRET + ">", "--redis-password", "x" * 12, "--basic-auth-password", SECRET]) == 2
    out, err = capsys.readouterr()
    assert SECRET not in out + err and "x" * 12 not in out + err
    assert "invalid option cookie_secret" in err and "warning: client_secret" in err


@pytest.mark.parametrize("command", ["serve", "check-config"])
def test_help_gives_each_option_its_meaning_default_and_variable(
        command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from authsvc.config import Settings
    from authsvc.config.reference import TITLES

    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping within a help text
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert len(text.splitlines()[0]) < 80  # the usage line, not 130 flags
    entries: dict[str, str] = {}  # first flag -> its invocation and help, as one line
    for line in text.splitlines():
        if line.startswith("  --"):
            current = line.split()[0]
            entries[current] = " ".join(line.split())
        elif line.startswith("    ") and entries:
            entries[current] += " " + " ".join(line.split())
    for name in Settings.model_fields:
        entry = entries[f"--{name.replace('_', '-')}"]
        assert f"env AUTHSVC_{name.upper()}]" in entry and "[default: " in entry, entry
    assert entries["--cookie-expire"] == ("--cookie-expire DURATION session lifetime (enforced on the server "
                                          "side too); 0 = browser session [default: 168h; env "
                                          "AUTHSVC_COOKIE_EXPIRE]")
    assert entries["--client-secret"] == ("--client-secret VALUE OAuth2 client secret [default: — "
                                          "(required); env AUTHSVC_CLIENT_SECRET]")
    assert entries["--email-domains"].startswith("--email-domains A,B, --email-domain A,B allowed e-mail")
    # grouped as the settings are, every group with a heading of its own
    headings = [line[len("options: "):-1] for line in text.splitlines() if line.startswith("options: ")]
    assert headings == list(TITLES.values())


def test_a_metrics_port_in_use_is_one_line() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        run = subprocess.run([sys.executable, "-m", "authsvc", "serve", *FLAGS, "--email-domains=a.example",
                              f"--metrics-address=127.0.0.1:{port}", "--http-address=127.0.0.1:1"],
                             capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 1
    assert run.stderr.splitlines()[-1] == ("authsvc: cannot listen for /metrics (metrics_address, "
                                           "metrics_secure_address): Address already in use")
    assert "Traceback" not in run.stderr
