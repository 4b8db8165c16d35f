"""nginx's decision cache (examples/nginx/nginx-cache.conf) revoked by authsvc's PURGE by key on
sign-out and on back-channel logout: real nginx with ngx_cache_purge and set-misc, a real authsvc
on Redis and the node OP (which sends the back-channel logout itself)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import authsvc_settings
from tests.support import contract
from tests.support.components import (
    EXAMPLES,
    OpenIDProvider,
    render_file,
    start_authsvc,
    start_nginx,
    start_oidc_provider,
    start_redis,
)
from tests.support.echo import EchoUpstream
from tests.support.login import idp_logout
from tests.support.processes import HOST, Process, free_port
from tests.support.proxy_contract import Stack, tapped
from tests.support.tap import Tap
from tests.support.tools import require_tool

pytestmark = pytest.mark.integration

EXAMPLE = EXAMPLES / "nginx" / "nginx-cache.conf"
JSON = {"Accept": "application/json"}
#: authsvc's nginx_cache_key_secret and the {{CACHE_KEY_SECRET}} of the example: the same string
KEY_SECRET = "dGVzdC1rZXktb2YtdGhlLW5naW54LWRlY2lzaW9uLWNhY2hl"


def with_admins_location(conf: str) -> str:
    """README's per-audience recipe on the example: the auth location's block copied whole
    (cache lines too) as /oauth2/auth-admins with `?allowed_groups=admins`, guarding /admins/."""
    start = conf.index("        location = /oauth2/auth {")
    end = conf.index("\n        }\n", start) + len("\n        }\n")
    block = conf[start:end].replace("location = /oauth2/auth {", "location = /oauth2/auth-admins {")
    block = block.replace("proxy_pass http://authsvc;",
                          "proxy_pass http://authsvc/oauth2/auth?allowed_groups=admins;")
    assert "allowed_groups=admins" in block
    guarded = ("        location /admins/ {\n            auth_request /oauth2/auth-admins;\n"
               "            error_page 401 = @signin;\n            proxy_pass http://app;\n        }\n")
    return conf[:end] + block + guarded + conf[end:]


@dataclass
class CacheStack:
    """The stack, its OP and authsvc (for its log); `nginx(tap, secret)` starts another nginx
    from the example in front of `tap`."""

    stack: Stack
    op: OpenIDProvider
    authsvc: Process
    nginx: Callable[[Tap, str], Process]

    @property
    def base(self) -> str:
        return self.stack.base

    @property
    def tap(self) -> Tap:
        return self.stack.tap


@pytest.fixture(scope="module")
def cached(tmp_path_factory: pytest.TempPathFactory, echo: EchoUpstream) -> Iterator[CacheStack]:
    require_tool("cache-purge")
    port, purge_port = free_port(), free_port()
    # As root, nginx's workers run as `nobody` and open the cache files themselves (unlike the
    # in-memory buffers of nginx.conf), so nginx's directory is not under pytest's base
    # directory: every pytest session that starts, another suite's on the same machine too,
    # sets that back to 0700, and a purge or a cache read then fails half-way through a run.
    workdirs: list[Path] = []

    def nginx(tap: Tap, secret: str = KEY_SECRET, port: int = port, purge_port: int = purge_port) -> Process:
        conf = render_file(EXAMPLE, {
            "LISTEN": f"{HOST}:{port}", "AUTHSVC": f"{HOST}:{tap.port}",
            "UPSTREAM": f"{HOST}:{echo.port}", "PURGE": f"{HOST}:{purge_port}",
            "CACHE_KEY_SECRET": secret,
        })  # fmt: skip
        conf = with_admins_location(conf)
        workdir = Path(tempfile.mkdtemp(prefix="authsvc-nginx-cache-"))
        workdirs.append(workdir)
        workdir.chmod(0o711)  # see below
        return start_nginx(workdir, conf, port)

    def another(tap: Tap, secret: str) -> Process:
        return nginx(tap, secret, free_port(), free_port())

    # the IdP reaches authsvc's back-channel endpoint through nginx, as in production
    backchannel = f"http://{HOST}:{port}/oauth2/backchannel_logout"
    op = start_oidc_provider(tmp_path_factory.mktemp("op"), backchannel_logout_uri=backchannel)
    # the Redis store: its sign-out deletes the session (a sealed cookie would stay valid)
    redis = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        authsvc = start_authsvc(tmp_path_factory.mktemp("authsvc"), authsvc_settings(
            op, proxy_kind="nginx", session_store_type="redis",
            redis_connection_url=f"redis://{HOST}:{redis.port}", skip_auth_routes=["^/public"],
            nginx_cache_purge_url=[f"http://{HOST}:{purge_port}/purge?location=/oauth2/auth"],
            nginx_cache_key_secret=KEY_SECRET,
        ))  # fmt: skip
        try:
            with tapped(authsvc.port, nginx) as stack:
                yield CacheStack(stack, op, authsvc, another)
        finally:
            authsvc.stop()
    finally:
        redis.stop()
        op.stop()
        for workdir in workdirs:
            shutil.rmtree(workdir, ignore_errors=True)


def _served_from_the_cache(cached: CacheStack, client: httpx.Client) -> str:
    """Sign-in done: the session's checks now come from nginx's cache; its cookie value."""
    assert client.get(cached.base + "/app/one", headers=JSON).status_code == 200
    cached.tap.clear()
    for _ in range(3):  # served from nginx's cache: authsvc is not asked
        assert client.get(cached.base + "/app/two", headers=JSON).status_code == 200
    assert cached.tap.auth_requests() == []
    return client.cookies["_authsvc"]


def test_a_signed_out_session_is_refused_on_its_very_next_request(cached: CacheStack) -> None:
    with contract.signed_in(cached.base, "alice@example.com") as client:
        value = _served_from_the_cache(cached, client)
        signed_out = client.get(cached.base + "/oauth2/sign_out?rd=/public", headers=JSON)
        assert signed_out.status_code == 302, signed_out.text
    # the same cookie, replayed at once, while the 30 s cache is on
    r = httpx.get(cached.base + "/app/two", headers={**JSON, "Cookie": f"_authsvc={value}"})
    assert r.status_code == 401
    assert [c.path for c in cached.tap.auth_requests()] != []


def test_a_back_channel_logout_is_refused_on_its_very_next_request(cached: CacheStack) -> None:
    """The IdP names only a sid: authsvc purges by the cache key it recorded with the session."""
    with contract.signed_in(cached.base, "nogroups@example.com") as client:
        value = _served_from_the_cache(cached, client)
        idp_logout(client, cached.op.issuer)  # answers once its back-channel POST was answered
    assert [r.method for r in cached.tap.auth_requests("/oauth2/backchannel_logout")] == ["POST"]
    assert "1 session(s) ended, 1 cached decision(s) purged" in cached.authsvc.log()
    r = httpx.get(cached.base + "/app/two", headers={**JSON, "Cookie": f"_authsvc={value}"})
    assert r.status_code == 401
    assert value not in cached.authsvc.log()


def test_without_a_session_cookie_nothing_is_cached(cached: CacheStack) -> None:
    """No cookie: every check reaches authsvc (a 401 is never cached, nor a public 202)."""
    cached.tap.clear()
    for _ in range(2):
        assert httpx.get(cached.base + "/app/x", headers=JSON).status_code == 401
    assert len(cached.tap.auth_requests()) == 2


def test_a_public_202_is_not_cached_for_a_made_up_cookie(cached: CacheStack) -> None:
    """The key is the cookie's alone: a cached public 202 would open every URI to that cookie."""
    made_up = {**JSON, "Cookie": "_authsvc=made-up"}
    assert httpx.get(cached.base + "/public/page", headers=made_up).status_code == 200
    assert httpx.get(cached.base + "/app/x", headers=made_up).status_code == 401


