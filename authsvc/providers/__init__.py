"""Identity providers: the `Provider` seam and the one factory that picks an implementation."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from ..clock import Clock
from ..config import Settings
from ..errors import ConfigError
from .base import Provider
from .bitbucket import BitbucketProvider
from .entra import EntraIDProvider
from .github import GitHubProvider
from .gitlab import GitLabProvider
from .google import GoogleProvider
from .keycloak import KeycloakProvider
from .logingov import LoginGovProvider
from .oidc import OIDCProvider

ProviderFactory = Callable[[Settings, httpx.AsyncClient, Clock], Provider]

#: settings.provider -> implementation; a new provider is one line here (and its name in
#: config.provider.PROVIDER_NAMES)
PROVIDERS: dict[str, ProviderFactory] = {
    "oidc": OIDCProvider,
    "github": GitHubProvider,
    "google": GoogleProvider,
    "entra-id": EntraIDProvider,
    "azure": EntraIDProvider,
    "gitlab": GitLabProvider,
    "keycloak-oidc": KeycloakProvider,
    "keycloak": KeycloakProvider,
    "bitbucket": BitbucketProvider,
    "login.gov": LoginGovProvider,
}


def create_provider(settings: Settings, http: httpx.AsyncClient, clock: Clock) -> Provider:
    """The provider named by `settings.provider` (ConfigError for an unknown name)."""
    factory = PROVIDERS.get(settings.provider)
    if factory is None:
        known = ", ".join(sorted(PROVIDERS))
        raise ConfigError(
            f"invalid option provider (AUTHSVC_PROVIDER): {settings.provider!r} "
            f"is not one of: {known}"
        )
    return factory(settings, http, clock)


__all__ = ["PROVIDERS", "Provider", "create_provider"]
