"""How settings are read: value parsers and the one-line error messages (sources.py reads them).

Nothing here knows the options themselves; the option groups use the parsers and
`option_error`, and `settings.py` plugs the TOML source and `describe` into `Settings`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import ValidationError
from pydantic_settings import NoDecode

ENV_PREFIX = "AUTHSVC_"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_HTTP_URL = re.compile(r"^https?://[^/\s?#]+")

#: a list option; NoDecode because the environment gives it comma-separated, not as JSON
CommaList = Annotated[list[str], NoDecode]
#: seconds, written as a number or a Go-style duration (see `parse_duration`)
Duration = float


def parse_duration(value: object) -> float:
    """Seconds from a Go-style duration ("168h", "1h30m", "15m", "500ms") or a number."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 168h, 15m or 30s")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    text = str(value).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if not text or _DURATION_PART.sub("", text) != "":
        raise ValueError(f"{value!r} is not a duration (use e.g. 168h, 1h30m, 15m, 30s)")
    return sum(float(n) * _UNITS[u] for n, u in _DURATION_PART.findall(text))


def secret_bytes(secret: str) -> bytes:
    """The key material of a cookie secret, read the way oauth2-proxy reads it.

    A value that base64(url)-decodes to 16, 24 or 32 bytes is used decoded (what
    `generate-secret` prints); anything else is used as raw UTF-8 bytes.
    """
    padded = secret + "=" * (-len(secret) % 4)
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            raw = decode(padded.encode())
        except ValueError:
            continue
        if len(raw) in (16, 24, 32):
            return raw
    return secret.encode()


def split_list(value: object) -> object:
    """Lists from the environment are comma-separated ("a.com,b.com")."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def http_url(value: str) -> str:
    """An absolute http(s) URL or empty; one trailing slash after a path is dropped."""
    if value and not _HTTP_URL.match(value):
        raise ValueError(f"{value!r} is not an absolute http(s) URL")
    return value.rstrip("/") if value.endswith("/") and value.count("/") > 3 else value


def option_error(option: str, problem: str) -> ValueError:
    """An error that `describe` reports against `option` rather than where pydantic raised it."""
    return ValueError(f"@{option}@ {problem}")


def _secret_option(name: str) -> bool:
    return any(word in name for word in ("secret", "password", "token", "key"))


def describe(exc: ValidationError, origins: Mapping[str, str] | None = None) -> str:
    """One line per problem, naming the option and its environment variable (and, when it came
    from elsewhere, that source). Values of secret options are never repeated."""
    origins = origins or {}
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        match = re.match(r"@(\w+)@ (.*)", msg)
        if match:
            loc, msg = match.group(1), match.group(2)
        elif err["type"] == "extra_forbidden":
            msg = "is not an authsvc option (check the spelling; see README, Configuration)"
        elif err["type"] == "literal_error":
            msg = f"{err['input']!r} is not one of the allowed values: {msg.split(': ', 1)[-1]}"
        elif "input" in err and err["type"] not in ("missing",) and not _secret_option(loc):
            msg = f"{err['input']!r}: {msg}"
        if not loc:
            lines.append(f"invalid configuration: {msg}")
            continue
        option = loc.split(".")[0]
        env = f"{ENV_PREFIX}{option.upper()}"
        origin = origins.get(option, "")
        where = f"{env}; from {origin}" if origin and not origin.endswith(env) and not origin.startswith(
            "flag") else env
        lines.append(f"invalid option {loc} ({where}): {msg}")
    return "\n".join(lines)
