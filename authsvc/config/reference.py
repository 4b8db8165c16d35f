"""The configuration reference, from the settings model: README's table and `serve --help`.

Each field carries README's "meaning" as its `description`; its default column is the default
itself (as README writes it), with the field's `default_note` after it (or instead of it, for
"— (required)"). tests/unit/test_docs.py keeps README's table equal to what this gives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .loading import ENV_PREFIX
from .settings import GROUPS, Settings


def duration(seconds: float) -> str:
    """Seconds as README writes a duration: 168h, 15m, 60s, 500ms."""
    if seconds == 0:
        return "0"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 120 and seconds % 60 == 0:  # under two minutes, in seconds (60s, not 1m)
        return f"{int(seconds // 60)}m"
    if seconds >= 1 and float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def default_value(field: FieldInfo) -> str:
    """The default, written as it is configured (`true`, `168h`, `[]`, `""`, `unset`)."""
    value = field.get_default(call_default_factory=True)
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):  # every float option is a Duration
        return duration(value)
    if isinstance(value, list):
        return json.dumps([str(v) for v in value])
    return str(value) if value != "" else '""'


def _note(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    note = extra.get("default_note", "") if isinstance(extra, dict) else ""
    return str(note)


def default_cell(field: FieldInfo) -> str:
    """README's default column: the default, then its note; or the note alone when it does not
    start with "(" ("— (required)", "loopback and private ranges")."""
    note = _note(field)
    if note and not note.startswith("("):
        return note
    value = default_value(field)
    shown = value if value == "unset" else f"`{value}`"
    return f"{shown} {note}" if note else shown


def rows() -> dict[str, tuple[str, str]]:
    """option -> (default column, meaning column) of README's configuration reference."""
    return {name: (default_cell(f), f.description or "") for name, f in Settings.model_fields.items()}


def plain(markdown: str) -> str:
    """Markdown as a terminal shows it: no backticks or bold; a link as its text."""
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", markdown)
    return text.replace("**", "").replace("`", "")


def option_help(name: str) -> str:
    """One option's `--help` text: meaning, default and environment variable."""
    field = Settings.model_fields[name]
    return (f"{plain(field.description or '')} [default: {plain(default_cell(field))}; "
            f"env {ENV_PREFIX}{name.upper()}]")


#: `--help`'s heading of each option group (a new group without one shows its class name)
TITLES = {
    "ServerOptions": "listeners, the auth answer and operation",
    "ProviderOptions": "identity provider and OAuth client",
    "ProviderSpecificOptions": "GitHub, Google, Entra ID, GitLab",
    "CookieOptions": "session cookie and session store",
    "RedisOptions": "Redis session store",
    "SignOutOptions": "sign-out",
    "ProxyCacheOptions": "nginx's decision cache (purge on sign-out)",
    "AccessOptions": "who may pass: e-mail domains, groups, public and API routes, bearer tokens",
    "ApiClientOptions": "API clients: machine identities, opaque tokens (introspection)",
    "HeaderOptions": "identity headers on the 2xx answer",
    "ProxyOptions": "the proxy in front",
    "TLSOptions": "TLS: the IdP's CAs, the HTTPS and /metrics HTTPS listeners",
    "DiscoveryOptions": "IdP endpoints without discovery; ID token checks",
    "LoginParamOptions": "authorization request parameters",
    "ClientIPOptions": "client addresses that skip authentication",
    "HtpasswdOptions": "htpasswd users (Authorization: Basic)",
    "GoogleGroupsOptions": "Google Workspace groups",
    "PagesOptions": "the pages: sign-in, error, forbidden, signed out",
    "BitbucketOptions": "Bitbucket workspace and repository",
}


def groups() -> Iterator[tuple[str, list[str]]]:
    """(heading, options) per option group, in `Settings.model_fields` order."""
    placed: set[str] = set()
    for group in GROUPS:
        own = [n for n in Settings.model_fields if n in _own_fields(group) and n not in placed]
        placed.update(own)
        if own:
            yield TITLES.get(group.__name__, group.__name__), own


def _own_fields(group: type[BaseModel]) -> set[str]:
    """The fields a group declares itself (ProviderSpecificOptions inherits ProviderOptions')."""
    return set(vars(group).get("__annotations__", {}))
