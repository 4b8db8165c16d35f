"""oauth2-proxy's other listeners, served for real: `unix://<path>,mode=0660` behind nginx's
`proxy_pass http://unix:...`, `fd:3` from systemd-socket-activate, and `[::1]:port`.

nginx runs oauth2-proxy's documented auth_request server block (as test_oauth2_proxy_nginx.py)
with its two `proxy_pass http://127.0.0.1:4180;` pointed at the socket instead, as its
docs/docs/configuration/systemd_socket.md writes it. When the tests run as root nginx's workers
run as nobody:nogroup, so the socket lives in a setgid directory of group nogroup and only its
group bit (mode 0660) lets them connect: the mode is what admits nginx, as in production
(SocketGroup=www-data, SocketMode=0660). authsvc is started from an oauth2-proxy cfg only.
"""

from __future__ import annotations

import contextlib
import grp
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import INGRESS_HOST
from tests.integration.test_oauth2_proxy_nginx import SECRET, docs_server_block
from tests.support import contract
from tests.support.components import REPO, OpenIDProvider, nginx_main, start_nginx
from tests.support.echo import EchoUpstream
from tests.support.login import BROWSER_ACCEPT, HostMap, browse
from tests.support.processes import HOST, Process, free_port, python_argv, start_process
from tests.support.tools import require_tool

pytestmark = pytest.mark.integration

BASE = f"http://{INGRESS_HOST}"


def cfg_text(op: OpenIDProvider, http_address: str | None) -> str:
    """An oauth2-proxy user's cfg for this setup; no http_address line when None (env form)."""
    address = f'http_address = "{http_address}"\n' if http_address else ""
    return f"""\
{address}provider = "oidc"
oidc_issuer_url = "{op.issuer}"
client_id = "{op.web_client_id}"
client_secret = "{op.client_secret}"
cookie_secret = "{SECRET}"
cookie_secure = "false"
email_domains = ["example.com"]
whitelist_domains = ["{INGRESS_HOST}"]
upstreams = ["static://202"]
reverse_proxy = true
set_xauthrequest = true
skip_provider_button = true
"""


def uds_ready(path: Path) -> Callable[[Process], bool]:
    def probe(_: Process) -> bool:
        try:
            with httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), timeout=1.0) as c:
                return c.get("http://authsvc/ping").status_code == 200
        except httpx.HTTPError:
            return False

    return probe


def over_socket(path: Path, url: str, **kwargs: object) -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), timeout=30.0) as c:
        return c.get(f"http://authsvc{url}", **kwargs)  # type: ignore[arg-type]


def start_on_socket(work: Path, name: str, sock: Path, argv: list[str],
                    env: dict[str, str] | None = None) -> Process:
    return start_process(name, python_argv("-m", "authsvc", *argv), port=0, log_dir=work, cwd=REPO,
                         env=env, ready=uds_ready(sock))


