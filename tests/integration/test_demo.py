"""`authsvc demo`, the README's first command, run as a real process and signed in through."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.support.processes import Process, free_port, http_ready, python_argv, start_process

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    port = free_port()
    proc = start_process(
        "authsvc-demo", python_argv("-m", "authsvc", "demo", "--port", str(port)),
        port=port, log_dir=tmp_path_factory.mktemp("demo"), ready=http_ready("/ping"),
    )
    yield proc
    proc.stop()


def test_demo_signs_in_anyone_and_answers_auth(demo: Process) -> None:
    with httpx.Client(base_url=demo.url) as client:
        assert client.get("/oauth2/auth").status_code == 401
        start = client.get("/oauth2/start", params={"rd": "/oauth2/userinfo?x=1&y=%25"})
        assert start.status_code == 302
        form = client.get(start.headers["location"])
        assert "DEVELOPMENT IDENTITY PROVIDER" in form.text
        params = dict(parse_qsl(urlsplit(start.headers["location"]).query))
        signed = client.post(
            start.headers["location"].split("?")[0],
            data={**params, "email": "ada@example.com", "groups": "admins, devs"},
        )
        callback = client.get(signed.headers["location"])
        assert callback.status_code == 302
        assert callback.headers["location"] == "/oauth2/userinfo?x=1&y=%25"
        ok = client.get("/oauth2/auth")
        assert ok.status_code == 202
        assert ok.headers["x-auth-request-email"] == "ada@example.com"
        assert ok.headers["x-auth-request-groups"] == "admins,devs"
        assert client.get("/oauth2/userinfo").json()["email"] == "ada@example.com"
        assert client.get("/ready").status_code == 200
        client.get("/oauth2/sign_out")
        assert client.get("/oauth2/auth").status_code == 401


def test_demo_prints_what_to_try(demo: Process) -> None:
    log = demo.log()
    assert "DEVELOPMENT IDENTITY PROVIDER" in log
    assert f"http://127.0.0.1:{demo.port}/oauth2/start" in log


def test_demo_idp_refuses_requests_without_pkce(demo: Process) -> None:
    response = httpx.get(f"{demo.url}/_demo/idp/authorize", params={
        "client_id": "authsvc-demo", "response_type": "code", "redirect_uri": "http://x/cb"})
    assert response.status_code == 400
    assert "PKCE" in response.text


@pytest.mark.parametrize("signed_in", [False, True])
def test_websocket_upgrade_check_is_answered_as_http(demo: Process, signed_in: bool) -> None:
    """Caddy and Envoy pass the client's Upgrade headers on to the check request."""
    upgrade = {"connection": "Upgrade", "upgrade": "websocket", "sec-websocket-version": "13",
               "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ=="}
    with httpx.Client(base_url=demo.url) as client:
        if signed_in:
            _sign_in(client)
        response = client.get("/oauth2/auth", headers=upgrade)
        assert response.status_code == (202 if signed_in else 401)


def _sign_in(client: httpx.Client) -> None:
    start = client.get("/oauth2/start")
    params = dict(parse_qsl(urlsplit(start.headers["location"]).query))
    signed = client.post(start.headers["location"].split("?")[0],
                         data={**params, "email": "ws@example.com"})
    assert client.get(signed.headers["location"]).status_code == 302
