"""`force_https`: the login endpoints send a plain-http browser to https (308); the check and
the probes, which the proxy calls, are never redirected."""

from __future__ import annotations

import httpx
import pytest

from authsvc.context import Context
from authsvc.web.app import create_app
from tests.support.app_driver import asgi_client, fake_idp_settings
from tests.support.fake_idp import FakeIdP

pytestmark = pytest.mark.anyio

PLAIN = {"x-forwarded-proto": "http", "x-forwarded-host": "app.example.test"}


@pytest.mark.parametrize("method,path", [
    ("GET", "/oauth2/start?rd=%2Fa%3Fb&x=1"), ("GET", "/oauth2/sign_in"), ("GET", "/oauth2/callback?code=c"),
    ("GET", "/oauth2/sign_out"), ("POST", "/oauth2/sign_out")])
async def test_login_endpoints_redirect_plain_http(fake_idp: FakeIdP, method: str, path: str) -> None:
    settings = fake_idp_settings(fake_idp, force_https=True)
    async with asgi_client(create_app(Context.build(settings))) as client:
        response = await client.request(method, path, headers=PLAIN)
        assert response.status_code == 308, response.text
        assert response.headers["location"] == f"https://app.example.test{path}"
        assert "set-cookie" not in response.headers  # nothing begun over http
        # https (as a trusted proxy says) is served as always
        served = await client.request(method, path, headers={**PLAIN, "x-forwarded-proto": "https"})
        assert served.status_code != 308


async def test_the_check_and_the_probes_are_not_redirected(fake_idp: FakeIdP) -> None:
    settings = fake_idp_settings(fake_idp, force_https=True, metrics_address="")
    async with asgi_client(create_app(Context.build(settings))) as client:
        for path, status in (("/oauth2/auth", 401), ("/ping", 200), ("/ready", 200)):
            response = await client.get(path, headers={**PLAIN, "x-forwarded-uri": "/"})
            assert response.status_code == status, (path, response.status_code)


async def test_only_a_trusted_proxy_says_the_scheme_and_host(fake_idp: FakeIdP) -> None:
    settings = fake_idp_settings(fake_idp, force_https=True)
    # an untrusted peer: its X-Forwarded-* are not read; its own request (http, Host) is
    transport = httpx.ASGITransport(app=create_app(Context.build(settings)), client=("203.0.113.9", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://app.example.test:8080") as client:
        response = await client.get("/oauth2/sign_in", headers={
            "x-forwarded-host": "evil.example", "x-forwarded-proto": "https"})
    assert response.status_code == 308
    assert response.headers["location"] == "https://app.example.test/oauth2/sign_in"


async def test_off_by_default(fake_idp: FakeIdP) -> None:
    async with asgi_client(create_app(Context.build(fake_idp_settings(fake_idp)))) as client:
        response = await client.get("/oauth2/sign_in", headers=PLAIN)
    assert response.status_code == 200


@pytest.mark.parametrize(("https_address", "host", "location"), [
    # oauth2-proxy's redirect_to_https.go: a host with a port gets https_address's port
    (":8443", "app.example.test:8080", "https://app.example.test:8443/oauth2/sign_in"),
    ("0.0.0.0:4443", "[2001:db8::1]:8080", "https://[2001:db8::1]:4443/oauth2/sign_in"),
    # ... and a host without one stays without, whatever https_address says
    (":8443", "app.example.test", "https://app.example.test/oauth2/sign_in"),
    ("0.0.0.0:4443", "[2001:db8::1]", "https://[2001:db8::1]/oauth2/sign_in"),
    # the default, :443, is the https default port
    (":443", "app.example.test:8080", "https://app.example.test/oauth2/sign_in"),
])  # fmt: skip
async def test_the_https_port_is_https_addresss(fake_idp: FakeIdP, https_address: str, host: str,
                                                location: str) -> None:
    settings = fake_idp_settings(fake_idp, force_https=True, https_address=https_address)
    async with asgi_client(create_app(Context.build(settings))) as client:
        response = await client.get("/oauth2/sign_in", headers={**PLAIN, "x-forwarded-host": host})
    assert response.status_code == 308
    assert response.headers["location"] == location
