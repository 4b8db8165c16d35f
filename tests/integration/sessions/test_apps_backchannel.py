"""Back-channel logout with two apps on one Redis, each with its own real IdP: both IdPs post to
the one authsvc address (a host no app serves), the logout token's issuer and audience select
the app, and only that app's sessions end (docs/apps.md)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.conftest import SECRET_A
from tests.support.components import OpenIDProvider, start_authsvc, start_oidc_provider
from tests.support.login import BROWSER_ACCEPT, HostMap, browse
from tests.support.processes import HOST, Process, free_port
from tests.support.redis_servers import RedisServer

pytestmark = pytest.mark.integration

_FORM = re.compile(r'<form[^>]*id="op.logoutForm"[^>]*action="([^"]+)"', re.IGNORECASE)
_XSRF = re.compile(r'name="xsrf" value="([^"]+)"')


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
        issuer = ops["a"].issuer
        page = browser.get(f"{issuer}/session/end", headers={"Accept": BROWSER_ACCEPT})
        form, xsrf = _FORM.search(page.text), _XSRF.search(page.text)
        assert form and xsrf, page.text[:500]
        done = browser.post(urljoin(f"{issuer}/session/end", form.group(1)),
                            data={"xsrf": xsrf.group(1), "logout": "yes"})  # fmt: skip
        assert done.status_code in (200, 302, 303), done.text[:500]
        # the IdP's back-channel call lands just after its answer: wait for its effect, bounded
        deadline = time.monotonic() + 10
        while (status := auth(browser, "a")) != 401:
            assert status == 202
            assert time.monotonic() < deadline, f"still signed in at a:\n{authsvc.log()}"
            time.sleep(0.1)
        assert auth(other, "b") == 202  # app b's session of the same user is untouched
    assert "back-channel logout: sid=" in authsvc.log()
