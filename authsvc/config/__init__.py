"""Settings: a TOML file, then AUTHSVC_* environment variables, then command-line flags.

Option names follow oauth2-proxy wherever the meaning is the same, so users can carry their
settings over. Everything is validated once at start-up into a frozen `Settings`; a bad value
raises `ConfigError` with a one-line message that names the option (and its env variable).

One module per option group (`server`, `provider`, `provider_specific`, `cookies`, `redis`,
`signout`, `access`, `headers`, `proxy`, `pages`), each a pydantic mixin with its fields and checks;
`settings` composes them and `loading` holds the parsers, the TOML source and error messages.
"""

from __future__ import annotations

from ..errors import ConfigError
from .loading import ENV_PREFIX, CommaList, Duration, parse_duration, secret_bytes
from .proxy import DEFAULT_TRUSTED_PROXIES, ProxyKind
from .settings import Settings, load_settings

__all__ = [
    "DEFAULT_TRUSTED_PROXIES",
    "ENV_PREFIX",
    "CommaList",
    "ConfigError",
    "Duration",
    "ProxyKind",
    "Settings",
    "load_settings",
    "parse_duration",
    "secret_bytes",
]
