"""Where settings come from, weakest first, and which source gave each value.

  0  AUTHSVC_DEFAULT_* (a container image's defaults), then oauth2-proxy's defaults when its
     configuration is read (COMPAT_DEFAULTS)
  1  the --config file: authsvc TOML, or an oauth2-proxy .cfg (told apart by extension or keys)
  2  OAUTH2_PROXY_* environment variables
  3  the --alpha-config YAML (oauth2-proxy reads its keys from nowhere else)
  4  AUTHSVC_* environment variables (ours win over oauth2-proxy's)
  5  oauth2-proxy's flags
  6  authsvc's flags

oauth2-proxy settings are merged by their own keys first and then translated as one
(oauth2_proxy.translate), so options that depend on each other (provider and allowed_roles,
user_id_claim and oidc_email_claim) are read together whatever their source.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import oauth2_proxy as o2p
from .apps import App, build_apps
from .loading import ENV_PREFIX
from .settings import Settings, validate

O2P_ENV_PREFIX = "OAUTH2_PROXY_"
#: defaults a container image sets: weaker than every source (the Dockerfile's listen address)
DEFAULT_ENV_PREFIX = "AUTHSVC_DEFAULT_"
DEFAULT, FILE, O2P_ENV, ALPHA, ENV, O2P_FLAG, FLAG = range(7)

#: oauth2-proxy options whose flag has the same name as an authsvc option's, but another
#: meaning or form: read as oauth2-proxy's when its configuration is in use
SHADOWED = ("user_id_claim", "http_address", "https_address", "login_url", "redeem_url", "validate_url",
            "oidc_issuer_url")


@dataclass(frozen=True)
class ConfigInput:
    """What the command line gave: files and flags (the environment is read by `load`)."""

    config_file: str | None = None
    alpha_config: str | None = None
    #: authsvc options from authsvc's flags
    flags: Mapping[str, Any] = field(default_factory=dict)
    #: oauth2-proxy cfg keys from oauth2-proxy's flags
    o2p_flags: Mapping[str, Any] = field(default_factory=dict)
    #: flag name (with --) each value came from, for the start-up line
    flag_names: Mapping[str, str] = field(default_factory=dict)
    #: a flag was spelt as only oauth2-proxy spells it (--email-domain): its configuration
    o2p_spelling: bool = False


@dataclass
class Report:
    """The settings, where each value came from, and what became of oauth2-proxy's options."""

    settings: Settings
    #: option -> "file x", "env AUTHSVC_X", "flag --x", ... (never a value)
    origins: dict[str, str]
    notes: list[o2p.Note]
    #: an oauth2-proxy configuration was read, so its defaults apply
    compat: bool
    warnings: list[str]
    #: the oauth2-proxy settings read, by cfg key (for `authsvc migrate`)
    o2p_keys: dict[str, str] = field(default_factory=dict)
    #: the file's `[[apps]]` (config/apps.py); empty: one implicit app, `settings`, on every host.
    #: With apps, `settings` is the first app's (the process options are the same in all)
    apps: list[App] = field(default_factory=list)


@dataclass
class _Layered:
    values: dict[str, Any] = field(default_factory=dict)
    ranks: dict[str, int] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)

    def put(self, key: str, value: Any, rank: int, origin: str) -> None:
        if rank >= self.ranks.get(key, -1):
            self.values[key], self.ranks[key], self.origins[key] = value, rank, origin


def is_o2p_file(path: Path, data: Mapping[str, Any], fields: set[str]) -> bool:
    """An oauth2-proxy .cfg by its extension, or by a key only oauth2-proxy has."""
    if path.suffix.lower() == ".cfg":
        return True
    return any(key not in fields and key in o2p.BY_KEY for key in data)


