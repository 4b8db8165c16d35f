"""Client addresses that skip authentication (oauth2-proxy's trusted_ips), and where to read them."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from .loading import IPNetworks

#: the headers oauth2-proxy reads the client address from (pkg/ip/realclientip.go)
CLIENT_IP_HEADERS = ("X-Real-IP", "X-Forwarded-For", "X-ProxyUser-IP", "X-Envoy-External-Address",
                     "CF-Connecting-IP")


class ClientIPOptions(BaseModel):
    """`trusted_ips` get a 2xx without a session; the address comes from the peer, or (from
    trusted proxies, with reverse_proxy) from `real_client_ip_header`."""

    trusted_ips: IPNetworks = Field(
        default_factory=list,
        description=(
            "client addresses (CIDRs) that pass `/oauth2/auth` without a session (2xx, "
            "no identity headers; warned at start-up)"
        ),
    )
    real_client_ip_header: str = Field(
        "X-Real-IP",
        description=(
            "where a trusted proxy puts the client address: `X-Real-IP`, "
            "`X-Forwarded-For` (its last entry, the one the proxy added), `X-ProxyUser-IP`, "
            "`X-Envoy-External-Address`, `CF-Connecting-IP`. Read only under a named "
            "`proxy_kind` (never under `auto`), from one header line; the proxy must set it"
        ),
    )

    @field_validator("real_client_ip_header")
    @classmethod
    def _client_header(cls, value: str) -> str:
        for name in CLIENT_IP_HEADERS:
            if value.strip().lower() == name.lower():
                return name
        raise ValueError(f"{value!r} is not one of {', '.join(CLIENT_IP_HEADERS)}")
