"""check-config as data: a configuration -> every error and warning line it must print, at once.

Each case is a few environment variables (and, where said, a TOML file) on top of a valid base;
the lines expected are all the `authsvc: ...` (problems) and `warning: ...` lines printed, in
order, and the exit status. `{cert}`, `{key}`, `{tmp}` stand for a real certificate, its key and
a scratch directory. `serve` prints the same lines for the same configuration (test at the end).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from authsvc.cli import main
from tests.support.pki import PKI, make_pki

ROOT = Path(__file__).resolve().parents[2]
#: a secret as generate-secret prints one (not a repeated character, not a placeholder)
SECRET = "kZ3q9Vd1pX7mR2sT8wY4aB6cE0fH5jL9nP3rU7vW1x0"
BASE = {"AUTHSVC_COOKIE_SECRET": SECRET, "AUTHSVC_CLIENT_ID": "authsvc",
        "AUTHSVC_CLIENT_SECRET": "Qm9vdHN0cmFwLXRoaXMtaXMtbm90LWEtcmVhbA",
        "AUTHSVC_OIDC_ISSUER_URL": "https://idp.example", "AUTHSVC_EMAIL_DOMAINS": "example.com"}
PLACEHOLDER = "looks like a placeholder, not a secret; make one with `authsvc generate-secret`"
NOBODY = ("warning: email_domains is empty and no authenticated_emails_file or htpasswd_file is set: "
          "nobody can sign in (every login ends in 403); list the allowed domains "
          '(email_domains = ["example.com"]), or "*" for any verified address')


def _json_warning(entry: str) -> str:
    return (f"warning: email_domains (env AUTHSVC_EMAIL_DOMAINS): the entry {entry!r} looks like part "
            "of a JSON list or a quoted string; write a comma-separated list (a.com,b.com) or a JSON "
            'array of strings (["a.com","b.com"])')


def _secret_warning(option: str, where: str) -> str:
    return f"warning: {option} ({where}) looks like a placeholder, not a secret: put in the real one"


@dataclass(frozen=True)
class Case:
    id: str
    #: on top of BASE; None removes the variable
    env: dict[str, str | None]
    lines: list[str]
    status: int = 2
    toml: str = ""
    flags: list[str] = field(default_factory=list)


CASES = [
    # --- several problems, one run ----------------------------------------------------------
    Case("every-problem-at-once", {"AUTHSVC_PROVIDER": "gihub", "AUTHSVC_LOG_LEVEL": "loud",
                                   "AUTHSVC_WORKERS": "100", "AUTHSVC_COOKIE_REFRESH": "200h",
                                   "AUTHSVC_CLIENT_ID": None}, [
        "authsvc: invalid option log_level (AUTHSVC_LOG_LEVEL): 'loud' is not one of the allowed "
        "values: Input should be 'debug', 'info', 'warning', 'error' or 'critical'",
        "authsvc: invalid option workers (AUTHSVC_WORKERS): 100 is not between 1 and 64",
        "authsvc: invalid option provider (AUTHSVC_PROVIDER): 'gihub': is not a provider authsvc has; "
        "did you mean 'github'? one of: azure, bitbucket, entra-id, github, gitlab, google, keycloak, "
        "keycloak-oidc, login.gov, oidc",
        "authsvc: invalid option client_id (AUTHSVC_CLIENT_ID): is required",
        "authsvc: invalid option cookie_refresh (AUTHSVC_COOKIE_REFRESH): must be shorter than "
        "cookie_expire",
    ]),
    Case("all-three-endpoints-without-discovery", {"AUTHSVC_SKIP_OIDC_DISCOVERY": "true"}, [
        "authsvc: invalid option login_url (AUTHSVC_LOGIN_URL): is required with skip_oidc_discovery",
        "authsvc: invalid option redeem_url (AUTHSVC_REDEEM_URL): is required with skip_oidc_discovery",
        "authsvc: invalid option oidc_jwks_url (AUTHSVC_OIDC_JWKS_URL): is required with "
        "skip_oidc_discovery (or oidc_public_key_files)",
    ]),
    Case("nothing-given", {k: None for k in BASE}, [
        "authsvc: invalid option oidc_issuer_url (AUTHSVC_OIDC_ISSUER_URL): is required for provider "
        "'oidc'",
        "authsvc: invalid option client_id (AUTHSVC_CLIENT_ID): is required",
        "authsvc: invalid option client_secret (AUTHSVC_CLIENT_SECRET): is required (or set "
        "client_secret_file, or jwt_key)",
        "authsvc: invalid option cookie_secret (AUTHSVC_COOKIE_SECRET): is required; make one with "
        "`authsvc generate-secret`",
    ]),
    # --- what only failed when serve built it ---------------------------------------------------
    Case("provider-typo", {"AUTHSVC_PROVIDER": "gitlub"}, [
        "authsvc: invalid option provider (AUTHSVC_PROVIDER): 'gitlub': is not a provider authsvc has; "
        "did you mean 'gitlab'? one of: azure, bitbucket, entra-id, github, gitlab, google, keycloak, "
        "keycloak-oidc, login.gov, oidc",
    ]),
    Case("route-parameter-in-ping-path", {"AUTHSVC_PING_PATH": "/ping/{x:int}"}, [
        "authsvc: invalid option ping_path (AUTHSVC_PING_PATH): '/ping/{x:int}': '/ping/{x:int}' must "
        "be a plain path starting with '/' (e.g. /ping)",
    ]),
    Case("https-without-address", {"AUTHSVC_TLS_CERT_FILE": "{cert}", "AUTHSVC_TLS_KEY_FILE": "{key}",
                                   "AUTHSVC_HTTPS_ADDRESS": ""}, [
        "authsvc: invalid option https_address (AUTHSVC_HTTPS_ADDRESS): is required with tls_cert_file "
        "(e.g. :443 or 0.0.0.0:4443)",
    ]),
    Case("two-listeners-one-port", {"AUTHSVC_METRICS_SECURE_ADDRESS": "127.0.0.1:4180",
                                    "AUTHSVC_METRICS_TLS_CERT_FILE": "{cert}",
                                    "AUTHSVC_METRICS_TLS_KEY_FILE": "{key}"}, [
        "authsvc: invalid option metrics_secure_address (AUTHSVC_METRICS_SECURE_ADDRESS): must use "
        "another port than http_address",
    ]),
    # --- listeners: oauth2-proxy's forms (config/listen.py, web/listen.py) ----------------------
    Case("unix-socket-option-typo", {"AUTHSVC_HTTP_ADDRESS": "unix:///run/a.sock,mod=0660"}, [
        "authsvc: invalid option http_address (AUTHSVC_HTTP_ADDRESS): 'unix:///run/a.sock,mod=0660': "
        "unknown unix socket option 'mod' (only mode=0NNN)",
    ]),
    Case("unix-socket-mode-not-octal", {"AUTHSVC_HTTP_ADDRESS": "unix:///run/a.sock,mode=0999"}, [
        "authsvc: invalid option http_address (AUTHSVC_HTTP_ADDRESS): 'unix:///run/a.sock,mode=0999': "
        "the socket file mode must be octal permission bits, 0000 to 0777 (e.g. mode=0660)",
    ]),
    Case("unix-socket-directory-missing", {"AUTHSVC_HTTP_ADDRESS": "unix://{tmp}/nowhere/a.sock"}, [
        "authsvc: invalid option http_address: the socket's directory {tmp}/nowhere does not exist",
    ]),
    Case("unix-socket-path-is-a-file", {"AUTHSVC_HTTP_ADDRESS": "unix://{tmp}/emails"}, [
        "authsvc: invalid option http_address: {tmp}/emails exists and is not a socket; authsvc replaces "
        "only a stale socket file, never another file",
    ]),
    Case("ipv6-without-brackets", {"AUTHSVC_HTTP_ADDRESS": "::1:4180"}, [
        "authsvc: invalid option http_address (AUTHSVC_HTTP_ADDRESS): '::1:4180': an IPv6 address goes "
        "in brackets, e.g. [::1]:4180",
    ]),
    Case("fd-without-a-number", {"AUTHSVC_HTTP_ADDRESS": "fd:three"}, [
        "authsvc: invalid option http_address (AUTHSVC_HTTP_ADDRESS): 'fd:three': fd: needs a "
        "descriptor number (e.g. fd:3, systemd's first)",
    ]),
    Case("metrics-on-the-main-socket", {"AUTHSVC_HTTP_ADDRESS": "unix://{tmp}/a.sock",
                                        "AUTHSVC_METRICS_ADDRESS": "unix://{tmp}/a.sock,mode=0600"}, [
        "authsvc: invalid option metrics_address (AUTHSVC_METRICS_ADDRESS): must use another port (or "
        "socket) than http_address",
    ]),
    Case("unix-socket-not-trusted", {"AUTHSVC_HTTP_ADDRESS": "unix://{tmp}/a.sock",
                                     "AUTHSVC_TRUSTED_PROXY_IPS": "10.0.0.5"}, [
        "warning: http_address is a unix socket (or fd:) but trusted_proxy_ips holds neither 127.0.0.1 "
        'nor ::1: the local proxy\'s forwarded headers are not believed (docs/security.md, "Unix '
        'sockets"); oauth2-proxy believes them',
    ], status=0),
    Case("unix-socket-and-ipv6-fine", {"AUTHSVC_HTTP_ADDRESS": "unix://{tmp}/a.sock,mode=0660",
                                       "AUTHSVC_METRICS_ADDRESS": "http://[::1]:9090"}, [], status=0),
    Case("redis-ca-that-does-not-load", {"AUTHSVC_SESSION_STORE_TYPE": "redis",
                                         "AUTHSVC_REDIS_CONNECTION_URL": "rediss://redis.example:6380",
                                         "AUTHSVC_REDIS_CA_PATH": "{tmp}/missing.pem"}, [
        "authsvc: invalid option redis_ca_path (AUTHSVC_REDIS_CA_PATH): '{tmp}/missing.pem' is not a "
        "readable PEM CA file (No such file or directory)",
    ]),
    Case("cookie-path-with-attributes", {"AUTHSVC_COOKIE_PATH": "/; Domain=example.org"}, [
        "authsvc: invalid option cookie_path (AUTHSVC_COOKIE_PATH): '/; Domain=example.org': "
        "'/; Domain=example.org' must start with '/' and hold no space, ';' or control character",
    ]),
    # --- placeholders ------------------------------------------------------------------------
    Case("cookie-secret-from-the-docs", {"AUTHSVC_COOKIE_SECRET": "<output of generate-secret>"}, [
        f"authsvc: invalid option cookie_secret (AUTHSVC_COOKIE_SECRET): {PLACEHOLDER}",
    ]),
    Case("cookie-secret-unexpanded", {"AUTHSVC_COOKIE_SECRET": "${COOKIE_SECRET}"}, [
        f"authsvc: invalid option cookie_secret (AUTHSVC_COOKIE_SECRET): {PLACEHOLDER}",
    ]),
    Case("cookie-secret-change-me", {"AUTHSVC_COOKIE_SECRET": "change-me-to-a-generated-secret"}, [
        f"authsvc: invalid option cookie_secret (AUTHSVC_COOKIE_SECRET): {PLACEHOLDER}",
    ]),
    Case("cookie-secret-one-character", {"AUTHSVC_COOKIE_SECRET": "a" * 32}, [
        "warning: cookie_secret (env AUTHSVC_COOKIE_SECRET) is one character repeated: anyone can "
        "guess it; make one with `authsvc generate-secret`",
    ], status=0),
    Case("client-secret-dots", {"AUTHSVC_CLIENT_SECRET": "..."}, [
        _secret_warning("client_secret", "env AUTHSVC_CLIENT_SECRET")], status=0),
    Case("client-secret-replace-me", {"AUTHSVC_CLIENT_SECRET": "REPLACE_ME"}, [
        _secret_warning("client_secret", "env AUTHSVC_CLIENT_SECRET")], status=0),
    Case("client-secret-todo", {"AUTHSVC_CLIENT_SECRET": "TODO"}, [
        _secret_warning("client_secret", "env AUTHSVC_CLIENT_SECRET")], status=0),
    Case("redis-password-xxx", {"AUTHSVC_REDIS_PASSWORD": "xxxxxxxx"}, [
        _secret_warning("redis_password", "env AUTHSVC_REDIS_PASSWORD")], status=0),
    Case("cookie-secret-helm-chart-default", {"AUTHSVC_COOKIE_SECRET": "XXXXXXXXXXXXXXXX"}, [
        "warning: cookie_secret (env AUTHSVC_COOKIE_SECRET) is one character repeated: anyone can "
        "guess it; make one with `authsvc generate-secret`",
    ], status=0),
    Case("placeholder-and-problem-together", {"AUTHSVC_CLIENT_SECRET": "changeme",
                                              "AUTHSVC_COOKIE_EXPIRE": "1x"}, [
        "authsvc: invalid option cookie_expire (AUTHSVC_COOKIE_EXPIRE): '1x': '1x' is not a duration "
        "(use e.g. 168h, 1h30m, 15m, 30s)",
        _secret_warning("client_secret", "env AUTHSVC_CLIENT_SECRET"),
    ]),
    # --- nobody may sign in ---------------------------------------------------------------------
    Case("no-email-domains", {"AUTHSVC_EMAIL_DOMAINS": None}, [NOBODY], status=0),
    Case("empty-email-domains", {"AUTHSVC_EMAIL_DOMAINS": ""}, [NOBODY], status=0),
    Case("an-emails-file-admits", {"AUTHSVC_EMAIL_DOMAINS": None,
                                   "AUTHSVC_AUTHENTICATED_EMAILS_FILE": "{tmp}/emails"}, [], status=0),
    # --- lists that look like JSON --------------------------------------------------------------
    Case("json-array-is-a-list", {"AUTHSVC_EMAIL_DOMAINS": '["example.com", "example.org"]'}, [],
         status=0),
    Case("brackets-without-quotes", {"AUTHSVC_EMAIL_DOMAINS": "[example.com, example.org]"},
         [_json_warning("[example.com")], status=0),
    Case("quoted-entries", {"AUTHSVC_EMAIL_DOMAINS": "'example.com','example.org'"},
         [_json_warning("'example.com'")], status=0),
    # --- Secure cookies over plain http ---------------------------------------------------------
    Case("secure-cookie-http-callback", {"AUTHSVC_REDIRECT_URL": "http://app.example/oauth2/callback"}, [
        "warning: cookie_secure is on but redirect_url (env AUTHSVC_REDIRECT_URL) is plain http: "
        "browsers drop Secure cookies there, so every login fails; serve it over https, or set "
        "cookie_secure = false for plain-http development only",
    ], status=0),
    Case("secure-cookie-http-localhost", {"AUTHSVC_REDIRECT_URL": "http://localhost:4180/oauth2/callback"},
         [], status=0),
    Case("insecure-cookie-http-callback", {"AUTHSVC_REDIRECT_URL": "http://app.example/oauth2/callback",
                                           "AUTHSVC_COOKIE_SECURE": "false"}, [], status=0),
]


def _readme_snippet() -> str:
    """The TOML of README's "Running it for real", as sh would write it (a $(generate-secret)
    expanded; a quoted heredoc keeps it literal, and then it is a placeholder)."""
    section = (ROOT / "README.md").read_text().split("## Running it for real", 1)[1]
    heredoc = re.search(r"cat > authsvc\.toml <<('?)TOML'?\n(.*?)\nTOML\n", section, re.S)
    assert heredoc is not None, "README's Running it for real writes authsvc.toml with a heredoc"
    quoted, body = heredoc.groups()
    return body if quoted else body.replace("$(authsvc generate-secret)", SECRET)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _environment(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("AUTHSVC_", "OAUTH2_PROXY_")):
            monkeypatch.delenv(name)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, [line for line in err.splitlines() if line.startswith(("authsvc: ", "warning: "))], out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_check_config_reports(case: Case, pki: PKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "emails").write_text("someone@example.org\n")
    subst = {"{cert}": str(pki.server_cert), "{key}": str(pki.server_key), "{tmp}": str(tmp_path)}

    def fill(text: str) -> str:
        for token, value in subst.items():
            text = text.replace(token, value)
        return text

    env = {k: fill(v) for k, v in {**BASE, **case.env}.items() if v is not None}
    _environment(monkeypatch, env)
    status, lines, out = _run(["check-config", *case.flags], capsys)
    assert lines == [fill(line) for line in case.lines]
    assert status == case.status
    if status == 0:
        assert json.loads(out)["cookie_secret"] == ["**** (32 bytes)"] or case.id.startswith("cookie")


def test_a_json_array_from_the_environment_is_a_list(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _environment(monkeypatch, {**BASE, "AUTHSVC_EMAIL_DOMAINS": '["example.com","example.org"]'})
    assert main(["check-config"]) == 0
    assert json.loads(capsys.readouterr().out)["email_domains"] == ["example.com", "example.org"]
    flags = ["--email-domains", '["a.example", "b.example"]', "--email-domains", "c"]
    assert main(["check-config", *flags]) == 0
    assert json.loads(capsys.readouterr().out)["email_domains"] == ["a.example", "b.example", "c"]


def test_oauth2_proxy_lists_take_a_json_array_too(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    theirs = {"OAUTH2_PROXY_PROVIDER": "oidc", "OAUTH2_PROXY_EMAIL_DOMAINS": '["example.com"]'}
    _environment(monkeypatch, {**{k: v for k, v in BASE.items() if k != "AUTHSVC_EMAIL_DOMAINS"}, **theirs})
    assert main(["check-config"]) == 0
    assert json.loads(capsys.readouterr().out)["email_domains"] == ["example.com"]


def test_readme_running_it_for_real_never_passes_with_a_placeholder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """README's snippet as it is: every value left for the reader to fill in is named."""
    snippet = _readme_snippet()
    (tmp_path / "authsvc.toml").write_text(snippet)
    _environment(monkeypatch, {})
    status, lines, _ = _run(["check-config", "--config", str(tmp_path / "authsvc.toml")], capsys)
    left_open = re.findall(r'^(\w+)\s*=\s*\[?"(<[^"]*>|\.\.\.)"', snippet, re.M)
    for option, _ in left_open:
        assert any(f" {option} (" in line for line in lines), (option, lines)
    if any(option == "cookie_secret" for option, _ in left_open):
        assert status == 2
    if "client_secret" not in snippet:  # the snippet reads it from the terminal
        assert any("client_secret" in line and "is required" in line for line in lines)


