"""The proxy in front: which peers may set forwarded headers, and what kind of proxy it is."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from .loading import CommaList, split_list

#: peers trusted to set X-Forwarded-* / X-Original-* when `trusted_proxy_ips` is not given
DEFAULT_TRUSTED_PROXIES = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
)

ProxyKind = Literal["auto", "nginx", "ingress-nginx", "traefik", "caddy", "envoy"]


class ProxyOptions(BaseModel):
    """Trusted proxy peers, the proxy kind, and whether browsers are redirected to sign in."""

    reverse_proxy: bool = True
    trusted_proxy_ips: CommaList = Field(default_factory=lambda: list(DEFAULT_TRUSTED_PROXIES))
    proxy_kind: ProxyKind = "auto"
    #: 302 browser navigations to sign-in from /oauth2/auth (only proxies that relay it);
    #: unset means: on for traefik, caddy and envoy, off for nginx, ingress-nginx and auto
    redirect_browsers: bool | None = None

    @field_validator("trusted_proxy_ips", mode="before")
    @classmethod
    def _proxy_list(cls, value: object) -> object:
        return split_list(value)

    @field_validator("trusted_proxy_ips")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR range") from None
        return value

    @property
    def browser_redirects(self) -> bool:
        """Whether /oauth2/auth may answer a browser navigation with a 302."""
        if self.redirect_browsers is not None:
            return self.redirect_browsers
        return self.proxy_kind in ("traefik", "caddy", "envoy")