def stale_socket(path: Path) -> None:
    """What a killed process leaves: a socket file nobody listens on."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()
    assert stat.S_ISSOCK(path.lstat().st_mode)


@pytest.fixture(scope="module")
def sockets_dir() -> Iterator[Path]:
    """A short directory (sun_path is 108 bytes) nginx's workers can reach; as root, setgid
    nogroup so that the socket's group is nginx's."""
    path = Path(tempfile.mkdtemp(prefix="authsvc-uds-", dir="/tmp"))
    if os.geteuid() == 0:
        os.chown(path, -1, grp.getgrnam("nogroup").gr_gid)
        path.chmod(0o2770)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Setup:
    authsvc: Process
    nginx: Process
    transport: HostMap
    sock: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, oidc_provider: OpenIDProvider, echo: EchoUpstream,
          sockets_dir: Path) -> Iterator[Setup]:
    work: Path = tmp_path_factory.mktemp("unix-nginx")
    sock = sockets_dir / "authsvc.sock"
    stale_socket(sock)  # a previous run's: replaced
    cfg = work / "oauth2-proxy.cfg"
    cfg.write_text(cfg_text(oidc_provider, f"unix://{sock},mode=0660"))
    authsvc = start_on_socket(work, "authsvc", sock, [f"--config={cfg}"])
    nginx_port = free_port()
    block = docs_server_block(f"{HOST}:{nginx_port}", f"unix:{sock}", f"{HOST}:{echo.port}")
    main = nginx_main(block)
    if os.geteuid() == 0:  # said outright: the workers are not root, the socket's group admits them
        main = "user nobody nogroup;\n" + main
    nginx = start_nginx(work / "nginx", main, nginx_port)
    try:
        yield Setup(authsvc, nginx, HostMap({INGRESS_HOST: nginx_port}), sock)
    finally:
        nginx.stop()
        authsvc.stop()


def test_socket_file_has_the_mode_asked_for(setup: Setup) -> None:
    info = setup.sock.lstat()
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o660
    assert info.st_gid == setup.sock.parent.stat().st_gid  # the directory's group: nginx's


def test_no_session_through_nginx_is_sent_to_sign_in(setup: Setup) -> None:
    with contract.new_client(setup.transport) as client:
        page = client.get(f"{BASE}/app/page", headers={"Accept": BROWSER_ACCEPT})
        api = client.get(f"{BASE}/app/api", headers={"Accept": "application/json"})
    # the docs' error_page 401 -> /oauth2/sign_in: the check itself answered 401 over the socket
    assert page.status_code == 302 and "/oauth2/sign_in?rd=" in page.headers["location"]
    assert api.status_code == 302
    assert over_socket(setup.sock, "/oauth2/auth").status_code == 401


def test_signed_in_through_nginx_gets_identity_headers(setup: Setup) -> None:
    with contract.new_client(setup.transport) as client:
        walk = browse(client, f"{BASE}/app/page?x=1", login="alice@example.com")
        # back at the page: rd came from nginx's X-Auth-Request-Redirect, which is believed
        # only from a trusted peer, here the unix-socket one (check/forwarded.py)
        assert str(walk.final.url) == f"{BASE}/app/page?x=1", walk.hops
        seen = contract.echoed(walk.final)
        assert seen.get("X-User") == "alice@example.com"
        assert seen.get("X-Email") == "alice@example.com"
        # the check's own answer, straight over the socket, with that session
        cookie = client.cookies.get("_oauth2_proxy")
    answer = over_socket(setup.sock, "/oauth2/auth", headers={"Cookie": f"_oauth2_proxy={cookie}"})
    assert answer.status_code == 202
    assert answer.headers["x-auth-request-email"] == "alice@example.com"
    assert "Traceback" not in setup.authsvc.log(1_000_000)  # a peer without an address is logged fine


def test_env_form_restart_after_kill_replaces_the_stale_socket(
    tmp_path: Path, oidc_provider: OpenIDProvider, sockets_dir: Path
) -> None:
    sock = sockets_dir / "env.sock"
    cfg = tmp_path / "oauth2-proxy.cfg"
    cfg.write_text(cfg_text(oidc_provider, None))
    metrics = sockets_dir / "metrics.sock"
    env = {"OAUTH2_PROXY_HTTP_ADDRESS": f"unix://{sock},mode=0600", "AUTHSVC_WORKERS": "2",
           "OAUTH2_PROXY_METRICS_ADDRESS": f"unix://{metrics},mode=0600"}
    first = start_on_socket(tmp_path, "first", sock, [f"--config={cfg}"], env)
    try:
        assert stat.S_IMODE(sock.lstat().st_mode) == 0o600
        assert over_socket(sock, "/oauth2/auth").status_code == 401
        assert "(2 workers)" in first.log(1_000_000)
        # /metrics on its own socket, summing both workers; not on the main one
        assert stat.S_IMODE(metrics.lstat().st_mode) == 0o600
        scraped = over_socket(metrics, "/metrics")
        assert scraped.status_code == 200
        assert 'authsvc_requests_total{endpoint="auth",outcome="unauthenticated"}' in scraped.text
        assert "authsvc_requests_total" not in over_socket(sock, "/metrics").text
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first.popen.pid, signal.SIGKILL)  # no clean-up: the file stays behind
        first.stop()
    assert stat.S_ISSOCK(sock.lstat().st_mode)
    second = start_on_socket(tmp_path, "second", sock, [f"--config={cfg}"], env)
    try:
        assert over_socket(sock, "/ping").text == "OK"
        # a second authsvc on a live socket is refused, not let to steal it
        third = subprocess.run(python_argv("-m", "authsvc", f"--config={cfg}"), env={**os.environ, **env},
                               cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
        assert third.returncode == 2, third.stderr
        assert f"another process is listening on {sock}" in third.stderr
        assert "Traceback" not in third.stderr
    finally:
        second.stop()
    assert not sock.exists()  # a clean stop removes its socket file


def test_a_file_that_is_not_a_socket_is_refused(tmp_path: Path, oidc_provider: OpenIDProvider) -> None:
    target = tmp_path / "not-a-socket"
    target.write_text("precious")
    cfg = tmp_path / "oauth2-proxy.cfg"
    cfg.write_text(cfg_text(oidc_provider, f"unix://{target}"))
    for argv in (["--config-test"], []):  # check-config, then serve
        run = subprocess.run(python_argv("-m", "authsvc", f"--config={cfg}", *argv), cwd=REPO,
                             capture_output=True, text=True, timeout=60, check=False)
        assert run.returncode == 2, run.stderr
        assert f"invalid option http_address: {target} exists and is not a socket" in run.stderr
        assert "Traceback" not in run.stderr
    assert target.read_text() == "precious"


def _activated(tmp_path: Path, op: OpenIDProvider, listen: str, name: str, *more_env: str) -> Process:
    """authsvc as systemd starts it: systemd-socket-activate binds `listen`, and at the first
    connection execs authsvc with the socket as fd 3 (LISTEN_FDS=1, LISTEN_PID)."""
    binary = require_tool("systemd-socket-activate")
    cfg = tmp_path / f"{name}.cfg"
    cfg.write_text(cfg_text(op, None))
    env = [f"-E{k}={os.environ[k]}" for k in ("PYTHONPATH", "HOME", "PATH") if k in os.environ]
    env += [f"-E{item}" for item in more_env]
    argv = [binary, f"--listen={listen}", *env, *python_argv("-m", "authsvc", f"--config={cfg}",
                                                            "--http-address=FD:3")]
    return start_process(name, argv, port=0, log_dir=tmp_path, cwd=REPO,
                         ready=lambda p: "Listening on" in p.log())


def test_fd_3_from_systemd_socket_activation_unix(tmp_path: Path, oidc_provider: OpenIDProvider,
                                                  sockets_dir: Path) -> None:
    sock = sockets_dir / "activated.sock"
    proc = _activated(tmp_path, oidc_provider, str(sock), "activated")
    try:
        # this first connection starts authsvc, which then accepts it on the passed socket
        assert over_socket(sock, "/ping").text == "OK"
        assert over_socket(sock, "/oauth2/auth").status_code == 401
        assert "inherited socket fd:3" in proc.log(1_000_000)
    finally:
        proc.stop()


def test_fd_3_from_systemd_socket_activation_tcp_two_workers(tmp_path: Path,
                                                             oidc_provider: OpenIDProvider) -> None:
    port = free_port()
    proc = _activated(tmp_path, oidc_provider, f"{HOST}:{port}", "activated-tcp", "AUTHSVC_WORKERS=2")
    try:
        response = httpx.get(f"http://{HOST}:{port}/oauth2/auth", timeout=30)
        assert response.status_code == 401
        assert "starting on inherited socket fd:3 (2 workers)" in proc.log(1_000_000)
    finally:
        proc.stop()


def test_fd_without_systemd_is_refused(tmp_path: Path, oidc_provider: OpenIDProvider) -> None:
    cfg = tmp_path / "oauth2-proxy.cfg"
    cfg.write_text(cfg_text(oidc_provider, "fd:3"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    run = subprocess.run(python_argv("-m", "authsvc", f"--config={cfg}"), cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2, run.stderr
    assert "fd:3 needs a socket passed by systemd" in run.stderr and "Traceback" not in run.stderr


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no ::1")
def test_ipv6_loopback_in_brackets(tmp_path: Path, oidc_provider: OpenIDProvider) -> None:
    port = free_port()
    cfg = tmp_path / "oauth2-proxy.cfg"
    cfg.write_text(cfg_text(oidc_provider, f"http://[::1]:{port}"))

    def ready(_: Process) -> bool:
        try:
            return httpx.get(f"http://[::1]:{port}/ping", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    proc = start_process("authsvc-v6", python_argv("-m", "authsvc", f"--config={cfg}"), port=port,
                         log_dir=tmp_path, cwd=REPO, ready=ready, env={"AUTHSVC_WORKERS": "2"})
    try:
        assert httpx.get(f"http://[::1]:{port}/oauth2/auth", timeout=10).status_code == 401
        assert f"starting on http://[::1]:{port} (2 workers)" in proc.log(1_000_000)
    finally:
        proc.stop()
