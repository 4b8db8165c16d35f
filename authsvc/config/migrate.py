"""`authsvc migrate`: what becomes of each oauth2-proxy option, and the equivalent authsvc TOML.

It reads what `serve` would read (an oauth2-proxy .cfg, OAUTH2_PROXY_* variables, its flags,
an alpha YAML) and prints one line per option to stderr: same, renamed (to what), built in,
ignored (why) or not supported (why). Then it writes an authsvc TOML that means the same without
oauth2-proxy's defaults: the defaults authsvc applied for oauth2-proxy's sake are written out.
Secrets are never written or printed; the TOML says where to set each one instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import Settings
from . import oauth2_proxy as o2p
from .sources import ConfigInput, gather

#: options whose value is a secret: never printed or written, always pointed at instead
SECRETS = ("client_secret", "cookie_secret", "redis_password", "redis_sentinel_password",
           "github_token", "basic_auth_password", "jwt_key")
_STATUS = {"same": "same", "renamed": "renamed", "built in": "built in", "ignored": "ignored",
           "unsupported": "not supported", "unknown": "unknown"}


def toml_value(value: Any) -> str:
    """A TOML literal (strings JSON-quoted, which TOML's basic strings accept)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def report_lines(notes: list[o2p.Note]) -> list[str]:
    """One line per oauth2-proxy option: key (origin), status, target, why."""
    lines = []
    for note in sorted(notes, key=lambda n: n.key):
        target = ", ".join(note.targets) if note.targets else "-"
        if note.status in ("same",) and note.targets == (note.key,):
            target = note.key
        why = f"  # {note.message}" if note.message else ""
        lines.append(f"{note.key:<40} {_STATUS[note.status]:<13} -> {target}{why}  [{note.origin}]")
    return lines


def authsvc_toml(values: dict[str, Any], origins: dict[str, str]) -> str:
    """The TOML: every value that differs from authsvc's default, secrets pointed at."""
    fields = Settings.model_fields
    out = ["# authsvc configuration written by `authsvc migrate` from an oauth2-proxy configuration",
           "# (docs/migrating-from-oauth2-proxy.md). Run it with: authsvc serve --config <this file>", ""]
    for key in fields:
        if key not in values:
            continue
        value = values[key]
        origin = origins.get(key, "")
        if key in SECRETS:
            env = f"AUTHSVC_{key.upper()}"
            hint = f" or {key}_file" if key in ("client_secret", "cookie_secret", "jwt_key") else ""
            out.append(f"# {key}: was given by {origin}; set it as {env}{hint}, not in this file")
            continue
        default = fields[key].get_default(call_default_factory=True)
        if value == default:
            continue
        comment = "  # oauth2-proxy's default" if origin == "oauth2-proxy default" else ""
        out.append(f"{key} = {toml_value(value)}{comment}")
    return "\n".join(out) + "\n"


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    """The values as authsvc reads them (bools, lists, seconds), when they validate."""
    try:
        dumped = Settings(**values).model_dump(mode="json")
    except (ConfigError, ValueError):
        return values
    return {k: dumped.get(k, v) for k, v in values.items()}


def run_migrate(given: ConfigInput, output: str | None) -> int:
    """Print the report (stderr) and the TOML (stdout or `output`); 1 when something cannot move."""
    try:
        got = gather(given)
    except ConfigError as exc:
        print(f"authsvc: {exc}", file=sys.stderr)
        return 2
    if not got.compat:
        print("authsvc migrate: no oauth2-proxy configuration found (give --config <file>.cfg, "
              "--alpha-config, OAUTH2_PROXY_* variables or oauth2-proxy's flags)", file=sys.stderr)
        return 2
    print(f"{'oauth2-proxy option':<40} {'status':<13}    authsvc option", file=sys.stderr)
    for line in report_lines(got.notes):
        print(line, file=sys.stderr)
    defaults = sorted(k for k, v in got.origins.items() if v == "oauth2-proxy default")
    if defaults:
        print(f"oauth2-proxy defaults written out (authsvc's differ): {', '.join(defaults)}",
              file=sys.stderr)
    for error in got.errors:
        print(f"cannot migrate: {error}", file=sys.stderr)
    text = authsvc_toml(_typed(got.values), got.origins)
    if output:
        Path(output).write_text(text)
        print(f"wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 1 if got.errors else 0
