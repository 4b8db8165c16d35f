"""`authsvc serve` as a real process: graceful SIGTERM with a request in flight, workers, metrics.

The in-flight request is a real /oauth2/callback: its code exchange goes to a token endpoint
served by this test on loopback, which holds the answer until the test lets it go. SIGTERM
arrives while authsvc waits for it.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import SECRET_A
from tests.support.fake_idp import FakeIdP
from tests.support.processes import (
    Process,
    StartError,
    free_port,
    http_ready,
    port_open,
    python_argv,
    start_process,
    wait_until,
)

pytestmark = pytest.mark.integration

CLIENT_SECRET = "op-test-client-secret-3f9a1c"


class SlowIdP:
    """Discovery, JWKS and a token endpoint that answers only once `release` is set."""

    def __init__(self) -> None:
        port = free_port()
        self.fake = FakeIdP(issuer=f"http://127.0.0.1:{port}", client_secret=CLIENT_SECRET)
        self.token_requested = threading.Event()
        self.release = threading.Event()
        self.nonces: dict[str, str] = {}  # code -> nonce (the test plays the browser)
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _json(self, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.endswith("/.well-known/openid-configuration"):
                    self._json(idp.fake.discovery())
                elif self.path == "/jwks":
                    self._json({"keys": [idp.fake.public_jwk()]})
                elif self.path == "/userinfo":
                    self._json({"sub": "user-1", "email": "ada@example.com", "email_verified": True})
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                idp.token_requested.set()
                idp.release.wait(60)
                nonce = idp.nonces.get(form.get("code", ""), "")
                self._json({
                    "access_token": "at-" + form.get("code", ""),
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "id_token": idp.fake.mint_id_token(email="ada@example.com", nonce=nonce),
                })

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def issuer(self) -> str:
        return self.fake.issuer

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow_idp() -> Iterator[SlowIdP]:
    idp = SlowIdP()
    yield idp
    idp.close()


def start_serve(
    idp: SlowIdP, log_dir: Path, name: str = "authsvc-serve", **options: str
) -> Process:
    port = free_port()
    env = {
        "AUTHSVC_HTTP_ADDRESS": f"127.0.0.1:{port}",
        "AUTHSVC_OIDC_ISSUER_URL": idp.issuer,
        "AUTHSVC_CLIENT_ID": idp.fake.client_id,
        "AUTHSVC_CLIENT_SECRET": CLIENT_SECRET,
        "AUTHSVC_COOKIE_SECRET": SECRET_A,
        "AUTHSVC_COOKIE_SECURE": "false",
        "AUTHSVC_EMAIL_DOMAINS": "example.com",
        **{f"AUTHSVC_{k.upper()}": v for k, v in options.items()},
    }
    return start_process(
        name, python_argv("-m", "authsvc", "serve"), port=port, log_dir=log_dir, env=env,
        ready=http_ready("/ping", status=200), timeout=30,
    )


def begin_login(client: httpx.Client, idp: SlowIdP) -> str:
    """/oauth2/start as a browser would; the callback URL the IdP would send it back to."""
    start = client.get("/oauth2/start", params={"rd": "/done"})
    assert start.status_code == 302, start.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}
    code = "code-" + query["state"][:8]
    idp.nonces[code] = query["nonce"]
    return str(httpx.URL(query["redirect_uri"]).copy_merge_params({"code": code, "state": query["state"]}))


def json_lines(log: str) -> list[dict[str, Any]]:
    out = []
    for line in log.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def test_sigterm_lets_the_request_in_flight_finish(slow_idp: SlowIdP, tmp_path: Path) -> None:
    metrics_port = free_port()
    proc = start_serve(
        slow_idp, tmp_path, shutdown_timeout="20s", metrics_address=f"127.0.0.1:{metrics_port}"
    )
    try:
        results: dict[str, Any] = {}
        with httpx.Client(base_url=proc.url, timeout=30) as client:
            callback = begin_login(client, slow_idp)
            metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            assert 'authsvc_requests_total{endpoint="start",outcome="allowed"} 1.0' in metrics
            assert client.get("/metrics").status_code == 404

            def in_flight() -> None:
                try:
                    results["response"] = client.get(callback)
                except httpx.HTTPError as exc:  # pragma: no cover - reported by the assert below
                    results["error"] = exc

            thread = threading.Thread(target=in_flight)
            thread.start()
            assert slow_idp.token_requested.wait(15), "authsvc never called the token endpoint"
            sent = time.monotonic()
            proc.popen.send_signal(signal.SIGTERM)
            # it stops taking new connections while the callback is still waiting for the IdP
            wait_until(lambda: not port_open(proc.port), 10, "the listener to close")
            assert thread.is_alive(), "the in-flight request ended before the IdP answered"
            time.sleep(0.5)
            assert proc.alive(), "authsvc exited with a request in flight"
            slow_idp.release.set()
            thread.join(20)
            assert proc.popen.wait(20) == 0
            elapsed = time.monotonic() - sent
        response = results.get("response")
        assert response is not None, results.get("error")
        assert response.status_code == 302, response.text
        assert response.headers["location"] == "/done"
        assert any(c.startswith("_authsvc=") for c in response.headers.get_list("set-cookie"))
        assert elapsed < 20
    finally:
        proc.stop()

    records = json_lines(proc.log(tail=200_000))
    assert records, proc.log()
    events = [r["event"] for r in records]
    start_line = next(r for r in records if "settings" in r)
    assert start_line["settings"]["client_secret"] == "****"
    assert start_line["settings"]["shutdown_timeout"] == 20.0
    assert "Shutting down" in events
    assert any(r.get("endpoint") == "callback" and r.get("status") == 302 for r in records)
    assert CLIENT_SECRET not in proc.log(tail=200_000)


def test_shutdown_timeout_bounds_a_request_that_does_not_finish(slow_idp: SlowIdP, tmp_path: Path) -> None:
    proc = start_serve(slow_idp, tmp_path, shutdown_timeout="1s")
    try:
        with httpx.Client(base_url=proc.url, timeout=30) as client:
            callback = begin_login(client, slow_idp)
            thread = threading.Thread(target=lambda: _swallow(client, callback), daemon=True)
            thread.start()
            assert slow_idp.token_requested.wait(15)
            sent = time.monotonic()
            proc.popen.send_signal(signal.SIGTERM)
            assert proc.popen.wait(15) == 0  # the IdP never answers: cut after shutdown_timeout
            assert 0.9 < time.monotonic() - sent < 10
    finally:
        slow_idp.release.set()
        proc.stop()


def _swallow(client: httpx.Client, url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        client.get(url)


def _auth_counts(url: str) -> float:
    text = httpx.get(url, timeout=5).text
    for family in text_string_to_metric_families(text):
        if family.name == "authsvc_requests":
            return sum(
                s.value for s in family.samples
                if s.name == "authsvc_requests_total" and s.labels["endpoint"] == "auth"
            )
    return 0.0


def test_workers_share_their_metrics_and_stop_on_sigterm(slow_idp: SlowIdP, tmp_path: Path) -> None:
    metrics_port = free_port()
    proc = start_serve(
        slow_idp, tmp_path, workers="2", metrics_address=f"127.0.0.1:{metrics_port}", log_format="json"
    )
    try:
        wait_until(lambda: port_open(metrics_port), 15, "the metrics listener")
        pids = set()
        for _ in range(40):
            # a new connection each time, so both workers get some
            answer = httpx.get(f"{proc.url}/oauth2/auth", headers={"connection": "close"})
            assert answer.status_code == 401
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        assert _auth_counts(metrics_url) == 40  # summed over both workers
        assert httpx.get(f"{proc.url}/metrics").status_code == 404  # not on the main port
        for record in json_lines(proc.log(tail=200_000)):
            if record["event"].startswith("Started server process"):
                pids.add(record["event"])
        assert len(pids) == 2, proc.log()
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(30) == 0
    finally:
        proc.stop()


def test_bad_settings_stop_serve_with_one_line(tmp_path: Path, slow_idp: SlowIdP) -> None:
    with pytest.raises(StartError, match="workers"):
        start_serve(slow_idp, tmp_path, workers="0")


def test_start_up_warnings_come_out_as_json_lines(tmp_path: Path, slow_idp: SlowIdP) -> None:
    """What building the app warns about (here: any_path_auth_status behind Envoy answering
    /ping itself) is logged in the configured format, like every later line: a log shipper
    reading JSON lines must not meet a plain-text line at start-up."""
    proc = start_serve(slow_idp, tmp_path, any_path_auth_status="202", proxy_kind="envoy",
                       reverse_proxy="true", trusted_proxy_ips="127.0.0.1/32")
    try:
        lines = [line for line in proc.log(tail=200_000).splitlines() if line.strip()]
        assert lines and all(line.startswith("{") for line in lines), lines[:3]
        warned = [r for r in json_lines("\n".join(lines)) if "any_path_auth_status" in r["event"]]
        assert warned and warned[0]["level"] == "warning"
    finally:
        proc.stop()
