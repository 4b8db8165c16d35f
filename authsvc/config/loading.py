"""How settings are read: value parsers and the one-line error messages (sources.py reads them).

Nothing here knows the options themselves; the option groups use the parsers and
`option_error`, and `settings.py` plugs the TOML source and `describe` into `Settings`.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import NoDecode

ENV_PREFIX = "AUTHSVC_"

# Go's time.ParseDuration units (ns, us/µs/μs, ms, s, m, h; `1.5h`, `.5h`, `1.h`), and d
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|h|m|s|d)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 0.001, "s": 1.0, "m": 60.0,
          "h": 3600.0, "d": 86400.0}
_HTTP_URL = re.compile(r"^https?://[^/\s?#]+")

#: seconds, written as a number or a Go-style duration (see `parse_duration`)
Duration = float


def parse_duration(value: object) -> float:
    """Seconds from a Go-style duration ("168h0m0s", "1h30m", "15m", "500ms", "+1.5h") or a
    number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 168h, 15m or 30s")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    text = str(value).strip().lower()
    sign, text = (text[0], text[1:]) if text[:1] in ("+", "-") else ("", text)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)
    elif not text or _DURATION_PART.sub("", text) != "":
        raise ValueError(f"{value!r} is not a duration (use e.g. 168h, 1h30m, 15m, 30s)")
    else:
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION_PART.findall(text))
    if sign == "-" and seconds:
        raise ValueError(f"{value!r} is negative; a duration here must not be")
    return seconds


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


def list_items(text: str) -> list[str]:
    """A list written as one string: comma-separated ("a.com,b.com"), or a JSON array of strings
    (`["a.com", "b.com"]`, what pydantic-settings and many Helm charts write)."""
    stripped = text.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
            return [item.strip() for item in parsed if item.strip()]
    return [part.strip() for part in text.split(",") if part.strip()]


#: what a person writes where a secret is still to be filled in (README's own snippets once had
#: `<output of generate-secret>` and "..."); matched against the whole value
_PLACEHOLDER = re.compile(
    r"<[^<>]*>|\$\{[^}]*\}|\$\(.*\)|\.{3,}|…|(?:change|replace)[-_ ]?(?:me|it)\b.*|"
    r"(?:todo|tbd|fixme)\b.*|(?:your|my)[-_ ].*|secret|password|placeholder|dummy",
    re.IGNORECASE,
)


def looks_like_placeholder(value: str) -> bool:
    """Whether a secret's value is a stand-in left to be replaced, not a secret: `<...>`, an
    unexpanded `${VAR}` or `$(command)`, `...`, changeme, TODO, REPLACE_ME, `secret`."""
    return bool(_PLACEHOLDER.fullmatch(value.strip().strip("\"'")))


def one_repeated_character(value: str) -> bool:
    """`aaaa...`, `XXXX...`: a fixed test key, or oauth2-proxy's Helm chart default cookie secret
    (which oauth2-proxy accepts, so a drop-in must start with it): warned about, not refused."""
    return len(value) >= 3 and len(set(value)) == 1


def split_list(value: object) -> object:
    """Lists from the environment and flags are one string (`list_items`)."""
    if isinstance(value, str):
        return list_items(value)
    return value


#: a list option; NoDecode because the environment gives it comma-separated, not as JSON, and
#: the one string of the environment or a flag is split here (`split_list`), for every such field
CommaList = Annotated[list[str], NoDecode, BeforeValidator(split_list)]


def ip_networks(value: list[str]) -> list[str]:
    """`value` unchanged if every item is an IP address or CIDR range (host bits allowed)."""
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR range") from None
    return value


#: a list of IP addresses / CIDR ranges (trusted_ips, trusted_proxy_ips), split and validated
IPNetworks = Annotated[list[str], NoDecode, BeforeValidator(split_list), AfterValidator(ip_networks)]


def http_url(value: str) -> str:
    """An absolute http(s) URL or empty; one trailing slash after a path is dropped."""
    if value and not _HTTP_URL.match(value):
        raise ValueError(f"{value!r} is not an absolute http(s) URL")
    return value.rstrip("/") if value.endswith("/") and value.count("/") > 3 else value


def option_error(option: str, problem: str) -> ValueError:
    """An error that `describe` reports against `option` rather than where pydantic raised it."""
    return ValueError(f"@{option}@ {problem}")


class Problems:
    """Every problem a model validator finds, raised together: `describe` gives each its own
    line, so one run of check-config names them all rather than the first alone."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def add(self, option: str, problem: str) -> None:
        """Record a problem of `option`."""
        self.found.append(str(option_error(option, problem)))

    def run(self, check: Callable[[], object]) -> None:
        """Run a check that raises `option_error` at its first problem, recording that one."""
        try:
            check()
        except ValueError as exc:
            self.found.append(str(exc))

    def raise_any(self) -> None:
        """Raise one ValueError holding every problem recorded, if there is one."""
        if self.found:
            raise ValueError("\n".join(self.found))


def _secret_option(name: str) -> bool:
    return any(word in name for word in ("secret", "password", "token", "key"))


def describe(exc: ValidationError, origins: Mapping[str, str] | None = None) -> str:
    """One line per problem, naming the option and its environment variable (and, when it came
    from elsewhere, that source). Values of secret options are never repeated."""
    return "\n".join(dict.fromkeys(describe_lines(exc.errors(), origins)))


def describe_lines(errors: Iterable[ErrorDetails], origins: Mapping[str, str] | None = None) -> list[str]:
    """`describe`, one string per problem; a `Problems` error is one line per problem it holds."""
    origins = origins or {}
    lines = []
    for err in _one_per_problem(errors):
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
    return lines


def _one_per_problem(errors: Iterable[ErrorDetails]) -> Iterator[ErrorDetails]:
    for err in errors:
        msg = str(err["msg"])
        if "\n@" not in msg:
            yield err
            continue
        for line in msg.removeprefix("Value error, ").split("\n"):
            yield {**err, "msg": line}
