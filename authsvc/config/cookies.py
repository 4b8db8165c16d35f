"""The session cookie, its secrets and lifetimes, and where sessions are kept."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from .loading import (
    CommaList,
    Duration,
    Problems,
    looks_like_placeholder,
    option_error,
    parse_duration,
    secret_bytes,
    split_list,
)

#: RFC 6265 §4.1.1: a path-value is any CHAR but controls and ";" (nor a space, here)
_COOKIE_PATH = re.compile(r"/[^\x00-\x20\x7f;]*")


class CookieOptions(BaseModel):
    """Cookie name, secrets, scope, lifetimes and flags; the session store and cache."""

    cookie_name: str = Field(
        "_authsvc",
        description=(
            "session cookie name (split into `_authsvc_0`, `_1`… only above ~4 KB). `__Host-authsvc` is "
            "recommended where it fits (see Sessions): it needs `cookie_secure`, `cookie_path = \"/\"` and no"
            " `cookie_domains`, and start-up refuses it otherwise"
        ),
    )
    cookie_secret: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description=(
            "one or more secrets (≥16 bytes; `generate-secret` makes 32). The first "
            "seals, all open: list the new one first to rotate"
        ),
        json_schema_extra={"default_note": "— (required)"},
    )
    cookie_secret_file: str = Field(
        "",
        description=(
            "read the cookie secret(s) from this file (a Kubernetes or Docker secret) "
            "when `cookie_secret` is not set: text, or a raw 16, 24 or 32-byte key (oauth2-proxy's "
            "`dd if=/dev/urandom bs=32 count=1`)"
        ),
    )
    cookie_domains: CommaList = Field(
        default_factory=list,
        description="cookie domains; the longest one that matches the request host is used",
        json_schema_extra={"default_note": "(host-only)"},
    )
    cookie_path: str = Field(
        "/",
        description="cookie path",
    )
    cookie_expire: Duration = Field(
        168 * 3600.0,
        description="session lifetime (enforced on the server side too); `0` = browser session",
    )
    cookie_refresh: Duration = Field(
        0.0,
        description="refresh the tokens when the session is older than this",
        json_schema_extra={"default_note": "(off)"},
    )
    cookie_secure: bool = Field(
        True,
        description="`Secure` attribute (set `false` only for plain-http development)",
    )
    cookie_httponly: bool = Field(
        True,
        description="`HttpOnly` attribute",
    )
    cookie_samesite: Literal["", "lax", "strict", "none"] = Field(
        "lax",
        description="`lax`, `strict`, `none` (needs `cookie_secure`) or `\"\"`",
    )
    cookie_csrf_expire: Duration = Field(
        15 * 60.0,
        description="how long a login may take (lifetime of the login-state cookie)",
    )
    cookie_csrf_per_request_limit: int = Field(
        5,
        description=(
            "login-state cookies a browser can hold (one per unfinished `/oauth2/start`, "
            "so tabs can log in in parallel): there are only this many names, "
            "`<cookie_name>_csrf_0`, `_1`…, so even racing starts stay within it; a new "
            "login takes a free one, else the oldest's (1 to 20; unlike oauth2-proxy's, "
            "never unlimited). Together they also stay under 3 KB, so the Cookie header "
            "fits nginx's default 8 KB line. A start that is not a page navigation "
            "(`Sec-Fetch-Mode` other than `navigate`: an `<img>`, a script, `fetch()`) "
            "is a `403` and sets none"
        ),
    )
    session_store_type: Literal["cookie", "redis"] = Field(
        "cookie",
        description="`cookie` (sealed in the cookie) or `redis`",
    )
    session_cache_ttl: Duration = Field(
        5.0,
        description=(
            "reuse a verified session this long in-process (`0` = off); with Redis every "
            "replica drops it at once on sign-out, back-channel logout and refresh (see "
            "Sessions)"
        ),
    )

    @field_validator("cookie_secret", mode="before")
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
            # refused, not warned about: a key anyone can read in the docs lets anyone forge
            # a session (the value itself is never repeated)
            if looks_like_placeholder(secret.get_secret_value()):
                raise ValueError(
                    "looks like a placeholder, not a secret; make one with `authsvc generate-secret`"
                )
            if len(secret_bytes(secret.get_secret_value())) < 16:
                raise ValueError(
                    "each secret must hold at least 16 bytes (32 recommended); "
                    "make one with `authsvc generate-secret`"
                )
        return value

    @field_validator("cookie_path")
    @classmethod
    def _cookie_path(cls, value: str) -> str:
        # it goes into every Set-Cookie as is: a ";" would add attributes of its own
        if not _COOKIE_PATH.fullmatch(value):
            raise ValueError(f"{value!r} must start with '/' and hold no space, ';' or control character")
        return value

    @model_validator(mode="after")
    def _cookie_checks(self) -> Self:
        problems = Problems()
        problems.run(self.require_cookie_secret)
        problems.run(self.check_cookie_lifetimes)
        problems.raise_any()
        return self

    @field_validator("cookie_name")
    @classmethod
    def _cookie_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_\-.]{1,200}", value):
            raise ValueError(f"{value!r} may hold only letters, digits and _ - .")
        return value

    # The two checks below run in `_cookie_checks`, each reporting its first problem.
    def require_cookie_secret(self) -> None:
        """Raise unless at least one cookie secret is given (there is no safe default)."""
        if not self.cookie_secret and self.cookie_secret_file:
            self._read_cookie_secret_file()
        if not self.cookie_secret:
            raise option_error("cookie_secret", "is required; make one with `authsvc generate-secret`")

    def _read_cookie_secret_file(self) -> None:
        try:
            raw = Path(self.cookie_secret_file).read_bytes()
        except OSError as exc:
            raise option_error("cookie_secret_file", f"cannot be read: {exc.strerror}") from None
        try:
            text = raw.decode().strip()
        except UnicodeDecodeError:
            # oauth2-proxy's documented form: "must be raw binary, exactly 16, 24, or 32 bytes"
            # (`dd if=/dev/urandom bs=32 count=1 > cookie.secret`); kept as its base64url
            # spelling, which `secret_bytes` decodes back to these bytes
            if len(raw) not in (16, 24, 32):
                raise option_error("cookie_secret_file", f"is {len(raw)} bytes of binary, not text nor "
                                   "a raw key of 16, 24 or 32 bytes") from None
            text = base64.urlsafe_b64encode(raw).decode()
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
        # cookie_expire 0 is a browser session with no lifetime to be shorter than
        # (oauth2-proxy's pkg/validation/cookie.go checks only a non-zero cookie_expire)
        if self.cookie_refresh and self.cookie_expire and self.cookie_refresh >= self.cookie_expire:
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
