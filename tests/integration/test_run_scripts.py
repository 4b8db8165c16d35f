"""The example scripts users run by hand still start and answer."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from tests.support.components import EXAMPLES
from tests.support.login import BROWSER_ACCEPT
from tests.support.processes import free_port, http_ready, start_process
from tests.support.tools import require_tool

pytestmark = pytest.mark.integration


def test_nginx_run_sh_serves_the_example_against_authsvc_demo(tmp_path: Path) -> None:
    require_tool("nginx")
    require_tool("set-misc")
    listen, authsvc, app = free_port(), free_port(), free_port()
    env = {
        "LISTEN_PORT": str(listen),
        "AUTHSVC_PORT": str(authsvc),
        "APP_PORT": str(app),
        "PYTHON": sys.executable,
    }
    proc = start_process(
        "run.sh",
        ["bash", str(EXAMPLES / "nginx" / "run.sh")],
        port=listen,
        log_dir=tmp_path,
        env=env,
        ready=http_ready("/oauth2/sign_in", status=200),
        timeout=60,
    )
    try:
        base = f"http://127.0.0.1:{listen}"
        r = httpx.get(base + "/some/page?a=1&b=2", headers={"Accept": BROWSER_ACCEPT})
        assert r.status_code == 302, proc.log()
        assert r.headers["location"] == f"{base}/oauth2/start?rd=%2Fsome%2Fpage%3Fa%3D1%26b%3D2"
        assert httpx.get(base + "/api", headers={"Accept": "application/json"}).status_code == 401
        # the demo's sign-in sends the browser on to its built-in development IdP
        start = httpx.get(r.headers["location"])
        assert start.status_code == 302
        assert f"127.0.0.1:{authsvc}/_demo/idp" in start.headers["location"]
    finally:
        proc.stop()
