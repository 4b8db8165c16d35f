"""Back-Channel Logout from a real OpenID provider (npm oidc-provider) to a real authsvc on Redis.

The user signs in through authsvc, then signs out at the IdP itself (as from another app). The
IdP POSTs a signed logout token to authsvc's back-channel endpoint, and the browser's next
/oauth2/auth is 401 although it still holds its cookie.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import authsvc_settings
from tests.support.components import REPO, start_oidc_provider, toml_value
from tests.support.login import browse, idp_logout
from tests.support.processes import HOST, Process, free_port, http_ready, python_argv, start_process
from tests.support.redis_servers import RedisServer

pytestmark = pytest.mark.integration



@pytest.fixture
def authsvc_and_op(tmp_path: Path, redis_standalone: RedisServer) -> Iterator[tuple[Process, str]]:
    """An OP whose client has authsvc's back-channel URI, and that authsvc on Redis."""
    port = free_port()
    op = start_oidc_provider(
        tmp_path / "op",
        backchannel_logout_uri=f"http://{HOST}:{port}/oauth2/backchannel_logout",
    )
    try:
        options = authsvc_settings(
            op, http_address=f"{HOST}:{port}", session_store_type="redis",
            redis_connection_url=redis_standalone.url, cookie_name="_bcl",
        )  # fmt: skip
        config = tmp_path / "authsvc.toml"
        config.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in options.items()))
        authsvc = start_process(
            "authsvc", python_argv("-m", "authsvc", "serve", "--config", str(config)),
            port=port, log_dir=tmp_path, cwd=REPO, ready=http_ready("/ping"),
        )  # fmt: skip
        try:
            yield authsvc, op.issuer
        finally:
            authsvc.stop()
    finally:
        op.stop()


def test_logout_at_the_real_idp_ends_the_authsvc_session(authsvc_and_op: tuple[Process, str]) -> None:
    authsvc, issuer = authsvc_and_op
    with httpx.Client(timeout=10.0) as browser:
        browse(browser, f"{authsvc.url}/oauth2/start?rd=/", login="alice@example.com")
        assert browser.cookies.get("_bcl"), "no authsvc session after the login"
        assert browser.get(f"{authsvc.url}/oauth2/auth").status_code == 202

        # sign out at the IdP (its confirmation form, then "yes"): oidc-provider awaits its
        # back-channel POSTs before it answers, so the session is gone by now
        idp_logout(browser, issuer)
        assert browser.get(f"{authsvc.url}/oauth2/auth").status_code == 401, authsvc.log()
    assert "back-channel logout: sid=" in authsvc.log()
