"""Several apps in one authsvc: the `[[apps]]` tables, their validation, and host matching.

An app is today's whole single-app configuration (one `Settings`), built from the top-level
options with the app's own overrides on top; `AppRouter` picks the app of a request by its
public host (exact, `*.example.com` or `*`) and path prefix. Without `[[apps]]` there is one
implicit app matching every host, named "" (the sessions it writes are those of before).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from ..errors import ConfigError
from .loading import describe
from .proxy import ProxyOptions
from .server import ServerOptions
from .settings import Settings

#: options of the process, not of an app: the listeners, the forwarded-header trust (read before
#: an app is known: the host that selects it comes from those headers), logs and metrics
PROCESS_OPTIONS = frozenset(ServerOptions.model_fields) - {"auth_success_status"} | frozenset(
    ProxyOptions.model_fields) - {"redirect_browsers"} | {
    "https_address", "tls_cert_file", "tls_key_file", "tls_min_version", "tls_cipher_suites",
    "metrics_secure_address", "metrics_tls_cert_file", "metrics_tls_key_file",
}
_APP_KEYS = frozenset({"name", "hosts", "path_prefix"})
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_PREFIX = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*")


@dataclass(frozen=True, slots=True)
class App:
    """One app: its name, what it matches, and its whole (merged) settings."""

    name: str
    hosts: tuple[str, ...]
    #: "" (every path) or "/grafana" (that path and below, never "/grafanax")
    path_prefix: str
    settings: Settings


T = TypeVar("T")


def bare_host(host: str) -> str:
    """`host` lower-cased without its port (`[::1]:443` -> `[::1]`)."""
    host = host.lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_matches(pattern: str, host: str) -> int:
    """How specifically `pattern` matches the bare `host`: 0 = not at all, then `*` < a wildcard
    (a longer suffix is more specific) < the exact name."""
    if pattern == "*":
        return 1
    if pattern.startswith("*."):
        suffix = pattern[1:]  # ".example.com": one or more labels before it, never the apex
        return 2 + len(suffix) if host.endswith(suffix) and len(host) > len(suffix) else 0
    return 1000 if host == pattern else 0


def path_matches(prefix: str, path: str) -> bool:
    """Whether `path` (query stripped) is `prefix` or below it, by whole segments."""
    return not prefix or path == prefix or path.startswith(prefix + "/")


class AppRouter(Generic[T]):
    """Selects the value (app, handler) of a request by host and path: the most specific host
    pattern wins, then the longest path prefix; no match is None (the caller fails closed)."""

    def __init__(self, routes: Sequence[tuple[App, T]]) -> None:
        self._routes = list(routes)

    def select(self, host: str, path: str | None) -> tuple[App, T] | None:
        """`path`: decoded and without dot segments (check/paths.canonical_path), or None when
        it is ambiguous: then only a host that no path prefix divides has an app (a path such as
        `/%2e%2e/admin` must not pick the app of `/` when `/admin` is another's)."""
        host = bare_host(host)
        best: tuple[App, T] | None = None
        best_rank = (0, -1)
        for app, value in self._routes:
            specific = max((host_matches(p, host) for p in app.hosts), default=0)
            if not specific:
                continue
            if path is None:
                if app.path_prefix:
                    return None
            elif not path_matches(app.path_prefix, path):
                continue
            rank = (specific, len(app.path_prefix))
            if rank > best_rank:
                best, best_rank = (app, value), rank
        return best


def _problem(where: str, message: str) -> ConfigError:
    return ConfigError(f"invalid [[apps]] {where}: {message}")


def _hosts(where: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(h, str) for h in value):
        raise _problem(where, "hosts must be a non-empty list of host names")
    out = []
    for raw in value:
        host = raw.strip().lower().rstrip(".")
        if host != "*" and not _HOST.fullmatch(host.removeprefix("*.")):
            raise _problem(where, f"hosts: {raw!r} is not a host name, '*.domain' or '*' (no port, "
                                  "no scheme)")
        out.append(host)
    return tuple(dict.fromkeys(out))


def _prefix(where: str, value: object) -> str:
    if not isinstance(value, str) or (value and not _PREFIX.fullmatch(value)):
        raise _problem(where, f"path_prefix {value!r} must be a path starting with '/'")
    prefix = value.rstrip("/")
    if "//" in prefix or "/./" in prefix + "/" or "/../" in prefix + "/":
        raise _problem(where, f"path_prefix {value!r} must be a plain path")
    return prefix


def build_apps(
    top: Mapping[str, Any], tables: object, origins: Mapping[str, str], source: str
) -> list[App]:
    """The apps of the `[[apps]]` tables: each the top-level values with its own on top,
    validated as a whole `Settings`; ConfigError naming the app on any problem."""
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ConfigError("invalid option apps: must be [[apps]] tables (see docs/apps.md)")
    apps: list[App] = []
    names: set[str] = set()
    routes: dict[tuple[str, str], str] = {}
    cookies: dict[str, str] = {}
    fields = set(Settings.model_fields)
    for index, table in enumerate(tables, 1):
        name = table.get("name")
        where = f"#{index}"
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise _problem(where, "name is required: lower-case letters, digits, '-' and '_'")
        where = f"{name!r}"
        if name in names:
            raise _problem(where, "the name is used by another app")
        names.add(name)
        if "providers" in table:
            raise _problem(where, "[[apps.providers]] (several providers for one app) is not "
                                  "supported yet: give the app's provider as its own options")
        if "hosts" not in table:
            raise _problem(where, "hosts is required (e.g. hosts = [\"app.example.com\"])")
        hosts = _hosts(where, table["hosts"])
        prefix = _prefix(where, table.get("path_prefix", ""))
        overrides = {k: v for k, v in table.items() if k not in _APP_KEYS}
        for key in overrides:
            if key not in fields:
                raise _problem(where, f"{key} is not an authsvc option")
            if key in PROCESS_OPTIONS:
                raise _problem(where, f"{key} is an option of the process, not of an app: set it "
                                      "at the top level")
        values = {**top, **overrides}
        if prefix:  # its login endpoints live under its prefix (/grafana/oauth2/start)
            values["proxy_prefix"] = prefix + str(top.get("proxy_prefix", "/oauth2"))
        app_origins = {**origins, **{k: f"{source} [[apps]] {name}" for k in overrides}}
        try:
            settings = Settings(**values)
        except ValidationError as exc:
            lines = describe(exc, app_origins).splitlines()
            raise ConfigError("\n".join(f"app {name!r}: {line}" for line in lines)) from None
        for host in hosts:
            other = routes.get((host, prefix))
            if other is not None:
                raise _problem(where, f"host {host!r}{' with path_prefix ' + prefix if prefix else ''} "
                                      f"is already app {other!r}'s")
            routes[(host, prefix)] = name
        # a session cookie is bound to its name (the sealing context): distinct names keep one
        # app's cookie from ever opening as another's, on a shared parent domain too
        other = cookies.get(settings.cookie_name)
        if other is not None:
            raise _problem(where, f"cookie_name {settings.cookie_name!r} is already app {other!r}'s: "
                                  "give each app its own cookie_name")
        cookies[settings.cookie_name] = name
        apps.append(App(name, hosts, prefix, settings))
    return apps
