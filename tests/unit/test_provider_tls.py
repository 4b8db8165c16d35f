"""provider_ca_files / use_system_trust_store / ssl_insecure_skip_verify against a real TLS IdP.

A private test CA signs the certificate of a real HTTPS server (http.server + ssl) serving a
discovery document; authsvc's own client (Context.build's verify) must accept it exactly when
the configuration trusts that CA.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from authsvc.clock import system_clock
from authsvc.config.tls import provider_verify
from authsvc.context import Context
from authsvc.errors import ConfigError, ProviderUnavailable
from authsvc.providers.metadata import MetadataCache
from tests.conftest import make_settings
from tests.support.pki import PKI, make_pki
from tests.support.processes import HOST, Served, serve_forever

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_idp(pki: PKI) -> Iterator[str]:
    """https://127.0.0.1:<port>, an issuer whose discovery document is served over TLS."""
    issuer: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"issuer": issuer["url"], "authorization_endpoint": issuer["url"] + "/a",
                               "token_endpoint": issuer["url"] + "/t", "jwks_uri": issuer["url"] + "/k"})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((HOST, 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    served = Served(server, serve_forever(server, "tls-idp"))
    issuer["url"] = f"https://{HOST}:{served.port}"
    try:
        yield issuer["url"]
    finally:
        served.stop()


async def discover(issuer: str, **options: Any) -> str:
    settings = make_settings(oidc_issuer_url=issuer, **options)
    services = Context.build(settings)  # the client authsvc really uses
    try:
        meta = await MetadataCache(settings, services.http, system_clock).metadata()
        return meta.token_endpoint
    finally:
        await services.aclose()


async def test_private_ca_file_verifies_the_idp(tls_idp: str, pki: PKI) -> None:
    assert await discover(tls_idp, provider_ca_files=[str(pki.ca_cert)]) == tls_idp + "/t"


async def test_without_the_ca_the_idp_is_refused(tls_idp: str) -> None:
    with pytest.raises(ProviderUnavailable, match="ConnectError"):
        await discover(tls_idp)  # certifi does not know the test CA
    with pytest.raises(ProviderUnavailable, match="ConnectError"):
        await discover(tls_idp, use_system_trust_store=True)  # nor does the OS store


async def test_ca_file_with_system_store(tls_idp: str, pki: PKI) -> None:
    got = await discover(tls_idp, provider_ca_files=[str(pki.ca_cert)], use_system_trust_store=True)
    assert got == tls_idp + "/t"


async def test_another_ca_is_refused(tls_idp: str, tmp_path: Path) -> None:
    other = make_pki(tmp_path, "another CA")
    with pytest.raises(ProviderUnavailable, match="ConnectError"):
        await discover(tls_idp, provider_ca_files=[str(other.ca_cert)])


async def test_insecure_skip_verify(tls_idp: str) -> None:
    assert await discover(tls_idp, ssl_insecure_skip_verify=True) == tls_idp + "/t"


def test_verify_is_certifi_by_default() -> None:
    assert provider_verify(make_settings()) is True


def test_a_ca_file_that_is_no_pem_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"provider_ca_files .*not a readable PEM"):
        make_settings(provider_ca_files=[str(bad)])


async def test_plain_httpx_client_would_have_refused(tls_idp: str) -> None:
    """The old client (certifi only) cannot reach a private-CA IdP: what the option fixes."""
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(tls_idp)
