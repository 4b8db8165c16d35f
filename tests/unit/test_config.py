"""Settings: sources and their precedence, and one clear line for every invalid option."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authsvc.config import load_settings, parse_duration, secret_bytes
from tests.conftest import SECRET_A, make_settings

REQUIRED = {"cookie_secret": SECRET_A, "client_id": "c", "client_secret": "s",
            "oidc_issuer_url": "https://idp.example"}


def test_precedence_file_then_env_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "authsvc.toml"
    config.write_text(
        'client_id = "from-file"\nclient_secret = "s"\noidc_issuer_url = "https://idp.example"\n'
        f'cookie_secret = ["{SECRET_A}"]\nemail_domains = ["file.example"]\ncookie_name = "_file"\n'
    )
    assert load_settings(config).email_domains == ["file.example"]
    monkeypatch.setenv("AUTHSVC_EMAIL_DOMAINS", "env.example, env2.example")
    monkeypatch.setenv("AUTHSVC_CLIENT_ID", "from-env")
    settings = load_settings(config)
    assert settings.email_domains == ["env.example", "env2.example"]
    assert (settings.client_id, settings.cookie_name) == ("from-env", "_file")
    flagged = load_settings(config, email_domains="flag.example", client_id=None)
    assert flagged.email_domains == ["flag.example"]
    assert flagged.client_id == "from-env"  # an unset flag does not override


def test_defaults_match_oauth2_proxy_where_they_mean_the_same() -> None:
    s = make_settings()
    assert s.http_address == "127.0.0.1:4180"
    assert s.cookie_expire == 168 * 3600
    assert s.cookie_secure and s.cookie_httponly
    assert s.auth_success_status == 202
    assert s.set_xauthrequest  # on by default in authsvc
    assert s.cookie_name == "_authsvc"


def test_client_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    s = load_settings(**{**REQUIRED, "client_secret": None, "client_secret_file": str(secret)})
    assert s.client_secret.get_secret_value() == "from-file"


@pytest.mark.parametrize(
    ("overrides", "option", "says"),
    [
        ({"cookie_secret": None}, "cookie_secret", "required"),
        ({"cookie_secret": "short"}, "cookie_secret", "16 bytes"),
        ({"oidc_issuer_url": None}, "oidc_issuer_url", "required"),
        ({"oidc_issuer_url": "idp.example"}, "oidc_issuer_url", "absolute"),
        ({"client_id": None}, "client_id", "required"),
        ({"client_secret": None}, "client_secret", "required"),
        ({"client_secret_file": "/nonexistent/secret", "client_secret": None}, "client_secret_file",
         "cannot be read"),
        ({"cookie_expire": "1x"}, "cookie_expire", "not a duration"),
        ({"cookie_refresh": "200h"}, "cookie_refresh", "shorter than cookie_expire"),
        ({"cookie_samesite": "sometimes"}, "cookie_samesite", "allowed values"),
        ({"cookie_samesite": "none", "cookie_secure": False}, "cookie_samesite", "cookie_secure"),
        ({"http_address": "4180"}, "http_address", "host:port"),
        ({"http_address": "0.0.0.0:99999"}, "http_address", "host:port"),
        ({"auth_success_status": 302}, "auth_success_status", "2xx"),
        ({"trusted_proxy_ips": "10.0.0.0/8,not-an-ip"}, "trusted_proxy_ips", "not-an-ip"),
        ({"proxy_kind": "apache"}, "proxy_kind", "allowed values"),
        ({"proxy_prefix": "oauth2"}, "proxy_prefix", "start with '/'"),
        ({"cookie_name": "bad name;"}, "cookie_name", "letters"),
        ({"cookie_secure": "perhaps"}, "cookie_secure", "bool"),
        # RFC 6265bis §4.1.3: browsers would drop these cookies (prefixes match in any case)
        ({"cookie_name": "__Host-authsvc", "cookie_secure": False}, "cookie_name", "cookie_secure"),
        ({"cookie_name": "__host-authsvc", "cookie_secure": False}, "cookie_name", "cookie_secure"),
        ({"cookie_name": "__Host-authsvc", "cookie_path": "/app"}, "cookie_name", "cookie_path"),
        ({"cookie_name": "__HOST-a", "cookie_path": "/x"}, "cookie_name", "cookie_path"),
        ({"cookie_name": "__Host-authsvc", "cookie_domains": ".example.com"}, "cookie_name",
         "cookie_domains"),
        ({"cookie_name": "__Host-authsvc", "cookie_domains": "example.com,example.org"},
         "cookie_name", "Domain"),
        ({"cookie_name": "__Secure-authsvc", "cookie_secure": False}, "cookie_name", "cookie_secure"),
        ({"cookie_name": "__secure-x", "cookie_secure": False}, "cookie_name", "cookie_secure"),
        ({"provider": "myspace"}, "provider", "myspace"),
        ({"no_such_option": 1}, "no_such_option", "not an authsvc option"),
    ],
)
def test_invalid_setting_gives_one_line_naming_the_option(
    overrides: dict[str, Any], option: str, says: str
) -> None:
    from authsvc.errors import ConfigError
    from authsvc.providers import create_provider

    options = {k: v for k, v in {**REQUIRED, **overrides}.items() if v is not None}
    with pytest.raises(ConfigError) as err:
        settings = load_settings(**options)
        create_provider(settings, None, lambda: 0.0)  # type: ignore[arg-type]
    message = str(err.value)
    assert len(message.splitlines()) == 1, message
    assert option in message, message
    assert says.lower() in message.lower(), message
    if option != "provider":
        assert f"AUTHSVC_{option.upper()}" in message


def test_unknown_key_in_toml_file_is_named(tmp_path: Path) -> None:
    from authsvc.errors import ConfigError

    config = tmp_path / "bad.toml"
    config.write_text('cookie_secrett = "x"\n')
    with pytest.raises(ConfigError, match="cookie_secrett"):
        load_settings(config, **REQUIRED)
    config.write_text("this is = not toml [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config, **REQUIRED)
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "missing.toml", **REQUIRED)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("168h", 604800), ("1h30m", 5400), ("15m", 900), ("30s", 30), ("500ms", 0.5), ("0", 0),
     ("2d", 172800), (45, 45)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1x", "-5", "1h 30m", "soon", True])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_secret_bytes_reads_base64_like_oauth2_proxy() -> None:
    assert secret_bytes(SECRET_A) == b"A" * 32
    assert secret_bytes("0123456789abcdef0123") == b"0123456789abcdef0123"  # raw when not b64


def test_masked_hides_every_secret() -> None:
    shown = str(make_settings(client_secret="topsecret-value").masked())
    assert "topsecret-value" not in shown
    assert SECRET_A not in shown


def test_every_provider_name_has_an_implementation() -> None:
    from authsvc.config.provider import PROVIDER_NAMES
    from authsvc.providers import PROVIDERS

    assert set(PROVIDER_NAMES) == set(PROVIDERS)


def test_every_option_group_is_checked_alone_and_has_a_help_heading() -> None:
    from authsvc.config import Settings
    from authsvc.config.reference import TITLES
    from authsvc.config.settings import GROUPS

    assert set(GROUPS) == set(Settings.__bases__[:-1])
    assert [g.__name__ for g in GROUPS] == list(TITLES)
    fields = [n for g in GROUPS for n in g.model_fields]
    assert set(fields) == set(Settings.model_fields)


def test_a_problem_in_one_group_does_not_hide_another_groups() -> None:
    from authsvc.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        bad: dict[str, Any] = {"workers": 0, "cookie_expire": "1x", "skip_oidc_discovery": True,
                               "session_store_type": "redis", "log_format": "xml", "github_org": "-bad-"}
        load_settings(**{**REQUIRED, **bad})
    options = [line.split(" ")[2] for line in str(err.value).splitlines()]
    assert options == ["log_format", "workers", "github_org", "cookie_expire", "login_url", "redeem_url",
                       "oidc_jwks_url", "redis_connection_url"]


def test_preflight_names_what_cannot_be_built_without_a_traceback_or_a_secret(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Start-up failures outside the settings checks become lines too (and mask secrets)."""
    from authsvc.cli import preflight
    from authsvc.errors import ConfigError
    from authsvc.web import app as app_module

    settings = load_settings(**{**REQUIRED, "client_secret": "topsecret-value"})

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("cannot use topsecret-value here\nsecond line")

    monkeypatch.setattr(app_module, "create_app", broken)
    with pytest.raises(ConfigError) as err:
        preflight(settings)
    assert str(err.value).splitlines() == [
        "invalid configuration: the application cannot be built (RuntimeError: cannot use **** here)"]


@pytest.mark.parametrize(
    "overrides",
    [{"cookie_name": "__Host-authsvc"}, {"cookie_name": "__Host-x", "cookie_path": "/"},
     {"cookie_name": "__Secure-authsvc", "cookie_domains": ".example.com", "cookie_path": "/app"},
     {"cookie_name": "_Host-authsvc", "cookie_secure": False},
     {"cookie_name": "x__Host-a", "cookie_domains": ".example.com"}],
)  # fmt: skip
def test_cookie_name_prefixes_that_browsers_keep(overrides: dict[str, Any]) -> None:
    assert load_settings(**{**REQUIRED, **overrides}).cookie_name == overrides["cookie_name"]