README_AS_IT_WAS = '''\
oidc_issuer_url = "https://login.example.com/realms/main"
client_id       = "authsvc"
client_secret   = "..."                      # or client_secret_file, or AUTHSVC_CLIENT_SECRET
cookie_secret   = ["<output of generate-secret>"]
email_domains   = ["example.com"]
proxy_kind      = "nginx"                    # which headers to read; see "Proxies"
'''


def test_readme_snippet_with_its_placeholders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The snippet the issue reported ("configuration OK" with both placeholders), exactly."""
    config = tmp_path / "authsvc.toml"
    config.write_text(README_AS_IT_WAS)
    _environment(monkeypatch, {})
    status, lines, _ = _run(["check-config", "--config", str(config)], capsys)
    assert (status, lines) == (2, [
        f"authsvc: invalid option cookie_secret (AUTHSVC_COOKIE_SECRET; from file {config}): {PLACEHOLDER}",
        _secret_warning("client_secret", f"file {config}"),
    ])


def test_serve_prints_the_same_lines_and_exits_2_without_a_traceback(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **BASE, "AUTHSVC_PROVIDER": "gihub",
           "AUTHSVC_WORKERS": "2", "AUTHSVC_PING_PATH": "/p{x}", "AUTHSVC_CLIENT_SECRET": "changeme"}
    runs = [subprocess.run([sys.executable, "-m", "authsvc", command], capture_output=True, text=True,
                           env=env, timeout=60) for command in ("check-config", "serve")]
    for run in runs:
        assert run.returncode == 2
        assert "Traceback" not in run.stderr
    assert runs[0].stderr.splitlines() == runs[1].stderr.splitlines()
    assert [line.split(" (")[0] for line in runs[1].stderr.splitlines()] == [
        "authsvc: invalid option ping_path", "authsvc: invalid option provider",
        "warning: client_secret"]
