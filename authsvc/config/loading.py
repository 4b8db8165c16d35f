"""How settings are read: value parsers, the TOML source and the one-line error messages.

Nothing here knows the options themselves; the option groups use the parsers and
`option_error`, and `settings.py` plugs the TOML source and `describe` into `Settings`.
"""

from __future__ import annotations

import base64
import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any

from pydantic import ValidationError
from pydantic_settings import NoDecode, PydanticBaseSettingsSource

from ..errors import ConfigError

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


_toml_path: ContextVar[Path | None] = ContextVar("authsvc_toml_path", default=None)


@contextmanager
def reading_toml(config_file: str | Path | None) -> Iterator[None]:
    """Make `TomlSource` read `config_file` while settings are built in this context."""
    # a ContextVar, not a class attribute: pydantic-settings builds the source itself
    token = _toml_path.set(Path(config_file) if config_file else None)
    try:
        yield
    finally:
        _toml_path.reset(token)


class TomlSource(PydanticBaseSettingsSource):
    """Reads the `--config` TOML file; unknown keys are refused by the model (extra=forbid)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ below does all the work

    def __call__(self) -> dict[str, Any]:
        path = _toml_path.get()
        if path is None:
            return {}
        try:
            with path.open("rb") as fh:
                return tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"--config: file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"--config: {path} is not valid TOML: {exc}") from None


def describe(exc: ValidationError) -> str:
    """One line per problem, naming the option and its environment variable."""
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
        elif "input" in err and err["type"] not in ("missing",) and "secret" not in loc:
            msg = f"{err['input']!r}: {msg}"
        if not loc:
            lines.append(f"invalid configuration: {msg}")
            continue
        env = f"{ENV_PREFIX}{loc.split('.')[0].upper()}"
        lines.append(f"invalid option {loc} ({env}): {msg}")
    return "\n".join(lines)
