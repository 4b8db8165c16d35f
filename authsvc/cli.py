"""Command line: authsvc serve | check-config | migrate | convert-config-to-alpha | generate-secret | demo.

Every option is also a flag (`--cookie-name X`, `--email-domains a.com,b.com`); flags beat
AUTHSVC_* environment variables, which beat the --config file (config/sources.py has the whole
order, with oauth2-proxy's sources). oauth2-proxy's command line works as it is: flags without a
command run `serve`, its flag names are aliases, list flags accumulate, booleans may stand alone.
"""

from __future__ import annotations

import argparse
import base64
import csv
import functools
import itertools
import json
import logging
import os
import re
import secrets
import socket
import ssl
import sys
from collections.abc import Callable, Sequence
from importlib.util import find_spec
from typing import Any, NoReturn

from . import __version__
from .config import Settings, reference
from .config import oauth2_proxy as o2p
from .config.apps import App
from .config.listen import ListenAddress, parse_listen
from .config.loading import list_items
from .config.server import MAX_REQUEST_HEADER_BYTES, REQUEST_HEADER_TIMEOUT
from .config.sources import Checked, ConfigInput, check, load
from .config.tls import TLSOptions
from .errors import ConfigError
from .web import listen, logs
from .web.listen import check_unix_path

log = logging.getLogger("authsvc")


_COMMANDS = ("serve", "check-config", "migrate", "convert-config-to-alpha", "generate-secret", "demo")
#: what an unknown flag is named as; anything else (a value, perhaps a secret, that starts
#: with "-") is "an unexpected argument"
_FLAG_NAME = re.compile(r"--[a-z0-9][a-z0-9-]{0,63}")


