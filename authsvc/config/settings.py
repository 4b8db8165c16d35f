"""`Settings`, composed from the option groups, and `load_settings`, the one way to build it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ..errors import ConfigError
from .access import AccessOptions
from .cookies import CookieOptions
from .headers import HeaderOptions
from .loading import ENV_PREFIX, TomlSource, describe, reading_toml
from .pages import PagesOptions
from .provider import ProviderOptions
from .provider_specific import ProviderSpecificOptions
from .proxy import ProxyOptions
from .redis import RedisOptions, mask_urls
from .server import ServerOptions
from .signout import SignOutOptions


# pydantic collects fields and validators from the last base to the first, so the groups are
# listed in reverse: `model_fields` (one CLI flag each, README's table, check-config's output)
# then runs server, operation, provider, ..., proxy, as it did before the split.
class Settings(
    PagesOptions,
    ProxyOptions,
    HeaderOptions,
    AccessOptions,
    SignOutOptions,
    RedisOptions,
    CookieOptions,
    ProviderSpecificOptions,
    ProviderOptions,
    ServerOptions,
    BaseSettings,
):
    """Every option authsvc understands. See README.md, "Configuration reference"."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        case_sensitive=False,
        validate_default=True,
    )

    @model_validator(mode="after")
    def _across_groups(self) -> Settings:
        # Runs after the groups' own model validators (operation, then provider-specific). One
        # validator calling the groups' checks, in the order the first error has always been
        # reported: a missing cookie secret before a missing client, both before lifetimes.
        self.require_cookie_secret()
        self.resolve_client()
        self.check_cookie_lifetimes()
        if self.session_store_type == "redis":
            self.check_redis()
        return self

    def masked(self) -> dict[str, Any]:
        """The effective settings with every secret masked, for check-config and logs."""
        out = self.model_dump(mode="json")
        for key in ("client_secret", "redis_password", "redis_sentinel_password"):
            out[key] = "****" if getattr(self, key).get_secret_value() else ""
        for key in ("redis_connection_url", "redis_sentinel_connection_urls",
                    "redis_cluster_connection_urls"):  # fmt: skip
            out[key] = mask_urls(out[key])
        out["cookie_secret"] = [f"**** ({len(k)} bytes)" for k in self.secret_keys]
        return out

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # first wins: flags (init kwargs), then the environment, then the TOML file
        return (init_settings, env_settings, TomlSource(settings_cls))


def load_settings(config_file: str | Path | None = None, **flags: Any) -> Settings:
    """Build the settings from a TOML file, the environment and flags (strongest last).

    Raises ConfigError with a readable message on any invalid or missing option.
    """
    with reading_toml(config_file):
        try:
            return Settings(**{k: v for k, v in flags.items() if v is not None})
        except ValidationError as exc:
            raise ConfigError(describe(exc)) from None
