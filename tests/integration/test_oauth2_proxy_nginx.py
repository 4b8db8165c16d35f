"""A drop-in for oauth2-proxy behind nginx: its documented auth_request config, an oauth2-proxy cfg.

nginx runs the `auth_request` server block of oauth2-proxy's docs
(tests/fixtures/oauth2-proxy/docs/nginx-auth-request.conf) with only its addresses changed: the
listen line (plain http on a free port, so no `include ssl/ssl.conf`) and the two proxy_pass
targets. authsvc is started the way the container starts it, with oauth2-proxy's flags only
(`--config=<file>.cfg`, no command), and that cfg is all its configuration. The browser is
httpx through a client-side host map, so the app is http://app.example.com on port 80 as the
docs' `$host` redirects expect. The IdP is the real node oidc-provider.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import httpx
import pytest

from tests.integration.conftest import INGRESS_HOST
from tests.support import contract
from tests.support.components import REPO, OpenIDProvider, nginx_main, start_nginx
from tests.support.echo import Echoed, EchoUpstream
from tests.support.login import BROWSER_ACCEPT, HostMap, browse
from tests.support.processes import (
    HOST,
    Process,
    free_port,
    http_ready,
    python_argv,
    start_process,
    wait_until,
)
from tests.support.tools import require_tool

pytestmark = pytest.mark.integration

DOCS_CONF = REPO / "tests" / "fixtures" / "oauth2-proxy" / "docs" / "nginx-auth-request.conf"
BASE = f"http://{INGRESS_HOST}"
SECRET = base64.urlsafe_b64encode(b"o" * 32).decode()


def docs_server_block(listen: str, authsvc: str, backend: str) -> str:
    """The docs' server block, addresses changed; everything else as published."""
    text = DOCS_CONF.read_text()
    replaced = (
        text.replace("listen 443 ssl;", f"listen {listen};")
        .replace("  include ssl/ssl.conf;\n", "")
        .replace("http://127.0.0.1:4180;", f"http://{authsvc};")
        .replace("proxy_pass http://backend/;", f"proxy_pass http://{backend}/;")
    )
    assert replaced.count(authsvc) == 2 and backend in replaced and "ssl" not in replaced.split("\n")[1]
    return replaced


def oauth2_proxy_cfg(op: OpenIDProvider, port: int, htpasswd: Path) -> str:
    """What an oauth2-proxy user has for this setup (and nothing authsvc-specific)."""
    return f"""\
htpasswd_file = "{htpasswd}"
htpasswd_user_groups = ["machines"]
http_address = "127.0.0.1:{port}"
provider = "oidc"
provider_display_name = "Test OP"
oidc_issuer_url = "{op.issuer}"
client_id = "{op.web_client_id}"
client_secret = "{op.client_secret}"
cookie_secret = "{SECRET}"
cookie_secure = "false"
cookie_refresh = "1s"
email_domains = ["example.com"]
whitelist_domains = ["{INGRESS_HOST}"]
upstreams = ["static://202"]
reverse_proxy = true
set_xauthrequest = true
pass_access_token = true
skip_provider_button = true
"""


@dataclass
class Setup:
    authsvc: Process
    nginx: Process
    transport: HostMap


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, oidc_provider: OpenIDProvider,
          echo: EchoUpstream) -> Iterator[Setup]:
    work: Path = tmp_path_factory.mktemp("o2p-nginx")
    port = free_port()
    cfg = work / "oauth2-proxy.cfg"
    htpasswd = work / "htpasswd"
    htpasswd.write_text(f"robot:{bcrypt.hashpw(b'r0b0t-pass', bcrypt.gensalt(rounds=4)).decode()}\n")
    cfg.write_text(oauth2_proxy_cfg(oidc_provider, port, htpasswd))
    authsvc = start_process("authsvc", python_argv("-m", "authsvc", f"--config={cfg}"), port=port,
                            log_dir=work, cwd=REPO, ready=http_ready("/ping"))
    nginx_port = free_port()
    block = docs_server_block(f"{HOST}:{nginx_port}", f"{HOST}:{port}", f"{HOST}:{echo.port}")
    nginx = start_nginx(work / "nginx", nginx_main(block), nginx_port)
    try:
        yield Setup(authsvc, nginx, HostMap({INGRESS_HOST: nginx_port}))
    finally:
        nginx.stop()
        authsvc.stop()


