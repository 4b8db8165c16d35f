"""Shared fixtures. Add yours with a small edit; keep the others'."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from authsvc.config import Settings, load_settings

SECRET_A = base64.urlsafe_b64encode(b"A" * 32).decode()
SECRET_B = base64.urlsafe_b64encode(b"B" * 32).decode()

SettingsFactory = Callable[..., Settings]


def make_settings(**overrides: Any) -> Settings:
    """Valid Settings for tests; keyword arguments override any option."""
    options: dict[str, Any] = {
        "cookie_secret": SECRET_A,
        "client_id": "c",
        "client_secret": "s",
        "oidc_issuer_url": "https://idp.example",
    }
    options.update(overrides)
    return load_settings(**options)


@pytest.fixture
def settings_factory() -> SettingsFactory:
    """Build Settings with overrides: `settings_factory(cookie_domains=".example.com")`."""
    return make_settings