def read_toml(path: Path) -> dict[str, Any]:
    """The --config file as TOML (oauth2-proxy's .cfg is TOML too)."""
    if path.suffix.lower() in (".yaml", ".yml"):
        raise ConfigError(f"--config: {path} is YAML; oauth2-proxy's alpha configuration goes to "
                          "--alpha-config")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"--config: file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"--config: {path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config: {path} is not valid TOML: {exc}") from None


def _env(environ: Mapping[str, str], fields: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    ours: dict[str, str] = {}
    theirs: dict[str, str] = {}
    for name, value in environ.items():
        upper = name.upper()
        if upper.startswith(DEFAULT_ENV_PREFIX):
            continue
        if upper.startswith(ENV_PREFIX) and upper[len(ENV_PREFIX):].lower() in fields:
            ours[upper[len(ENV_PREFIX):].lower()] = value
        # exact names only: Kubernetes' service links (OAUTH2_PROXY_SERVICE_HOST, ...) are no options.
        # An empty one is unset, as viper reads it (no AllowEmptyEnv): a chart's
        # `OAUTH2_PROXY_COOKIE_SECURE: ""` keeps the default (true), it does not turn Secure off
        elif name.startswith(O2P_ENV_PREFIX) and name[len(O2P_ENV_PREFIX):].lower() in o2p.BY_KEY \
                and name[len(O2P_ENV_PREFIX):].isupper() and value != "":
            theirs[name[len(O2P_ENV_PREFIX):].lower()] = value
    return ours, theirs


@dataclass
class Gathered:
    """Every source read and oauth2-proxy's settings translated, not yet validated."""

    values: dict[str, Any]
    origins: dict[str, str]
    #: oauth2-proxy cfg key -> where it came from
    o2p_origins: dict[str, str]
    notes: list[o2p.Note]
    errors: list[str]
    warnings: list[str]
    compat: bool
    #: the file's `[[apps]]` tables, not yet validated, and the file's origin label
    apps: object = None
    apps_source: str = ""
    #: the oauth2-proxy settings as read, by cfg key, not translated (config/to_alpha.py)
    o2p_values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Checked:
    """Every problem and warning of a configuration; `report` only when there is no problem."""

    report: Report | None
    errors: list[str]
    warnings: list[str]


def load(given: ConfigInput, environ: Mapping[str, str] | None = None) -> Report:
    """Read every source, translate oauth2-proxy's settings and validate; ConfigError naming
    every problem (one line each) when there is one."""
    checked = check(given, environ)
    if checked.report is None:
        raise ConfigError("\n".join(checked.errors))
    return checked.report


def check(given: ConfigInput, environ: Mapping[str, str] | None = None) -> Checked:
    """`load`, with every problem and warning collected instead of raised (a file that cannot
    be read at all still raises ConfigError)."""
    from .feedback import settings_warnings, value_warnings

    got = gather(given, environ)
    warnings = [*got.warnings, *value_warnings(got.values, got.origins)]
    apps: list[App] = []
    if got.apps is not None:
        # the top level is the apps' defaults, not an app: only the merged ones are validated
        if got.errors:
            return Checked(None, list(got.errors), warnings)
        try:
            apps = build_apps(got.values, got.apps, got.origins, got.apps_source)
        except ConfigError as exc:
            return Checked(None, str(exc).splitlines(), warnings)
        settings = apps[0].settings
    else:
        validated, problems = validate(got.values, got.origins)
        # an option the sources could not read is not "required" as well
        named = {line.split(" ")[2] for line in got.errors if line.startswith("invalid option ")}
        errors = [*got.errors, *(line for line in problems if not any(
            line.startswith(f"invalid option {option} (") and "required" in line for option in named))]
        if validated is None or errors:
            return Checked(None, errors, warnings)
        settings = validated
    if got.compat:
        _compat_warnings(settings, got.values, warnings)
    if settings.trusted_ips:
        warnings.append("trusted_ips: requests from these addresses are let through without a session "
                        "(2xx, no identity headers); an address is only as good as the proxy that reports it")
    if (settings.reverse_proxy and not settings.serves_tls and settings.listener.kind != "tcp"
            and not _has_loopback(settings.trusted_proxy_ips)):
        warnings.append("http_address is a unix socket (or fd:) but trusted_proxy_ips holds neither "
                        "127.0.0.1 nor ::1: the local proxy's forwarded headers are not believed "
                        "(docs/security.md, \"Unix sockets\"); oauth2-proxy believes them")
    if settings.ssl_insecure_skip_verify:
        warnings.append("ssl_insecure_skip_verify is on: the IdP's certificate is not verified, so "
                        "anyone on the network path can impersonate it")
    warnings += settings_warnings(settings, got.origins)
    if apps and settings.proxy_kind == "auto":
        warnings.append('[[apps]] with proxy_kind = "auto": the check selects its app only by a host the '
                        "proxy vouches for, so every check but Envoy's prefix form is refused (403); "
                        "name the proxy_kind")
    report = Report(settings, got.origins, got.notes, got.compat, warnings, got.o2p_origins, apps)
    return Checked(report, [], warnings)


def gather(given: ConfigInput, environ: Mapping[str, str] | None = None) -> Gathered:
    """Read every source and translate; problems are collected in `errors` (a file that cannot be
    read at all raises ConfigError)."""
    environ = os.environ if environ is None else environ
    fields = set(Settings.model_fields)
    native = _Layered()
    theirs = _Layered()
    errors: list[str] = []
    alpha_options: dict[str, Any] = {}
    alpha_notes: list[o2p.Note] = []
    apps: object = None
    apps_source = ""

    if given.config_file:
        path = Path(given.config_file)
        data = read_toml(path)
        layer = theirs if is_o2p_file(path, data, fields) else native
        if layer is theirs:  # viper reads keys in any case (`Cookie_Secure = true`)
            data = {str(key).lower(): value for key, value in data.items()}
        if layer is native and "apps" in data:  # [[apps]]: config/apps.py (an o2p config is one app)
            apps, apps_source = data.pop("apps"), f"file {path}"
        for key, value in data.items():
            if layer is theirs and key not in o2p.BY_KEY and key in fields:
                native.put(key, value, FILE, f"file {path}")  # an authsvc option in a .cfg
                continue
            if layer is native and key not in fields:
                errors.append(f"invalid option {key} (file {path}): is not an authsvc option"
                              f"{o2p.suggest(key, fields) or ' (see README, Configuration reference)'}")
                continue
            layer.put(key, value, FILE, f"file {path}")
    ours_env, their_env = _env(environ, fields)
    for key, value in their_env.items():
        theirs.put(key, value, O2P_ENV, f"env {O2P_ENV_PREFIX}{key.upper()}")
    if given.alpha_config:
        from .alpha import read_alpha

        alpha = read_alpha(Path(given.alpha_config), environ)
        errors += alpha.errors
        alpha_notes = alpha.notes
        for key, value in alpha.cfg.items():
            theirs.put(key, value, ALPHA, f"alpha {given.alpha_config}")
        alpha_options = alpha.options
    for key, value in ours_env.items():
        native.put(key, value, ENV, f"env {ENV_PREFIX}{key.upper()}")
    compat = bool(theirs.values or given.o2p_flags or given.alpha_config or given.o2p_spelling)
    flags = dict(given.flags)
    for key, value in given.o2p_flags.items():
        theirs.put(key, value, O2P_FLAG, f"flag {given.flag_names.get(key, '--' + o2p.BY_KEY[key].flag)}")
    if compat:
        for key in SHADOWED:  # e.g. --user-id-claim: oauth2-proxy's meaning with its configuration
            if key in flags:
                theirs.put(key, flags.pop(key), O2P_FLAG, f"flag {given.flag_names.get(key, key)}")
    for key, value in flags.items():
        native.put(key, value, FLAG, f"flag {given.flag_names.get(key, '--' + key.replace('_', '-'))}")

    merged = _Layered()
    # a transform reads `provider` (allowed_roles, azure_graph_group_field, login_url): the value
    # that wins, also when it came as an authsvc option (`--provider azure` is authsvc's flag too)
    context = {k: native.values[k] for k in ("provider",)
               if k in native.values and native.ranks[k] >= theirs.ranks.get(k, -1)}
    if "entra_id_tenant" in native.values:  # oidc_issuer_url's tenant must agree (--azure-tenant)
        context["entra_id_tenant"] = native.values["entra_id_tenant"]
    translation = o2p.translate(theirs.values, theirs.origins, fields, context)
    errors += translation.errors
    for target, value in translation.options.items():
        sources = translation.sources[target]
        best = max(sources, key=lambda k: theirs.ranks[k])
        merged.put(target, value, theirs.ranks[best], theirs.origins[best])
    for key, value in alpha_options.items():
        merged.put(key, value, ALPHA, f"alpha {given.alpha_config}")
    for key, value in native.values.items():
        merged.put(key, value, native.ranks[key], native.origins[key])
    for name, value in environ.items():
        key = name.upper().removeprefix(DEFAULT_ENV_PREFIX).lower()
        if name.upper().startswith(DEFAULT_ENV_PREFIX) and key in fields and key not in merged.values:
            merged.put(key, value, DEFAULT, f"env {name.upper()}")
    warnings: list[str] = []
    if compat:
        _compat_defaults(merged, theirs.values, warnings)
    notes = [*alpha_notes, *translation.notes]
    warnings[:0] = [f"oauth2-proxy option {n.key} ({n.origin}): {n.status}: {n.message}"
                    for n in notes if n.warn]
    return Gathered(merged.values, merged.origins, theirs.origins, notes, errors, warnings, compat,
                    apps, apps_source, dict(theirs.values))


def _compat_defaults(merged: _Layered, theirs: Mapping[str, Any], warnings: list[str]) -> None:
    for key, value in o2p.COMPAT_DEFAULTS.items():
        if key not in merged.values:
            merged.put(key, value, DEFAULT, "oauth2-proxy default")
    # oauth2-proxy asks for the groups scope itself when groups are required of an oidc login
    if ("scope" not in merged.values and merged.values.get("provider") == "oidc"
            and merged.values.get("allowed_groups")):
        merged.put("scope", "openid email profile groups", DEFAULT, "oauth2-proxy default")
    for key, why in o2p.KEPT_DEFAULTS.items():
        # approval_prompt is sent only without prompt: with prompt set, its default changes nothing
        if key not in theirs and not (key == "approval_prompt" and "prompt" in merged.values):
            warnings.append(f"{key}: {why}")


def _has_loopback(networks: list[str]) -> bool:
    """Whether 127.0.0.1 or ::1 is in one of the CIDRs (check/forwarded.py's unix-socket rule)."""
    import ipaddress

    nets = [ipaddress.ip_network(n, strict=False) for n in networks]
    return any(ipaddress.ip_address(a) in n for a in ("127.0.0.1", "::1") for n in nets
               if n.version == ipaddress.ip_address(a).version)


def _compat_warnings(settings: Settings, values: Mapping[str, Any], warnings: list[str]) -> None:
    if settings.reverse_proxy and "trusted_proxy_ips" not in values:
        warnings.append("trusted_proxy_ips: oauth2-proxy trusts forwarded headers from everyone by "
                        "default (CVE-2026-76835); authsvc keeps its default of loopback and private "
                        "ranges")
    if "*" in settings.email_domains:
        warnings.append("email_domains = *: authsvc still requires one valid e-mail address "
                        "(oauth2-proxy admits any non-empty one)")