def test_an_nginx_with_another_secret_caches_nothing(cached: CacheStack) -> None:
    """Its keys are not the ones authsvc purges: authsvc answers Cache-Control: no-store, so the
    wrong secret costs the cache (every check reaches authsvc), never a revocation."""
    wrong = cached.nginx(cached.tap, "c29tZS1vdGhlci1zZWNyZXQtdGhhbi1hdXRoc3ZjJ3M")
    try:
        with contract.signed_in(cached.base, "alice@example.com") as client:
            value = client.cookies["_authsvc"]
        cached.tap.clear()
        for _ in range(3):
            r = httpx.get(f"{wrong.url}/app/two", headers={**JSON, "Cookie": f"_authsvc={value}"})
            assert r.status_code == 200
        assert len(cached.tap.auth_requests()) == 3
    finally:
        wrong.stop()
    assert "nginx's cache key is not authsvc's" in cached.authsvc.log()


def test_a_cached_2xx_of_one_auth_location_never_answers_another(cached: CacheStack) -> None:
    """The per-audience location copied from the example shares the zone: keyed by the cookie
    alone, nginx answered /admins/ from the 2xx /app/ had cached for a user outside admins."""
    with contract.signed_in(cached.base, "nogroups@example.com") as client:
        _served_from_the_cache(cached, client)
        r = client.get(cached.base + "/admins/x", headers=JSON)
        assert r.status_code == 403
        assert [c.path for c in cached.tap.auth_requests()] != []
