"""Command line: authsvc serve | check-config | generate-secret | demo.

Every option is also a flag (`--cookie-name X`, `--email-domains a.com,b.com`); flags beat
AUTHSVC_* environment variables, which beat the --config TOML file.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from importlib.util import find_spec
from typing import Any

from . import __version__
from .config import Settings, load_settings
from .config.server import MAX_REQUEST_HEADER_BYTES, REQUEST_HEADER_TIMEOUT
from .errors import ConfigError
from .web import logs

log = logging.getLogger("authsvc")


def _add_option_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", metavar="FILE", help="TOML configuration file")
    group = parser.add_argument_group("options (see README, Configuration reference)")
    for name in Settings.model_fields:
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"opt_{name}", metavar="VALUE")


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    return {
        key.removeprefix("opt_"): value
        for key, value in vars(args).items()
        if key.startswith("opt_") and value is not None
    }


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(prog="authsvc", description="Forward-auth service.")
    parser.add_argument("--version", action="version", version=f"authsvc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the service")
    _add_option_flags(serve)
    check = sub.add_parser("check-config", help="validate and print the effective settings")
    _add_option_flags(check)
    sub.add_parser("generate-secret", help="print a new random cookie secret")
    demo = sub.add_parser("demo", help="run with a built-in DEVELOPMENT identity provider")
    demo.add_argument("--port", type=int, default=4180)
    demo.add_argument("--host", default="127.0.0.1")
    return parser


def generate_secret() -> str:
    """32 random bytes, base64url: what cookie_secret expects."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def uvicorn_options(
    max_header_bytes: int = MAX_REQUEST_HEADER_BYTES, header_timeout: float = REQUEST_HEADER_TIMEOUT
) -> dict[str, Any]:
    """The uvicorn settings of `serve`; the benchmark's bare ceiling app runs on the same.

    The request head is bounded in size and time (`max_request_header_bytes`,
    `request_header_timeout`, protocol.py); without httptools only the size is (h11's cap).
    """
    http: Any = "h11"
    if find_spec("httptools"):  # uvicorn[standard] brings it
        from .web.protocol import LimitedHttpToolsProtocol

        # a partial, not a subclass made here: workers get it pickled, by reference
        http = functools.partial(
            LimitedHttpToolsProtocol, max_header_bytes=max_header_bytes, header_timeout=header_timeout
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


def log_start(settings: Settings) -> None:
    """The start-up line: version, address, and every effective setting with secrets masked."""
    log.info(
        "authsvc %s starting on %s (%d worker%s)", __version__, settings.http_address,
        settings.workers, "" if settings.workers == 1 else "s",
        extra={"version": __version__, "settings": settings.masked()},
    )


def app_from_env() -> Any:
    """The app of one worker process (uvicorn's factory): the settings `serve` was given."""
    from .context import Context
    from .web.app import create_app

    spec = json.loads(os.environ[WORKER_ENV])
    settings = load_settings(spec["config"], **spec["flags"])
    logs.configure(settings.log_format, settings.log_level)
    return create_app(Context.build(settings))


def _exit_zero_after_sigterm(signum: int, frame: Any) -> None:
    """uvicorn re-raises SIGTERM once its graceful shutdown is done; that is a clean exit."""


def serve(settings: Settings, config_file: str | None = None, flags: dict[str, Any] | None = None) -> None:
    """Run uvicorn with the app built from settings, in `settings.workers` processes.

    On SIGTERM uvicorn stops accepting connections, lets the requests in flight finish for up
    to `shutdown_timeout` seconds (then cancels them), runs the lifespan shutdown and returns.
    """
    import signal

    import uvicorn

    from .context import Context
    from .web.app import create_app
    from .web.metrics import multiprocess_registry, serve_separately

    host, _, port = settings.http_address.rpartition(":")
    options: dict[str, Any] = {
        **uvicorn_options(settings.max_request_header_bytes, settings.request_header_timeout),
        "host": host.strip("[]"),
        "port": int(port),
        "log_config": None,  # uvicorn's own lines go through our handler (logs.configure)
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": settings.shutdown_timeout,
    }
    log_start(settings)
    signal.signal(signal.SIGTERM, _exit_zero_after_sigterm)
    if settings.workers == 1:
        context = Context.build(settings)
        app = create_app(context)
        if settings.metrics_address:
            serve_separately(settings.metrics_address, context.metrics.registry)
        uvicorn.run(app, **options)
        return
    import shutil
    import tempfile

    # prometheus_client's multiprocess mode: each worker writes its values into this directory,
    # and /metrics (any worker's, or the separate listener here) sums them
    metrics_dir = tempfile.mkdtemp(prefix="authsvc-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    os.environ[WORKER_ENV] = json.dumps({"config": config_file, "flags": flags or {}})
    try:
        if settings.metrics_address:
            serve_separately(settings.metrics_address, multiprocess_registry(metrics_dir))
        uvicorn.run("authsvc.cli:app_from_env", factory=True, workers=settings.workers, **options)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `authsvc` console script and `python -m authsvc`."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry full URLs
    if args.command == "generate-secret":
        print(generate_secret())
        return 0
    if args.command == "demo":
        from .demo.run import run_demo

        run_demo(args.host, args.port)
        return 0
    try:
        settings = load_settings(args.config, **_flags(args))
    except ConfigError as exc:
        print(f"authsvc: {exc}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        print(json.dumps(settings.masked(), indent=2, sort_keys=True))
        print("configuration OK", file=sys.stderr)
        return 0
    logs.configure(settings.log_format, settings.log_level)
    serve(settings, args.config, _flags(args))
    return 0
