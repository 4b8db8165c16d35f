"""authsvc: a forward-auth service for ingress proxies (OIDC login, sessions, /oauth2/auth)."""

from __future__ import annotations

__version__ = "0.1.0"
