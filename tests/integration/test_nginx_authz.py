"""Through real nginx (examples/nginx/nginx.conf): the path authsvc judges is nginx's, not the
client's, and per-route rules in the auth URL (`proxy_pass .../oauth2/auth?allowed_groups=`).

authsvc runs with `skip_auth_routes = ["^/public/"]`, so a spoofed header that changed the judged
path to /public/... would turn a 401 into a 200: every spoof below must still get 401.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.integration.conftest import AuthsvcFactory
from tests.support import contract
from tests.support.components import EXAMPLES, render_file, start_nginx
from tests.support.echo import EchoUpstream
from tests.support.processes import HOST, free_port

pytestmark = pytest.mark.integration

JSON = {"Accept": "application/json"}

# one internal auth location per audience, as README "Per-route rules" shows
_PER_ROUTE = """
        location = /oauth2/auth-{name} {{
            internal;
            proxy_pass http://authsvc/oauth2/auth?{query};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Original-URL "";
            proxy_set_header X-Forwarded-Uri "";
            proxy_set_header X-Forwarded-Method "";
            proxy_set_header X-Auth-Request-Redirect "";
            proxy_buffer_size 32k;
            proxy_buffers 8 32k;
        }}
        location /{name}/ {{
            auth_request /oauth2/auth-{name};
            error_page 401 = @signin;
            proxy_pass http://app;
        }}
"""
_MARK = "        # --- the protected application"


@dataclass
class Stack:
    base: str
    port: int


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, start_authsvc_for: AuthsvcFactory, echo: EchoUpstream
) -> Iterator[Stack]:
    authsvc = start_authsvc_for(proxy_kind="nginx", skip_auth_routes=["^/public/"])
    port = free_port()
    conf = render_file(
        EXAMPLES / "nginx" / "nginx.conf",
        {"LISTEN": f"{HOST}:{port}", "AUTHSVC": f"{HOST}:{authsvc.port}", "UPSTREAM": f"{HOST}:{echo.port}"},
    )
    assert conf.count(_MARK) == 1, "examples/nginx/nginx.conf changed: update this test's marker"
    routes = "".join(
        _PER_ROUTE.format(name=name, query=query)
        for name, query in [
            ("admins", "allowed_groups=admins"),
            ("ops", "allowed_groups=ops,sre"),
            ("alice", "allowed_emails=alice@example.com&allowed_groups=devs"),
            ("bob", "allowed_emails=bob@example.com"),
            ("partners", "allowed_email_domains=partner.example"),
        ]
    )
    nginx = start_nginx(tmp_path_factory.mktemp("nginx-authz"), conf.replace(_MARK, routes + _MARK), port)
    try:
        yield Stack(nginx.url, port)
    finally:
        nginx.stop()


def raw_get(stack: Stack, target: str, headers: dict[str, str] | None = None) -> int:
    """GET with the request-target exactly as given (httpx would normalise dot segments)."""
    conn = http.client.HTTPConnection(HOST, stack.port, timeout=15)
    try:
        conn.request("GET", target, headers={**JSON, **(headers or {})})
        return conn.getresponse().status
    finally:
        conn.close()


def test_a_public_route_is_public(stack: Stack) -> None:
    """The control: without it, the 401s below would prove nothing."""
    assert httpx.get(stack.base + "/public/logo.png", headers=JSON).status_code == 200


SPOOFS = [
    {"X-Original-URI": "/public/x"},
    {"X-Original-URL": f"http://{HOST}/public/x"},
    {"X-Forwarded-Uri": "/public/x", "X-Forwarded-Method": "GET"},
    {"X-Auth-Request-Redirect": "/public/x"},
    {"X-Original-URI": "/public/x", "X-Original-URL": "http://evil.example/public/x",
     "X-Forwarded-Uri": "/public/x", "X-Forwarded-Host": "evil.example"},
    {"X_Original_URI": "/public/x", "X_Forwarded_Uri": "/public/x"},
    {"X-Original-Method": "OPTIONS", "X-Forwarded-Method": "OPTIONS"},
    {"User-Agent": "kube-probe/1.30"},
]


@pytest.mark.parametrize("headers", SPOOFS, ids=lambda h: ",".join(h))
def test_a_client_cannot_choose_the_path_authsvc_judges(stack: Stack, headers: dict[str, str]) -> None:
    assert httpx.get(stack.base + "/app/secret", headers={**JSON, **headers}).status_code == 401


@pytest.mark.parametrize(
    "target",
    [
        "/app/secret?x=/public/",  # GHSA-7rh7-c77v-6434
        "/app/secret?/public/",
        "/public/../app/secret",  # nginx routes /app/secret, authsvc sees the raw dot segments
        "/public/%2e%2e/app/secret",
        "/public/%2E%2E/app/secret",
        "/public/..;/app/secret",
        "/public%2f..%2fapp/secret",
    ],
)
def test_query_and_dot_segments_never_reach_a_skip_rule(stack: Stack, target: str) -> None:
    assert raw_get(stack, target) == 401


def test_per_route_rules_in_the_auth_url(stack: Stack) -> None:
    # alice@example.com is in admins and devs
    with contract.signed_in(stack.base, "alice@example.com") as client:
        assert client.get(stack.base + "/admins/x").status_code == 200
        assert client.get(stack.base + "/alice/x").status_code == 200
        assert client.get(stack.base + "/ops/x").status_code == 403
        assert client.get(stack.base + "/bob/x").status_code == 403
        assert client.get(stack.base + "/partners/x").status_code == 403
        # the client's own query on the protected URL is not the auth URL's
        assert client.get(stack.base + "/ops/x?allowed_groups=admins").status_code == 403


def test_per_route_rules_without_a_session_are_401(stack: Stack) -> None:
    assert httpx.get(stack.base + "/admins/x", headers=JSON).status_code == 401
