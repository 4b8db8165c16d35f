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
class AppProvider:
    """One of an app's several providers (`[[apps.providers]]`): the app's settings with the
    provider's own on top, and its own cookie (`<app cookie_name>_<id>`)."""

    id: str
    settings: Settings


@dataclass(frozen=True, slots=True)
class App:
    """One app: its name, what it matches, and its whole (merged) settings."""

    name: str
    hosts: tuple[str, ...]
    #: "" (every path) or "/grafana" (that path and below, never "/grafanax")
    path_prefix: str
    #: the app's settings (with several providers: the first provider's)
    settings: Settings
    #: with `[[apps.providers]]`: each of them, in order (the sign-in page offers each)
    providers: tuple[AppProvider, ...] = ()

    @property
    def cookie_names(self) -> tuple[str, ...]:
        """The session cookie names the app uses (one per provider)."""
        if self.providers:
            return tuple(p.settings.cookie_name for p in self.providers)
        return (self.settings.cookie_name,)


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
    if top.get("any_path_auth_status"):
        # a path outside proxy_prefix names no app the way /oauth2/auth's vouched-for host does
        # (web/app.py AppDispatcher): one forward-auth address per app, at /oauth2/auth
        raise ConfigError("invalid option any_path_auth_status: not with [[apps]]: point each "
                          "proxy's forward-auth at /oauth2/auth (docs/apps.md)")
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
        if "hosts" not in table:
            raise _problem(where, "hosts is required (e.g. hosts = [\"app.example.com\"])")
        hosts = _hosts(where, table["hosts"])
        prefix = _prefix(where, table.get("path_prefix", ""))
        overrides = {k: v for k, v in table.items() if k not in _APP_KEYS and k != "providers"}
        _check_keys(where, overrides, fields)
        values = {**top, **overrides}
        if prefix:  # its login endpoints live under its prefix (/grafana/oauth2/start)
            values["proxy_prefix"] = prefix + str(top.get("proxy_prefix", "/oauth2"))
        app_origins = {**origins, **{k: f"{source} [[apps]] {name}" for k in overrides}}
        providers = _providers(where, name, table.get("providers"), values, app_origins, source, fields)
        settings = providers[0].settings if providers else _validated(f"app {name!r}", values, app_origins)
        for host in hosts:
            other = routes.get((host, prefix))
            if other is not None:
                raise _problem(where, f"host {host!r}{' with path_prefix ' + prefix if prefix else ''} "
                                      f"is already app {other!r}'s")
            routes[(host, prefix)] = name
        # a session cookie is bound to its name (the sealing context): distinct names keep one
        # app's cookie from ever opening as another's, on a shared parent domain too
        app = App(name, hosts, prefix, settings, providers)
        for cookie in app.cookie_names:
            other = cookies.get(cookie)
            if other is not None:
                raise _problem(where, f"cookie_name {cookie!r} is already app {other!r}'s: "
                                      "give each app its own cookie_name")
            cookies[cookie] = name
        apps.append(app)
    return apps


def _check_keys(where: str, overrides: Mapping[str, Any], fields: set[str]) -> None:
    for key in overrides:
        if key not in fields:
            raise _problem(where, f"{key} is not an authsvc option")
        if key in PROCESS_OPTIONS:
            raise _problem(where, f"{key} is an option of the process, not of an app: set it "
                                  "at the top level")


def _validated(label: str, values: Mapping[str, Any], origins: Mapping[str, str]) -> Settings:
    try:
        return Settings(**values)
    except ValidationError as exc:
        lines = describe(exc, origins).splitlines()
        raise ConfigError("\n".join(f"{label}: {line}" for line in lines)) from None


def _providers(
    where: str, app: str, tables: object, values: Mapping[str, Any], origins: Mapping[str, str],
    source: str, fields: set[str],
) -> tuple[AppProvider, ...]:
    """`[[apps.providers]]`: each provider's settings are the app's with its own on top."""
    if tables is None:
        return ()
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise _problem(where, "providers must be [[apps.providers]] tables")
    out: list[AppProvider] = []
    for table in tables:
        pid = table.get("id")
        if not isinstance(pid, str) or not _NAME.fullmatch(pid):
            raise _problem(where, "each [[apps.providers]] needs an id: lower-case letters, digits, "
                                  "'-' and '_'")
        if any(p.id == pid for p in out):
            raise _problem(where, f"provider id {pid!r} is used twice")
        own = {k: v for k, v in table.items() if k != "id"}
        _check_keys(f"{where} provider {pid!r}", own, fields)
        if "cookie_name" in own:
            raise _problem(where, f"provider {pid!r}: cookie_name is the app's (each provider's "
                                  "cookie is named after it: <cookie_name>_<id>)")
        merged = {**values, **own}
        merged["cookie_name"] = f"{values.get('cookie_name', '_authsvc')}_{pid}"
        label = f"app {app!r} provider {pid!r}"
        prov_origins = {**origins, **{k: f"{source} [[apps.providers]] {app}/{pid}" for k in own}}
        out.append(AppProvider(pid, _validated(label, merged, prov_origins)))
    return tuple(out)
