"""The authorization options are validated at start-up; errors name the option and the entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authsvc.errors import ConfigError
from tests.conftest import make_settings


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"skip_auth_routes": ["^/ok$", "GET=^/(broken"]},
         r"invalid option skip_auth_routes \(AUTHSVC_SKIP_AUTH_ROUTES\): entry 'GET=\^/\(broken' "
         "is not a valid regex"),
        ({"skip_auth_routes": ["*"]}, "skip_auth_routes .*entry '\\*' is not a valid regex"),
        ({"api_routes": ["^/api/[a-"]}, r"api_routes \(AUTHSVC_API_ROUTES\): entry '\^/api/\[a-'"),
        ({"extra_jwt_issuers": ["https://login.example.com"]}, "extra_jwt_issuers .*issuer=audience"),
        ({"extra_jwt_issuers": ["https://login.example.com="]}, "extra_jwt_issuers"),
        ({"extra_jwt_issuers": ["login.example.com=api"]}, "extra_jwt_issuers"),
        ({"authenticated_emails_file": "/nonexistent/emails"},
         "authenticated_emails_file .*is not a readable file"),
    ],
)
def test_bad_values_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_settings(**options)


def test_lists_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    emails = tmp_path / "emails"
    emails.write_text("ada@example.com\n")
    monkeypatch.setenv("AUTHSVC_SKIP_AUTH_ROUTES", "GET=^/health$,^/public/")
    monkeypatch.setenv("AUTHSVC_ALLOWED_GROUPS", "admins, ops")
    monkeypatch.setenv("AUTHSVC_EXTRA_JWT_ISSUERS", "https://a.example=api,https://b.example=cli")
    monkeypatch.setenv("AUTHSVC_SKIP_JWT_BEARER_TOKENS", "true")
    monkeypatch.setenv("AUTHSVC_AUTHENTICATED_EMAILS_FILE", str(emails))
    s = make_settings()
    assert s.skip_auth_routes == ["GET=^/health$", "^/public/"]
    assert s.allowed_groups == ["admins", "ops"]
    assert s.extra_jwt_issuers == ["https://a.example=api", "https://b.example=cli"]
    assert s.skip_jwt_bearer_tokens and s.authenticated_emails_file == str(emails)


def test_defaults_are_closed() -> None:
    s = make_settings()
    assert (s.skip_auth_routes, s.api_routes, s.allowed_groups, s.extra_jwt_issuers) == ([], [], [], [])
    assert not s.skip_auth_preflight and not s.skip_jwt_bearer_tokens
    assert s.authenticated_emails_file == ""