class _Parser(argparse.ArgumentParser):
    """argparse without prefix matching, and errors that never repeat a value (it may be a secret)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # argparse quotes what it was given ("invalid int value: 'x'", "ignored explicit
        # argument 'x'", "invalid choice: 'x'"): a command, a flag or a choice is named, any
        # other quoted text is not repeated
        known = {*_COMMANDS, *(f for a in self._actions for f in a.option_strings)}
        message = re.sub(r"'([^']*)'", lambda m: m.group(0) if m.group(1) in known else "(a value)", message)
        if message.endswith("expected one argument"):
            message += " (a value that starts with '-' is written --flag=VALUE)"
        self.exit(2, f"authsvc: error: {message}\n")


class _Flag(argparse.Action):
    """Stores the value; remembers which spelling was used (for the start-up line)."""

    def __init__(self, *args: Any, kind: str = "str", **kwargs: Any) -> None:
        self.kind = kind
        if kind == "bool":  # --reverse-proxy alone means true (pflag); --reverse-proxy=false works
            kwargs.update(nargs="?", const="true")
        super().__init__(*args, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        names: dict[str, str] = getattr(namespace, "_flag_names", None) or {}
        names[self.dest] = option_string or ""
        namespace._flag_names = names
        if self.kind == "list":  # repeated list flags accumulate, each comma-separated (pflag)
            previous = getattr(namespace, self.dest, None) or []
            keep = self.dest.removeprefix("o2p_") in o2p.KEPT_AS_WRITTEN  # routes as pflag reads them
            values = [*previous, *flag_items(str(values), strip=not keep)]
        setattr(namespace, self.dest, values)


def flag_items(value: str, strip: bool = True) -> list[str]:
    """A list flag's items: comma-separated, or a JSON array (`list_items`); with a double quote,
    one CSV record as pflag's StringSlice reads it, so `--skip-auth-route='"GET=^/v{1,2}/",^/ok'`
    is two routes, the first with its comma. `strip=False`: the items keep the spaces around
    them, as in pflag (oauth2_proxy.KEPT_AS_WRITTEN)."""
    stripped = value.strip()
    json_array = stripped.startswith("[") and stripped.endswith("]")
    row: list[str] | None = None
    if '"' in value and not json_array:
        try:
            row = next(csv.reader([value], strict=True), [])
        except csv.Error:
            row = None
    if row is None:
        if strip or json_array:
            return list_items(value)
        row = value.split(",")
    return [item.strip() if strip else item for item in row if item.strip()]


def _kind(name: str) -> str:
    annotation = str(Settings.model_fields[name].annotation)
    if Settings.model_fields[name].annotation is bool or name == "redirect_browsers":
        return "bool"
    return "list" if annotation.startswith("list") else "str"


def _metavar(name: str) -> str:
    annotation = Settings.model_fields[name].annotation
    kind = _kind(name)
    if kind == "bool":
        return "BOOL"
    if kind == "list":
        return "A,B"
    if annotation is float:  # every float option is a Duration
        return "DURATION"
    return "N" if annotation is int else "VALUE"


def option_flags() -> tuple[dict[str, list[str]], dict[str, str]]:
    """authsvc option -> its flags (its own, then oauth2-proxy's spellings of it), and the
    flags only oauth2-proxy has -> the cfg key each sets."""
    native = {name: [f"--{name.replace('_', '-')}"] for name in Settings.model_fields}
    taken = {flag for flags in native.values() for flag in flags}
    fields = set(native)
    theirs: dict[str, str] = {}
    for option in o2p.OPTIONS:
        flag = f"--{option.flag}"
        how = o2p.treatment(option.key, fields)
        if how is None:
            target: str | None = option.key
        elif isinstance(how, o2p.Rename) and how.transform is None:
            target = how.target
        else:
            target = None
        if flag in taken:
            continue  # the same flag, or one sources.shadowed() hands over in compat mode
        if target is not None:
            native[target].append(flag)
        else:
            theirs[flag] = option.key
        taken.add(flag)
    return native, theirs


def _add_option_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", metavar="FILE",
                        help="authsvc TOML, or oauth2-proxy's .cfg")
    parser.add_argument("--alpha-config", metavar="FILE", help="oauth2-proxy's alpha YAML")
    native, theirs = option_flags()
    # one section per option group; each option's help is generated from the settings model
    # (its README meaning, default and variable: config/reference.py)
    for title, names in reference.groups():
        group = parser.add_argument_group(f"options: {title}")
        for name in names:
            group.add_argument(*native[name], dest=f"opt_{name}", metavar=_metavar(name), action=_Flag,
                               kind=_kind(name), help=reference.option_help(name).replace("%", "%%"))
    o2p_group = parser.add_argument_group("oauth2-proxy's flags (see docs/migrating-from-oauth2-proxy.md)")
    for flag, key in theirs.items():
        o2p_group.add_argument(flag, dest=f"o2p_{key}", metavar="VALUE", action=_Flag,
                               kind=o2p.BY_KEY[key].kind, help=argparse.SUPPRESS)


def config_input(args: argparse.Namespace) -> ConfigInput:
    """What the parsed command line says about configuration."""
    flags: dict[str, Any] = {}
    o2p_flags: dict[str, Any] = {}
    names: dict[str, str] = {}
    used: dict[str, str] = getattr(args, "_flag_names", None) or {}
    for dest, value in vars(args).items():
        if value is None:
            continue
        if dest.startswith("opt_"):
            flags[dest[4:]] = value
            names[dest[4:]] = used.get(dest, "")
        elif dest.startswith("o2p_"):
            key = dest[4:]
            o2p_flags["google_groups" if key == "google_group" else key] = value
            names[key] = used.get(dest, "")
    # --email-domain, --allowed-group, ...: spellings authsvc has only for oauth2-proxy's sake
    spelling = any(name and name != f"--{key.replace('_', '-')}" for key, name in names.items()
                   if key in flags)
    return ConfigInput(getattr(args, "config", None), getattr(args, "alpha_config", None),
                       flags, o2p_flags, names, spelling)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = _Parser(prog="authsvc", description="Forward-auth service.")
    parser.add_argument("--version", action="version", version=f"authsvc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    epilog = ("Every option is also AUTHSVC_<OPTION> in the environment and a key of the --config "
              "file (flags win, then the environment, then the file). oauth2-proxy's flags, "
              "OAUTH2_PROXY_* variables and .cfg keys are read too: docs/migrating-from-oauth2-proxy.md.")
    serve = sub.add_parser("serve", help="run the service (the default when only flags are given)",
                           usage="authsvc serve [--config FILE] [--OPTION VALUE ...]",
                           description="Run the service.", epilog=epilog)
    _add_option_flags(serve)
    check = sub.add_parser("check-config", help="validate and print the effective settings",
                           description="Run every check serve runs, report every problem and warning "
                           "(one line each), and print the effective settings with secrets masked.",
                           usage="authsvc check-config [--config FILE] [--OPTION VALUE ...]", epilog=epilog)
    _add_option_flags(check)
    migrate = sub.add_parser("migrate", help="translate an oauth2-proxy configuration to authsvc TOML")
    _add_option_flags(migrate)
    migrate.add_argument("--output", "-o", metavar="FILE", help="write the TOML here (default: stdout)")
    to_alpha = sub.add_parser("convert-config-to-alpha",
                              help="print oauth2-proxy's alpha YAML for an oauth2-proxy configuration "
                              "(its --convert-config-to-alpha; secrets included, as it prints them)")
    _add_option_flags(to_alpha)
    sub.add_parser("generate-secret", help="print a new random cookie secret")
    demo = sub.add_parser("demo", help="run with a built-in DEVELOPMENT identity provider")
    demo.add_argument("--port", type=int, default=4180)
    demo.add_argument("--host", default="127.0.0.1")
    return parser


#: main.go's checks, in its order: logger.Fatal, exit 1
_CONVERT_CONFLICTS = (("--alpha-config", "cannot use alpha-config and convert-config-to-alpha together"),
                      ("--config-test", "cannot use config-test and convert-config-to-alpha together"))


def _given(argv: list[str], flag: str) -> bool:
    """Whether a flag is on as pflag reads it: a bool alone or =true; a string flag non-empty."""
    for n, item in enumerate(argv):
        name, eq, value = item.partition("=")
        if name != flag:
            continue
        if flag in ("--convert-config-to-alpha", "--config-test"):
            return not eq or value.lower() in ("1", "t", "true")
        return bool(value if eq else (argv[n + 1] if n + 1 < len(argv) else ""))
    return False


def _with_command(argv: list[str]) -> list[str]:
    """oauth2-proxy's invocation (flags, no command) is `serve`; `--config-test` is check-config;
    `--convert-config-to-alpha` is convert-config-to-alpha."""
    if not argv or not argv[0].startswith("-") or argv[0] in ("-h", "--help", "--version"):
        return argv
    if _given(argv, "--convert-config-to-alpha"):
        for flag, message in _CONVERT_CONFLICTS:
            if _given(argv, flag):
                print(f"authsvc: error: {message}", file=sys.stderr)
                raise SystemExit(1)
        rest = (a for a in argv if a.partition("=")[0] != "--convert-config-to-alpha")
        return ["convert-config-to-alpha", *rest]
    argv = [a for a in argv if a.partition("=")[0] != "--convert-config-to-alpha"]  # =false
    if "--config-test" in argv:
        return ["check-config", *(a for a in argv if a != "--config-test")]
    return ["serve", *argv]


_FALSE_WORDS = frozenset({"0", "f", "false", "n", "no", "off"})


def _refuse_detached_booleans(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """`--cookie-secure false` (two arguments) is refused: pflag reads a boolean flag without
    `=` as true and oauth2-proxy ignores the stray `false`, while the writer meant false;
    following either would be a guess about Secure cookies, forwarded headers or the like
    (`--reverse-proxy true` means true to both, and is read so)."""
    parsers: list[argparse.ArgumentParser] = [parser]
    booleans: set[str] = set()
    while parsers:
        for action in parsers.pop()._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers += action.choices.values()
            elif isinstance(action, _Flag) and action.kind == "bool":
                booleans.update(action.option_strings)
    for flag, after in itertools.pairwise(argv):
        if flag in booleans and after.lower() in _FALSE_WORDS:
            parser.exit(2, f"authsvc: error: {flag} {after}: a boolean flag takes its value after '=' "
                           f"({flag}={after}); oauth2-proxy read {flag} alone as true and ignored "
                           f"'{after}'\n")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line; an unknown flag is named (never with its value) and exits 2."""
    args_list = _with_command(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    _refuse_detached_booleans(parser, args_list)
    args, unknown = parser.parse_known_args(args_list)
    if unknown:
        native, theirs = option_flags()
        known = [f for flags in native.values() for f in flags] + list(theirs)
        lines = []
        for item in unknown:
            name = item.split("=", 1)[0]
            if not _FLAG_NAME.fullmatch(name):
                lines.append("authsvc: error: unexpected argument (values are not repeated here)")
                continue
            lines.append(f"authsvc: error: unknown flag {name}{o2p.suggest(name, known)}")
        parser.exit(2, "\n".join(dict.fromkeys(lines)) + "\n")
    return args


def generate_secret() -> str:
    """32 random bytes, base64url: what cookie_secret expects."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def uvicorn_options(
    max_header_bytes: int = MAX_REQUEST_HEADER_BYTES,
    header_timeout: float = REQUEST_HEADER_TIMEOUT,
    lean_check: bool = False,
) -> dict[str, Any]:
    """The uvicorn settings of `serve`; the benchmark's bare ceiling app runs on the same.

    The request head is bounded in size and time (`max_request_header_bytes`,
    `request_header_timeout`, protocol.py); without httptools only the size is (h11's cap).
    With `lean_check` (serve), /oauth2/auth is answered by web/lean.py's protocol, everything
    else by uvicorn's (issue 17).
    """
    http: Any = "h11"
    if find_spec("httptools"):  # uvicorn[standard] brings it
        from .web.lean import CheckProtocol
        from .web.protocol import LimitedHttpToolsProtocol

        # a partial, not a subclass made here: workers get it pickled, by reference
        http = functools.partial(
            CheckProtocol if lean_check else LimitedHttpToolsProtocol,
            max_header_bytes=max_header_bytes, header_timeout=header_timeout,
        )
    return {
        "log_level": "warning",
        "access_log": False,
        "proxy_headers": False,  # forwarded headers are ours to judge (check/forwarded.py)
        "server_header": False,
        # uvicorn[standard] brings uvloop too; said outright, so a missing one is plain to see
        "loop": "uvloop" if find_spec("uvloop") else "asyncio",
        "http": http,
        "h11_max_incomplete_event_size": max_header_bytes,
        # authsvc serves no websockets: a check request that carries the client's
        # "Upgrade: websocket" (Caddy, Envoy forward it) must be answered as plain HTTP,
        # not refused by the websocket handshake with a 403 that reads as "denied"
        "ws": "none",
    }


#: how `serve` hands its --config and flags to worker processes (uvicorn starts them afresh)
WORKER_ENV = "_AUTHSVC_WORKER_SETTINGS"


def listen_address(settings: Settings) -> str:
    """The address served: https_address with a TLS certificate (oauth2-proxy's rule), else
    http_address (`host:port`, `unix://path[,mode=...]` or `fd:N`)."""
    return settings.https_address if settings.serves_tls else settings.http_address


def _socket_listener(settings: Settings) -> ListenAddress | None:
    """http_address when authsvc makes its socket itself (unix://, fd:), else None (uvicorn's TCP)."""
    if settings.serves_tls:
        return None
    listener = settings.listener
    return None if listener.kind == "tcp" else listener


def summarise_sources(origins: dict[str, str]) -> str:
    """ "file x.cfg: 5, env OAUTH2_PROXY_*: 3, flags: 2" (no values)."""
    counts: dict[str, int] = {}
    for origin in origins.values():
        kind = origin
        if origin.startswith("env "):
            kind = "env " + origin[4:].split("_", 1)[0] + ("_PROXY_*" if "OAUTH2_PROXY_" in origin else "_*")
        elif origin.startswith("flag "):
            kind = "flags"
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{kind}: {n}" for kind, n in counts.items()) or "defaults only"


def log_start(settings: Settings, origins: dict[str, str] | None = None) -> None:
    """The start-up line: version, address, where the settings came from, and every effective
    setting with secrets masked (the sources name files, variables and flags, never values)."""
    origins = origins or {}
    where = f"https://{settings.https_address}" if settings.serves_tls else settings.listener.describe()
    log.info(
        "authsvc %s starting on %s (%d worker%s); settings from %s", __version__,
        where, settings.workers, "" if settings.workers == 1 else "s",
        summarise_sources(origins),
        extra={"version": __version__, "settings": settings.masked(), "sources": origins},
    )


def app_from_env() -> Any:
    """The app of one worker process (uvicorn's factory): the settings `serve` was given."""
    from .context import Context
    from .web.app import create_app

    spec = json.loads(os.environ[WORKER_ENV])
    report = load(ConfigInput(**spec))
    settings = report.settings
    logs.configure(settings.log_format, settings.log_level, auth_logging=settings.auth_logging,
                   local_time=settings.logging_local_time, log_file=logs.log_file(settings))
    if report.apps:
        from .web.app import create_apps_app

        return create_apps_app(report.apps)
    return create_app(Context.build(settings))


def _exit_zero_after_sigterm(signum: int, frame: Any) -> None:
    """uvicorn re-raises SIGTERM once its graceful shutdown is done; that is a clean exit."""


def tls13_context(config: Any, default: Any) -> ssl.SSLContext:
    """uvicorn's TLS context, refusing anything below TLS 1.3 (tls_min_version = "TLS1.3")."""
    context: ssl.SSLContext = default()
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


def _tls_options(settings: TLSOptions) -> dict[str, Any]:
    if not settings.serves_tls:
        return {}
    import inspect

    import uvicorn

    options: dict[str, Any] = {"ssl_certfile": settings.tls_cert_file, "ssl_keyfile": settings.tls_key_file}
    if settings.openssl_ciphers:
        options["ssl_ciphers"] = settings.openssl_ciphers
    if settings.tls_min_version == "TLS1.3":
        if "ssl_context_factory" not in inspect.signature(uvicorn.Config).parameters:
            raise ConfigError("invalid option tls_min_version: TLS1.3 needs uvicorn 0.54 or newer")
        options["ssl_context_factory"] = tls13_context
    return options  # TLS1.2 is Python's own floor (ssl.PROTOCOL_TLS_SERVER)


def _serve_metrics(settings: Settings, registry: Any) -> None:
    """The separate /metrics listeners: plain (metrics_address) and HTTPS (metrics_secure_address)."""
    from .web.metrics import serve_separately

    if settings.metrics_listener:
        serve_separately(settings.metrics_listener, registry)
    if settings.metrics_secure_address:
        serve_separately(settings.metrics_secure_address, registry, settings.metrics_tls_cert_file,
                         settings.metrics_tls_key_file)


def _secrets_of(settings: Settings) -> list[str]:
    values = [s.get_secret_value() for s in settings.cookie_secret]
    values += [getattr(settings, k).get_secret_value() for k in _SECRET_FIELDS]
    return [v for v in values if len(v) >= 4]


_SECRET_FIELDS = ("client_secret", "redis_password", "redis_sentinel_password", "basic_auth_password",
                  "github_token", "nginx_cache_key_secret")


def preflight(settings: Settings) -> Any:
    """Build everything `serve` builds before it listens, binding no socket and asking no IdP:
    the app (provider, session store, rules, pages, routes), the TLS options and uvicorn's
    configuration. The app, or ConfigError naming every part that cannot be built."""
    import uvicorn

    from .context import Context
    from .web.app import create_app

    problems: list[str] = []
    secrets_ = _secrets_of(settings)

    def failed(what: str, exc: Exception) -> None:
        if isinstance(exc, ConfigError):
            problems.extend(str(exc).splitlines())
            return
        text = f"{type(exc).__name__}: {exc}"
        for secret in secrets_:  # an exception's text is not ours to vouch for
            text = text.replace(secret, "****")
        problems.append(f"invalid configuration: {what} cannot be built ({text.splitlines()[0][:300]})")

    app: Any = None
    try:
        app = create_app(Context.build(settings))
    except Exception as exc:
        failed("the application", exc)
    try:
        options = {**uvicorn_options(settings.max_request_header_bytes, settings.request_header_timeout),
                   **_host_port(settings), "log_config": None, **_tls_options(settings)}
        uvicorn.Config(app or _no_app, **options).load()
        for option, address in (("http_address", _socket_listener(settings)),
                                ("metrics_address", _metrics_socket(settings))):
            if address is not None and address.kind == "unix":
                check_unix_path(address.path, option)  # fd:N is seen only by serve (systemd passes it)
    except Exception as exc:
        failed("the listener", exc)
    if problems:
        if app is not None:
            close_app(app)
        raise ConfigError("\n".join(dict.fromkeys(problems)))
    return app


def _host_port(settings: Settings) -> dict[str, Any]:
    """uvicorn's host and port for a TCP listener (none for unix:// and fd:, web/listen.py)."""
    if _socket_listener(settings) is not None:
        return {}
    where = parse_listen(listen_address(settings))  # validated: TCP here (config/listen.py)
    # ":4180" means every interface, as in Go; an IPv6 host comes without its brackets
    return {"host": where.host or "0.0.0.0", "port": where.port}  # noqa: S104


def _metrics_socket(settings: Settings) -> ListenAddress | None:
    listener = settings.metrics_listener
    address = parse_listen(listener) if listener else None
    return address if address is not None and address.kind != "tcp" else None


def _run(target: Any, options: dict[str, Any], sock: socket.socket | None) -> None:
    """uvicorn.run, or, on a socket made here (web/listen.py), what uvicorn.run does with the
    one it binds itself: one server, or its workers' supervisor, serving that socket."""
    import uvicorn

    if sock is None:
        uvicorn.run(target, **options)
        return
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(target, **options)
    server = uvicorn.Server(config=config)
    if config.workers > 1:
        Multiprocess(config, sockets=[sock]).run()
        return
    config.load()
    server.run(sockets=[sock])
    if not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE (it logged why)


async def _no_app(scope: Any, receive: Any, send: Any) -> None:
    """Stands in for an app that could not be built, so the listener's options are checked too."""


def close_app(app: Any) -> None:
    """Release what building the app opened (HTTP and Redis clients; nothing is connected yet)."""
    import asyncio

    asyncio.run(app.state.context.aclose())


def serve(
    settings: Settings, given: ConfigInput | None = None, app: Any = None, apps: Sequence[App] = ()
) -> None:
    """Run uvicorn with the app built from settings, in `settings.workers` processes.

    On SIGTERM uvicorn stops accepting connections, lets the requests in flight finish for up
    to `shutdown_timeout` seconds (then cancels them), runs the lifespan shutdown and returns.
    `app` is the one `preflight` built (one worker), else it is built here. A unix:// or fd:
    http_address is a socket made here (web/listen.py); its file is removed at exit.
    """
    options: dict[str, Any] = {
        **uvicorn_options(
            settings.max_request_header_bytes, settings.request_header_timeout, lean_check=True
        ),
        **_host_port(settings),
        "log_config": None,  # uvicorn's own lines go through our handler (logs.configure)
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": settings.shutdown_timeout,
        **_tls_options(settings),
    }
    listener = _socket_listener(settings)
    sock = listen.bind(listener) if listener is not None else None  # ConfigError: main reports it
    ours = listen.file_id(listener.path) if listener is not None and listener.kind == "unix" else None
    try:
        _serve_on(settings, options, sock, given, app, apps)
    finally:
        if sock is not None:
            sock.close()
        if ours is not None and listener is not None:
            listen.remove_socket_file(listener.path, ours)


def _serve_on(settings: Settings, options: dict[str, Any], sock: socket.socket | None,
              given: ConfigInput | None, app: Any, apps: Sequence[App]) -> None:
    import signal

    from .context import Context
    from .web.app import create_app
    from .web.metrics import multiprocess_registry

    signal.signal(signal.SIGTERM, _exit_zero_after_sigterm)
    if settings.workers == 1:
        if apps:  # config/apps.py: one Context per app, dispatched by host (web/app.py)
            from .web.app import create_apps_app

            if app is not None:
                close_app(app)  # the preflight's check of the first app; each app builds its own
            multi = create_apps_app(list(apps))
            _serve_metrics(settings, multi.collector)
            _run(multi, options, sock)
            return
        app = app or create_app(Context.build(settings))
        _serve_metrics(settings, app.state.context.metrics.registry)
        _run(app, options, sock)
        return
    if app is not None:
        close_app(app)  # each worker builds its own
    import shutil
    import tempfile

    # prometheus_client's multiprocess mode: each worker writes its values into this directory,
    # and /metrics (any worker's, or the separate listener here) sums them
    metrics_dir = tempfile.mkdtemp(prefix="authsvc-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    given = given or ConfigInput()
    os.environ[WORKER_ENV] = json.dumps({
        "config_file": given.config_file, "alpha_config": given.alpha_config,
        "flags": dict(given.flags), "o2p_flags": dict(given.o2p_flags), "flag_names": dict(given.flag_names),
        "o2p_spelling": given.o2p_spelling,
    })
    try:
        _serve_metrics(settings, multiprocess_registry(metrics_dir))
        _run("authsvc.cli:app_from_env", {**options, "factory": True, "workers": settings.workers}, sock)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _quietly(build: Callable[[Settings], Any], settings: Settings) -> Any:
    """check-config's output is the settings and its verdict, not building's INFO lines."""
    logger = logging.getLogger("authsvc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        return build(settings)
    finally:
        logger.setLevel(level)


def _report(errors: Sequence[str], warnings: Sequence[str]) -> None:
    """Problems and warnings, one line each, on stderr (check-config, and serve that cannot start)."""
    for line in errors:
        print(f"authsvc: {line}", file=sys.stderr)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `authsvc` console script and `python -m authsvc`."""
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry full URLs
    if args.command == "generate-secret":
        print(generate_secret())
        return 0
    if args.command == "demo":
        from .demo.run import run_demo

        run_demo(args.host, args.port)
        return 0
    given = config_input(args)
    if args.command == "migrate":
        from .config.migrate import run_migrate

        return run_migrate(given, args.output)
    if args.command == "convert-config-to-alpha":
        from .config.to_alpha import converted

        try:
            sys.stdout.write(converted(given))  # secrets included, as oauth2-proxy prints them
        except ConfigError as exc:
            _report(str(exc).splitlines(), [])
            return 1
        return 0
    checked = Checked(None, [], [])
    try:
        checked = check(given)  # ConfigError here: a file that cannot be read at all
        if checked.report is None:
            raise ConfigError("\n".join(checked.errors))
        report = checked.report
        settings = report.settings
        if args.command != "check-config":
            # before the app is built: what building it logs (check/forwarded.py's and
            # web/any_path.py's start-up warnings) comes out in the configured format (JSON)
            logs.configure(settings.log_format, settings.log_level, auth_logging=settings.auth_logging,
                           local_time=settings.logging_local_time, log_file=logs.log_file(settings))
        app = _quietly(preflight, settings) if args.command == "check-config" else preflight(settings)
    except ConfigError as exc:
        _report(str(exc).splitlines(), checked.warnings)
        return 2
    if args.command == "check-config":
        close_app(app)
        if report.apps:  # each app's effective settings (config/apps.py), secrets masked
            shown: Any = {"apps": [
                {"name": each.name, "hosts": list(each.hosts), "path_prefix": each.path_prefix,
                 "settings": each.settings.masked(),
                 "providers": [{"id": p.id, "settings": p.settings.masked()} for p in each.providers]}
                for each in report.apps
            ]}
        else:
            shown = settings.masked()
        print(json.dumps(shown, indent=2, sort_keys=True))
        _report([], report.warnings)
        if report.origins:
            print("sources: " + ", ".join(f"{k} <- {v}" for k, v in sorted(report.origins.items())),
                  file=sys.stderr)
        print("configuration OK", file=sys.stderr)
        return 0
    for warning in report.warnings:
        log.warning(warning)
    log_start(settings, report.origins)
    try:
        serve(settings, given, app, report.apps)
    except ConfigError as exc:
        _report(str(exc).splitlines(), [])
        return 2
    except OSError as exc:  # a /metrics listener's port taken (uvicorn reports its own in one line)
        print(f"authsvc: cannot listen for /metrics (metrics_address, metrics_secure_address): "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0
