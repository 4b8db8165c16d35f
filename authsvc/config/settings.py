"""`Settings`, composed from the option groups, and `load_settings`, the one way to build it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .access import AccessOptions
from .api_clients import ApiClientOptions
from .client_ip import ClientIPOptions
from .cookies import CookieOptions
from .discovery import DiscoveryOptions
from .google_groups import GoogleGroupsOptions
from .headers import HeaderOptions
from .htpasswd import HtpasswdOptions
from .loading import ENV_PREFIX, option_error
from .login_params import LoginParamOptions
from .pages import PagesOptions
from .provider import ProviderOptions
from .provider_specific import ProviderSpecificOptions
from .proxy import ProxyOptions
from .redis import RedisOptions, mask_urls
from .server import ServerOptions
from .signout import SignOutOptions
from .tls import TLSOptions


# pydantic collects fields and validators from the last base to the first, so the groups are
# listed in reverse: `model_fields` (one CLI flag each, README's table, check-config's output)
# then runs server, operation, provider, ..., proxy, as it did before the split.
class Settings(
    PagesOptions,
    GoogleGroupsOptions,
    HtpasswdOptions,
    ClientIPOptions,
    LoginParamOptions,
    DiscoveryOptions,
    TLSOptions,
    ProxyOptions,
    HeaderOptions,
    ApiClientOptions,
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
        self.check_headers()
        if self.google_groups and self.provider != "google":
            raise option_error("google_groups", "is for provider 'google' only")
        if self.session_store_type == "redis":
            self.check_redis()
        return self

    def masked(self) -> dict[str, Any]:
        """The effective settings with every secret masked, for check-config and logs."""
        out = self.model_dump(mode="json")
        for key in ("client_secret", "redis_password", "redis_sentinel_password", "basic_auth_password"):
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
        # sources.py reads the files and the environment itself (it also reads oauth2-proxy's
        # and says where each value came from); the model takes only what it is given
        return (init_settings,)


def load_settings(config_file: str | Path | None = None, **flags: Any) -> Settings:
    """Build the settings from a config file, the environment and flags (strongest last).

    Raises ConfigError with a readable message on any invalid or missing option.
    """
    from .sources import ConfigInput, load

    given = {k: v for k, v in flags.items() if v is not None}
    return load(ConfigInput(str(config_file) if config_file else None, flags=given)).settings
