"""Back-channel logout with two apps on one Redis, each with its own real IdP: both IdPs post to
the one authsvc address (a host no app serves), the logout token's issuer and audience select
the app, and only that app's sessions end (docs/apps.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import SECRET_A
from tests.support.components import OpenIDProvider, start_authsvc, start_oidc_provider
from tests.support.login import HostMap, browse, idp_logout
from tests.support.processes import HOST, Process, free_port
from tests.support.redis_servers import RedisServer

pytestmark = pytest.mark.integration



@pytest.fixture
def stack(
    tmp_path: Path, redis_standalone: RedisServer
) -> Iterator[tuple[Process, dict[str, OpenIDProvider]]]:
    ops: dict[str, OpenIDProvider] = {}
    try:
        port = free_port()
        for name in ("a", "b"):
            ops[name] = start_oidc_provider(
                tmp_path / f"op-{name}", env={"CLIENT_ID": f"app-{name}"},
                web_redirect_uris=(f"http://{name}.test:{port}/oauth2/callback",),
                backchannel_logout_uri=f"http://{HOST}:{port}/oauth2/backchannel_logout",
            )
        authsvc = start_authsvc(tmp_path, {
            "provider": "oidc", "cookie_secret": [SECRET_A],
            "cookie_secure": False, "email_domains": ["example.com"], "session_store_type": "redis",
            "redis_connection_url": redis_standalone.url,
            "apps": [{"name": name, "hosts": [f"{name}.test"], "cookie_name": f"_bcl_{name}",
                      "oidc_issuer_url": op.issuer, "client_id": op.web_client_id,
                      "client_secret": op.client_secret} for name, op in ops.items()],
        }, port=port)
        try:
            yield authsvc, ops
        finally:
            authsvc.stop()
    finally:
        for op in ops.values():
            op.stop()


def test_the_logout_tokens_issuer_selects_the_app_and_ends_only_its_sessions(
    stack: tuple[Process, dict[str, OpenIDProvider]],
) -> None:
    authsvc, ops = stack
    port = authsvc.port

    def auth(client: httpx.Client, app: str) -> int:
        return client.get(f"http://{app}.test:{port}/oauth2/auth").status_code

    hosts = HostMap({"a.test": port, "b.test": port})
    # two browsers: both IdPs are on 127.0.0.1, and cookies do not keep ports apart
    with httpx.Client(transport=hosts, timeout=10) as browser, \
            httpx.Client(transport=hosts, timeout=10) as other:
        # the same user at both IdPs (the same sub): only the issuer tells the sessions apart
        for app, client in (("a", browser), ("b", other)):
            browse(client, f"http://{app}.test:{port}/oauth2/start?rd=/", login="alice@example.com")
            assert auth(client, app) == 202
        # oidc-provider awaits its back-channel POSTs before it answers the logout
        idp_logout(browser, ops["a"].issuer)
        assert auth(browser, "a") == 401, authsvc.log()
        assert auth(other, "b") == 202  # app b's session of the same user is untouched
    assert "back-channel logout: sid=" in authsvc.log()
