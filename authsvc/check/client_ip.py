"""oauth2-proxy's trusted_ips: clients at these addresses pass /oauth2/auth without a session.

The client address is the peer's, or, when the peer is a trusted proxy under a named
`proxy_kind`, the one `real_client_ip_header` gives. Unlike oauth2-proxy (pkg/ip/realclientip.go
takes the *first* X-Forwarded-For entry) the *last* entry is read: nginx's
`$proxy_add_x_forwarded_for`, Envoy and Traefik append the address they saw to whatever the
client sent, so the first entry is the client's own word and `X-Forwarded-For: 192.0.2.5` from
anywhere would pass as a trusted address (issue 11: a client header counts only when the proxy
always writes it). For the same reason nothing is read under `auto` (which proxy, and so which
header it writes, is unknown), and a header sent twice names nobody. A header from an untrusted
peer is never read (CVE-2026-40575's lesson).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config.client_ip import ClientIPOptions
from ..memo import BoundedMemo
from .forwarded import Forwarded, in_networks, parse_networks

#: distinct addresses whose verdict is remembered
_MEMO = 4096


class TrustedIPs:
    """Whether a check request comes from a client in `trusted_ips`."""

    def __init__(self, settings: ClientIPOptions, forwarded: Forwarded) -> None:
        self._networks = parse_networks(settings.trusted_ips)
        self._header = settings.real_client_ip_header.lower().encode("latin-1")
        self._forwarded = forwarded
        self._memo: BoundedMemo[str, bool] = BoundedMemo(_MEMO)

    def client_ip(self, scope: Mapping[str, Any]) -> str | None:
        """The client's address: the peer's, or the one a trusted proxy wrote (module docstring)."""
        client = scope.get("client")
        peer = client[0] if client else None
        if not self._forwarded.is_trusted(peer) or self._forwarded.kind == "auto":
            return peer
        values = [value for name, value in scope["headers"] if name == self._header]
        if not values:
            return peer
        if len(values) > 1:  # one copy is the client's, and which cannot be known
            return None
        last = values[0].decode("latin-1").rsplit(",", 1)[-1].strip()
        return _host(last)

    def admits(self, scope: Mapping[str, Any]) -> bool:
        """Whether the client's address is in trusted_ips (an unreadable one is not)."""
        ip = self.client_ip(scope)
        if not ip:
            return False
        verdict = self._memo.data.get(ip)
        if verdict is None:
            verdict = self._memo.put(ip, in_networks(ip, self._networks))
        return verdict


def _host(value: str) -> str:
    """An address without a port: 1.2.3.4:5 -> 1.2.3.4, [::1]:5 -> ::1."""
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value