def test_sign_in_identity_headers_and_access_token(setup: Setup) -> None:
    with contract.new_client(setup.transport) as client:
        walk = browse(client, f"{BASE}/app/page?x=1", login="alice@example.com")
        # nginx's error_page 401 -> /oauth2/sign_in -> (skip_provider_button) /oauth2/start -> IdP
        # (nginx makes the docs' relative Location absolute with its own listen port)
        assert any(f"/oauth2/sign_in?rd=http://{INGRESS_HOST}/app/page" in url for _, url in walk.hops)
        assert str(walk.final.url) == f"{BASE}/app/page?x=1", walk.hops
        seen = contract.echoed(walk.final)
        assert seen.get("X-User") == "alice@example.com"
        assert seen.get("X-Email") == "alice@example.com"
        assert seen.get("X-Access-Token")
        # the cookie name such configs (and nginx split-cookie recipes) expect
        assert client.cookies.get("_oauth2_proxy")
        assert not any(c.name.startswith("_authsvc") for c in client.cookies.jar)


def test_refresh_and_sign_out(setup: Setup) -> None:
    with contract.new_client(setup.transport) as client:
        walk = browse(client, f"{BASE}/app/start", login="alice@example.com")
        assert walk.final.status_code == 200, walk.hops
        first = contract.echoed(walk.final).get("X-Access-Token")
        refreshed: list[httpx.Response] = []

        def refreshed_once() -> bool:
            r = client.get(f"{BASE}/app/poll")
            assert r.status_code == 200, r.status_code
            if any(c.startswith("_oauth2_proxy=") for c in r.headers.get_list("set-cookie")):
                refreshed.append(r)
            return bool(refreshed)

        # the session ages past cookie_refresh (1s): poll, bounded
        wait_until(refreshed_once, timeout=20, what="a refreshed _oauth2_proxy cookie", interval=0.25)
        after = contract.echoed(client.get(f"{BASE}/app/after-refresh"))
        assert after.get("X-Email") == "alice@example.com"
        assert after.get("X-Access-Token") not in (None, "", first)  # the refreshed token

        out = client.get(f"{BASE}/oauth2/sign_out?rd=%2Fapp%2Fbye")
        assert out.status_code == 302 and out.headers["location"] in ("/app/bye", f"{BASE}/app/bye")
        assert any(c.startswith("_oauth2_proxy=;") or "Max-Age=0" in c
                   for c in out.headers.get_list("set-cookie"))
        again = client.get(f"{BASE}/app/bye", headers={"Accept": BROWSER_ACCEPT})
        assert again.status_code == 302 and "/oauth2/sign_in?rd=" in again.headers["location"]


def test_api_call_without_session_gets_401_and_the_start_up_line_names_sources(setup: Setup) -> None:
    with contract.new_client(setup.transport) as client:
        r = client.get(f"{BASE}/app/api", headers={"Accept": "application/json",
                                                   "X-Requested-With": "XMLHttpRequest"})
    assert r.status_code == 302  # the docs' error_page sends every 401 to sign_in
    log = setup.authsvc.log(1_000_000)
    assert "settings from file" in log and "oauth2-proxy default" in log
    assert SECRET not in log and "authsvc-test-client-secret" not in log


def test_htpasswd_user_with_curl_u(setup: Setup) -> None:
    """An htpasswd user through real nginx: `curl -u`, its Authorization reaches the check."""
    port = setup.transport.mapping[INGRESS_HOST]
    binary = require_tool("curl")

    def curl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, "-sS", "--connect-to", f"{INGRESS_HOST}:80:{HOST}:{port}", "-o", "-",
             "-w", "\n%{http_code}", *args, f"{BASE}/app/machine"],
            capture_output=True, text=True, timeout=30, check=True)

    ok = curl("-u", "robot:r0b0t-pass", "-H", "Accept: application/json")
    body, status = ok.stdout.rsplit("\n", 1)
    assert status == "200", ok.stdout
    seen = Echoed.parse(json.loads(body))
    assert seen.get("X-User") == "robot" and not seen.get("X-Email")
    bad = curl("-u", "robot:wrong", "-H", "Accept: application/json")
    assert bad.stdout.rsplit("\n", 1)[1] == "302"  # the docs' error_page: every 401 to sign_in
