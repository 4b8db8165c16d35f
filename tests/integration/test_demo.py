"""`authsvc demo`, the README's first command, run as a real process and signed in through."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
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
    assert f"open  http://127.0.0.1:{demo.port}/ " in log


def test_demo_home_page_shows_who_you_are_and_a_curl_line_that_works(demo: Process) -> None:
    with httpx.Client(base_url=demo.url) as client:
        anonymous = client.get("/")
        assert anonymous.status_code == 200 and "Not signed in" in anonymous.text
        assert f"curl -i {demo.url}/oauth2/auth" in anonymous.text
        # the page's sign-in button: /oauth2/sign_in?rd=/ -> ... -> back on /
        assert 'href="/oauth2/sign_in?rd=%2F"' in anonymous.text
        start = client.get("/oauth2/start", params={"rd": "/"})
        params = dict(parse_qsl(urlsplit(start.headers["location"]).query))
        signed = client.post(start.headers["location"].split("?")[0],
                             data={**params, "email": "ada@example.com", "groups": "admins"})
        callback = client.get(signed.headers["location"])
        assert callback.headers["location"] == "/"
        home = client.get("/")
        assert home.status_code == 200 and "ada@example.com" in home.text and "admins" in home.text
        line = re.search(r"curl -i -H &#39;Cookie: ([^&]+)&#39; (\S+)</code>", home.text)
        assert line, home.text
        cookie, url = line.groups()
        checked = httpx.get(url, headers={"Cookie": cookie})  # the line, as a reader would run it
        assert checked.status_code == 202 and checked.headers["x-auth-request-email"] == "ada@example.com"
        out = client.get("/oauth2/sign_out", params={"rd": "/"})
        assert out.headers["location"] == "/"
        assert "Not signed in" in client.get("/").text


def test_demo_on_a_busy_port_says_so_in_one_line(demo: Process, tmp_path: Path) -> None:
    run = subprocess.run(python_argv("-m", "authsvc", "demo", "--port", str(demo.port)),
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2
    assert f"cannot listen on 127.0.0.1:{demo.port}" in run.stderr and "Traceback" not in run.stderr
    assert "Try it" not in run.stdout  # nothing printed as if it were running


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
