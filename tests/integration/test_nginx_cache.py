"""nginx's decision cache (examples/nginx/nginx-cache.conf) revoked by authsvc's PURGE on sign-out:
real nginx with ngx_cache_purge, a real authsvc and the node OP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import AuthsvcFactory
from tests.support import contract
from tests.support.components import EXAMPLES, render_file, start_nginx, start_redis
from tests.support.echo import EchoUpstream
from tests.support.processes import HOST, Process, free_port
from tests.support.proxy_contract import Stack, tapped
from tests.support.tap import Tap
from tests.support.tools import require_tool

pytestmark = pytest.mark.integration

EXAMPLE = EXAMPLES / "nginx" / "nginx-cache.conf"
JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    start_authsvc_for: AuthsvcFactory,
    echo: EchoUpstream,
) -> Iterator[Stack]:
    purge_port = free_port()

    require_tool("cache-purge")

    def nginx(tap: Tap) -> Process:
        port = free_port()
        conf = render_file(EXAMPLE, {
            "LISTEN": f"{HOST}:{port}", "AUTHSVC": f"{HOST}:{tap.port}",
            "UPSTREAM": f"{HOST}:{echo.port}", "PURGE": f"{HOST}:{purge_port}",
        })  # fmt: skip
        workdir = tmp_path_factory.mktemp("nginx-cache")
        _reachable_by_workers(workdir)
        return start_nginx(workdir, conf, port)

    # the Redis store: its sign-out deletes the session (a sealed cookie would stay valid)
    redis = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        authsvc = start_authsvc_for(
            proxy_kind="nginx", session_store_type="redis",
            redis_connection_url=f"redis://{HOST}:{redis.port}",
            nginx_cache_purge_url=[f"http://{HOST}:{purge_port}/purge"],
        )  # fmt: skip
        with tapped(authsvc.port, nginx) as stack:
            yield stack
    finally:
        redis.stop()


def _reachable_by_workers(workdir: Path) -> None:
    """As root, nginx's workers run as `nobody` and open cache files themselves (unlike the
    in-memory buffers of nginx.conf): pytest's 0700 base directory must let them through."""
    if os.geteuid() != 0:
        return
    for path in (workdir, *workdir.parents):
        if path == Path("/tmp"):
            break
        path.chmod(0o755)


def test_a_signed_out_session_is_refused_on_its_very_next_request(stack: Stack) -> None:
    with contract.signed_in(stack.base, "alice@example.com") as client:
        value = client.cookies["_authsvc"]
        assert client.get(stack.base + "/app/one", headers=JSON).status_code == 200
        stack.tap.clear()
        for _ in range(3):  # served from nginx's cache: authsvc is not asked
            assert client.get(stack.base + "/app/two", headers=JSON).status_code == 200
        assert stack.tap.auth_requests() == []
        signed_out = client.get(stack.base + "/oauth2/sign_out?rd=/public", headers=JSON)
        assert signed_out.status_code == 302, signed_out.text
    # the same cookie, replayed at once, while the 30 s cache is on
    r = httpx.get(stack.base + "/app/two", headers={**JSON, "Cookie": f"_authsvc={value}"})
    assert r.status_code == 401
    assert [c.path for c in stack.tap.auth_requests()] != []


def test_without_a_session_cookie_nothing_is_cached(stack: Stack) -> None:
    """No cookie: every check reaches authsvc (a 401 is never cached, nor a public 202)."""
    stack.tap.clear()
    for _ in range(2):
        assert httpx.get(stack.base + "/app/x", headers=JSON).status_code == 401
    assert len(stack.tap.auth_requests()) == 2
