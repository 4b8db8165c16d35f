"""https_address with tls_cert_file / tls_key_file (/ tls_min_version): authsvc serves HTTPS.

oauth2-proxy's rule holds: with a certificate only the HTTPS listener runs; without one
https_address is a no-op (the Helm chart always passes it).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import httpx
import pytest

from tests.conftest import SECRET_A
from tests.support.pki import PKI, make_pki
from tests.support.processes import HOST, Process, free_port, port_open, python_argv, start_process

pytestmark = pytest.mark.integration

BASE = ["--provider=oidc", "--oidc-issuer-url=https://idp.example", "--client-id=c",
        "--client-secret=s", f"--cookie-secret={SECRET_A}", "--email-domain=*"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


def https_ready(ca: Path) -> Callable[[Process], bool]:
    def probe(proc: Process) -> bool:
        try:
            return httpx.get(f"https://{HOST}:{proc.port}/ping", verify=ssl.create_default_context(
                cafile=str(ca)), timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    return probe


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Process]]:
    procs: list[Process] = []
    yield procs
    for proc in procs:
        proc.stop()


class StartHttps(Protocol):
    def __call__(self, name: str, *options: str) -> int: ...


@pytest.fixture
def start_https(pki: PKI, tmp_path: Path, started: list[Process]) -> StartHttps:
    """Starts authsvc with the test certificate and `options`; the HTTPS port, once it answers."""

    def start(name: str, *options: str) -> int:
        port = free_port()
        argv = python_argv("-m", "authsvc", *BASE, f"--https-address={HOST}:{port}",
                           f"--tls-cert-file={pki.server_cert}", f"--tls-key-file={pki.server_key}",
                           *options)  # fmt: skip
        started.append(start_process(name, argv, port=port, log_dir=tmp_path,
                                     ready=https_ready(pki.ca_cert)))  # fmt: skip
        return port

    return start


def test_serves_https_only_with_a_certificate(pki: PKI, start_https: StartHttps) -> None:
    http_port = free_port()
    port = start_https("authsvc-tls", f"--http-address={HOST}:{http_port}")
    ca = ssl.create_default_context(cafile=str(pki.ca_cert))
    assert httpx.get(f"https://{HOST}:{port}/ping", verify=ca).text == "OK"
    assert not port_open(http_port), "with a certificate only the HTTPS listener runs"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"https://{HOST}:{port}/ping")  # certifi does not know the test CA


def test_tls_min_version_13_refuses_tls_12(pki: PKI, start_https: StartHttps) -> None:
    port = start_https("authsvc-tls13", "--tls-min-version=TLS1.3")
    only_12 = ssl.create_default_context(cafile=str(pki.ca_cert))
    only_12.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"https://{HOST}:{port}/ping", verify=only_12)
    v13 = ssl.create_default_context(cafile=str(pki.ca_cert))
    assert httpx.get(f"https://{HOST}:{port}/ping", verify=v13).status_code == 200


def test_https_address_without_certificate_is_a_no_op(tmp_path: Path, started: list[Process]) -> None:
    port = free_port()
    argv = python_argv("-m", "authsvc", *BASE, f"--http-address={HOST}:{port}",
                       "--https-address=0.0.0.0:4443")
    started.append(start_process("authsvc-plain", argv, port=port, log_dir=tmp_path))
    assert httpx.get(f"http://{HOST}:{port}/ping").text == "OK"


def test_metrics_over_tls(pki: PKI, tmp_path: Path, started: list[Process]) -> None:
    port, metrics = free_port(), free_port()
    argv = python_argv("-m", "authsvc", *BASE, f"--http-address={HOST}:{port}",
                       f"--metrics-secure-address={HOST}:{metrics}",
                       f"--metrics-tls-cert-file={pki.server_cert}",
                       f"--metrics-tls-key-file={pki.server_key}")
    started.append(start_process("authsvc-metrics-tls", argv, port=port, log_dir=tmp_path))
    ca = ssl.create_default_context(cafile=str(pki.ca_cert))
    r = httpx.get(f"https://{HOST}:{metrics}/metrics", verify=ca)
    assert r.status_code == 200 and "authsvc_" in r.text
    assert httpx.get(f"http://{HOST}:{port}/metrics").status_code == 404  # not on the main port


def test_tls_cipher_suites_restrict_tls_12(pki: PKI, start_https: StartHttps) -> None:
    port = start_https("authsvc-ciphers", "--tls-cipher-suite=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")

    def tls12(cipher: str) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(cipher)
        return context

    ok = httpx.get(f"https://{HOST}:{port}/ping", verify=tls12("ECDHE-ECDSA-AES128-GCM-SHA256"))
    assert ok.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"https://{HOST}:{port}/ping", verify=tls12("ECDHE-ECDSA-AES256-GCM-SHA384"))
