"""Session stores: the protocol and the one factory that picks an implementation."""

from __future__ import annotations

from typing import Any

from ..clock import Clock, system_random
from ..config import Settings
from ..errors import ConfigError
from .base import LockingStore, LogoutIndex, SessionStore
from .cookie import CookieSessionStore
from .redis import RedisSessionStore

__all__ = [
    "CookieSessionStore", "LockingStore", "LogoutIndex", "RedisSessionStore", "SessionStore",
    "create_store",
]


def create_store(settings: Settings, clock: Clock, **deps: Any) -> SessionStore:
    """The store named by `session_store_type`.

    `deps` carries what a store may need: shared clients (e.g. Redis), an optional `random`.
    """
    match settings.session_store_type:
        case "cookie":
            return CookieSessionStore(settings, clock, deps.get("random", system_random))
        case "redis":
            return RedisSessionStore(settings, clock, deps.get("random", system_random), deps.get("redis"))
    raise ConfigError(
        f"invalid option session_store_type: {settings.session_store_type!r} is not available"
    )
