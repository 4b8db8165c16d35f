"""The session cookie, its secrets and lifetimes, and where sessions are kept."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from .loading import CommaList, Duration, option_error, parse_duration, secret_bytes, split_list


class CookieOptions(BaseModel):
    """Cookie name, secrets, scope, lifetimes and flags; the session store and cache."""

    cookie_name: str = "_authsvc"
    cookie_secret: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    #: read the cookie secret from this file when cookie_secret is not set (k8s/Docker secrets)
    cookie_secret_file: str = ""
    cookie_domains: CommaList = Field(default_factory=list)
    cookie_path: str = "/"
    cookie_expire: Duration = 168 * 3600.0
    cookie_refresh: Duration = 0.0
    cookie_secure: bool = True
    cookie_httponly: bool = True
    cookie_samesite: Literal["", "lax", "strict", "none"] = "lax"
    cookie_csrf_expire: Duration = 15 * 60.0
    #: login-state cookie slots per browser (login_state.py); oauth2-proxy's name, but never
    #: unlimited: 5 x ~310 bytes leave a 4 KB session room in nginx's 8 KB line
    cookie_csrf_per_request_limit: int = 5
    session_store_type: Literal["cookie", "redis"] = "cookie"
    #: verified sessions are reused this long in-process (session_cache.py); 0 = off
    session_cache_ttl: Duration = 5.0

    @field_validator("cookie_domains", "cookie_secret", mode="before")
    @classmethod
    def _cookie_lists(cls, value: object) -> object:
        return split_list(value)

    @field_validator(
        "cookie_expire", "cookie_refresh", "cookie_csrf_expire", "session_cache_ttl", mode="before"
    )
    @classmethod
    def _cookie_durations(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("session_cache_ttl")
    @classmethod
    def _cookie_cache_ttl(cls, value: float) -> float:
        if not 0 <= value <= 300:
            raise ValueError("must be between 0 (off) and 300 seconds; a few seconds is the idea")
        return value

    @field_validator("cookie_csrf_per_request_limit")
    @classmethod
    def _cookie_csrf_limit(cls, value: int) -> int:
        if not 1 <= value <= 20:
            raise ValueError(
                f"{value} is not between 1 and 20 (authsvc always caps login cookies: each takes "
                "~310 bytes of every request's Cookie header for cookie_csrf_expire)"
            )
        return value

    @field_validator("cookie_samesite", mode="before")
    @classmethod
    def _cookie_samesite(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("cookie_secret")
    @classmethod
    def _cookie_secrets(cls, value: list[SecretStr]) -> list[SecretStr]:
        for secret in value:
            if len(secret_bytes(secret.get_secret_value())) < 16:
                raise ValueError(
                    "each secret must hold at least 16 bytes (32 recommended); "
                    "make one with `authsvc generate-secret`"
                )
        return value

    @field_validator("cookie_name")
    @classmethod
    def _cookie_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_\-.]{1,200}", value):
            raise ValueError(f"{value!r} may hold only letters, digits and _ - .")
        return value

    # The two checks below are called by `Settings`, not model validators of their own, so the
    # client-credential checks can run between them in the order errors were always reported.
    def require_cookie_secret(self) -> None:
        """Raise unless at least one cookie secret is given (there is no safe default)."""
        if not self.cookie_secret and self.cookie_secret_file:
            self._read_cookie_secret_file()
        if not self.cookie_secret:
            raise option_error("cookie_secret", "is required; make one with `authsvc generate-secret`")

    def _read_cookie_secret_file(self) -> None:
        try:
            text = Path(self.cookie_secret_file).read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise option_error("cookie_secret_file", f"cannot be read: {reason}") from None
        secrets = [SecretStr(part.strip()) for part in text.split(",") if part.strip()]
        try:
            secrets = self._cookie_secrets(secrets)
        except ValueError as exc:
            raise option_error("cookie_secret_file", str(exc)) from None
        # the model is frozen; this is still validation, before anyone holds the settings
        object.__setattr__(self, "cookie_secret", secrets)

    def check_cookie_lifetimes(self) -> None:
        """Raise if the refresh interval, SameSite setting or a name prefix contradicts another
        cookie option."""
        if self.cookie_refresh and self.cookie_refresh >= self.cookie_expire:
            raise option_error("cookie_refresh", "must be shorter than cookie_expire")
        if self.cookie_samesite == "none" and not self.cookie_secure:
            raise option_error("cookie_samesite", "'none' requires cookie_secure = true")
        # RFC 6265bis §4.1.3: browsers drop (and match case-insensitively) a __Secure- cookie
        # without Secure, and a __Host- one unless also Path=/ and no Domain, so that no
        # sibling subdomain can set it; every cookie of ours keeps the prefix (chunks, login)
        name = self.cookie_name.lower()
        prefix = next((p for p in ("__Secure-", "__Host-") if name.startswith(p.lower())), "")
        if prefix and not self.cookie_secure:
            raise option_error("cookie_name", f"a {prefix!r} name requires cookie_secure = true")
        if prefix == "__Host-" and self.cookie_path != "/":
            raise option_error("cookie_name", "a '__Host-' name requires cookie_path = \"/\"")
        if prefix == "__Host-" and any(d.strip(". ") for d in self.cookie_domains):
            raise option_error("cookie_name", "a '__Host-' name cannot have a Domain: leave "
                               "cookie_domains empty (the cookie is then host-only)")

    @property
    def secret_keys(self) -> list[bytes]:
        """Cookie key material, newest (first listed) first."""
        return [secret_bytes(s.get_secret_value()) for s in self.cookie_secret]
