"""The proxy in front: which peers may set forwarded headers, and what kind of proxy it is."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from .loading import IPNetworks

#: peers trusted to set X-Forwarded-* / X-Original-* when `trusted_proxy_ips` is not given
DEFAULT_TRUSTED_PROXIES = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
)

#: an HTTP field name (RFC 9110 §5.1: a token)
_FIELD_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
#: names the request id must not take: it is read from a trusted proxy, logged and shown on
#: pages, and echoed on every answer, so never credentials, framing or identity headers
_NOT_AN_ID = re.compile(r"(authorization|proxy-authorization|cookie|set-cookie|host|content-.*|"
                        r"transfer-encoding|connection|upgrade|te|trailer|keep-alive|"
                        r"x-forwarded-.*|x-original-.*|x-real-ip|forwarded|x-auth-request-.*|"
                        r"www-authenticate|location|"
                        # what the proxy or a cache acts on in an answer: an id a client chose
                        # (nginx passes its headers on) must not make a page cacheable, redirect
                        # nginx internally (X-Accel-Redirect) or stand for the cache key
                        r"cache-control|pragma|expires|vary|age|retry-after|refresh|link|"
                        r"x-accel-.*|x-authsvc-.*|access-control-.*|strict-transport-security|"
                        r"content-security-policy.*|x-frame-options|x-content-type-options)", re.I)

ProxyKind = Literal["auto", "nginx", "ingress-nginx", "traefik", "caddy", "envoy"]


class ProxyOptions(BaseModel):
    """Trusted proxy peers, the proxy kind, and whether browsers are redirected to sign in."""

    reverse_proxy: bool = Field(
        True,
        description="read the original request from the proxy's headers (only from `trusted_proxy_ips`)",
    )
    trusted_proxy_ips: IPNetworks = Field(
        default_factory=lambda: list(DEFAULT_TRUSTED_PROXIES),
        description="peers whose forwarded headers are believed; never \"everyone\" by default",
        json_schema_extra={"default_note": "loopback and private ranges"},
    )
    proxy_kind: ProxyKind = Field(
        "auto",
        description=(
            "`nginx`, `ingress-nginx`, `traefik`, `caddy`, `envoy`: read only the "
            "headers that proxy sets. `auto` works behind every proxy but believes no "
            "header, so public routes and preflight skipping need a named kind "
            "([docs/security.md](docs/security.md))"
        ),
    )
    force_https: bool = Field(
        False,
        description=(
            "answer a plain-http request to the login endpoints with a 308 to the same URL "
            "on https, a port in its host replaced by `https_address`'s (not `/oauth2/auth`, "
            "`/ping`, `/ready`, `/metrics`: the proxy calls those)"
        ),
    )
    redirect_browsers: bool | None = Field(
        None,
        description="answer a browser navigation without a session with a 302 to sign-in instead of 401",
        json_schema_extra={"default_note": "unset (on for traefik, caddy, envoy)"},
    )

    request_id_header: str = Field(
        "X-Request-ID",
        description=(
            "the request id's header: read from a trusted proxy (`trusted_proxy_ips`), else "
            "made here, and echoed on every answer under this name (oauth2-proxy's "
            "`X-Request-Id`, the same header)"
        ),
    )

    @field_validator("request_id_header")
    @classmethod
    def _proxy_request_id_header(cls, value: str) -> str:
        if not _FIELD_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not an HTTP header name (e.g. X-Request-ID)")
        if _NOT_AN_ID.fullmatch(value):
            raise ValueError(f"{value!r} carries something else than a request id (credentials, "
                             "framing or forwarded/identity headers); use e.g. X-Request-ID")
        return value

    @property
    def browser_redirects(self) -> bool:
        """Whether /oauth2/auth may answer a browser navigation with a 302."""
        if self.redirect_browsers is not None:
            return self.redirect_browsers
        return self.proxy_kind in ("traefik", "caddy", "envoy")
