"""The login endpoints' public origin (scheme, host) follows proxy_kind's evidence rules.

The login endpoints build the redirect URI, absolute URLs and the app choice from it. A trusted
peer's `X-Forwarded-Host` is read only under the kinds whose proxy always writes it on a proxied
request (Traefik, Caddy, ingress-nginx, the nginx contract); under Envoy and `auto` a client's
copy would pass, so the Host header the proxy routed on names the site.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from authsvc.check.forwarded import Forwarded
from authsvc.context import Context
from authsvc.web.app import create_app
from tests.conftest import make_settings
from tests.support.app_driver import ORIGIN, asgi_client, fake_idp_settings
from tests.support.fake_idp import FakeIdP

PROXY = "10.0.0.2"
SPOOF = {"host": "app.example.test", "x-forwarded-host": "evil.example", "x-forwarded-proto": "https"}


def origin(kind: str, headers: dict[str, str], peer: str = PROXY, **overrides: Any) -> tuple[str, str]:
    fw = Forwarded(make_settings(proxy_kind=kind, trusted_proxy_ips=["10.0.0.0/8"], **overrides))
    return fw.public_origin("http", headers, peer)


@pytest.mark.parametrize("kind", ["traefik", "caddy", "ingress-nginx", "nginx", "auto"])
def test_kinds_whose_proxy_writes_x_forwarded_host_read_it(kind: str) -> None:
    # auto: oauth2-proxy's reverse_proxy reading (Traefik's forwardAuth at / sends authsvc's Host)
    assert origin(kind, SPOOF) == ("https", "evil.example")


@pytest.mark.parametrize("kind", ["envoy"])
def test_kinds_whose_proxy_does_not_write_it_use_host(kind: str) -> None:
    # Envoy sets X-Forwarded-Proto (use_remote_address) and routes on :authority: a client's
    # X-Forwarded-Host would pass it, Host is what was routed on
    assert origin(kind, SPOOF) == ("https", "app.example.test")


@pytest.mark.parametrize("kind", ["traefik", "caddy", "ingress-nginx", "nginx", "envoy", "auto"])
def test_untrusted_peers_and_reverse_proxy_off_read_no_header(kind: str) -> None:
    assert origin(kind, SPOOF, peer="203.0.113.9") == ("http", "app.example.test")
    assert origin(kind, SPOOF, reverse_proxy=False) == ("http", "app.example.test")


@pytest.mark.parametrize("kind", ["traefik", "auto"])
def test_malformed_values_fall_back_to_the_request(kind: str) -> None:
    bad = {"host": "app.example.test", "x-forwarded-host": "evil.example/x", "x-forwarded-proto": "gopher"}
    assert origin(kind, bad) == ("http", "app.example.test")



@pytest.mark.anyio
@pytest.mark.parametrize(("kind", "host"), [("auto", "evil.example"), ("envoy", "app.example.test"),
                                            ("traefik", "evil.example")])
async def test_redirect_uri_at_start(fake_idp: FakeIdP, kind: str, host: str) -> None:
    settings = fake_idp_settings(fake_idp, proxy_kind=kind)
    async with asgi_client(create_app(Context.build(settings))) as client:
        response = await client.get("/oauth2/start", params={"rd": "/"}, headers={
            "x-forwarded-host": "evil.example", "x-forwarded-proto": "https"})
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["redirect_uri"] == [f"https://{host}/oauth2/callback"]
    assert ORIGIN == "https://app.example.test"
