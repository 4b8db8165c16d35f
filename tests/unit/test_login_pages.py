"""Each way a sign-in can fail reaches its own page: status, code, words, actions, request id;
and the access line records the status the browser got."""

from __future__ import annotations

import io

import pytest

from authsvc.app import create_app
from tests.conftest import make_settings
from tests.support.app_driver import asgi_client
from tests.support.login import BROWSER_ACCEPT
from tests.support.processes import free_port
from tests.unit.test_logs import captured, lines  # noqa: F401 (a fixture)

pytestmark = pytest.mark.anyio
PAGE = {"Accept": BROWSER_ACCEPT}


async def test_idp_unreachable_at_start_is_logged_with_the_status_sent(captured: io.StringIO) -> None:  # noqa: F811
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app = create_app(make_settings(oidc_issuer_url=dead))
    async with asgi_client(app) as client:
        answer = await client.get("/oauth2/start", params={"rd": "/app"}, headers=PAGE)
    assert answer.status_code == 502
    (access,) = [r for r in lines(captured) if r["event"] == "request"]
    assert (access["endpoint"], access["status"], access["outcome"]) == ("start", 502, "error")
