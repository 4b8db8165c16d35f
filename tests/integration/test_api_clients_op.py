"""API clients against the real OpenID provider (npm oidc-provider, tests/oidc-provider/server.js):
client-credentials tokens, opaque ones by RFC 7662 introspection and RFC 9068 JWTs, revocation
with the introspection cache off and on, and a per-route scope rule through real nginx
(examples/nginx/nginx.conf)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import AuthsvcFactory
from tests.support.components import EXAMPLES, OpenIDProvider, render_file, start_nginx
from tests.support.echo import EchoUpstream
from tests.support.processes import HOST, Process, free_port

pytestmark = pytest.mark.integration

MACHINE = ("machine", "machine-secret")
OTHER = ("machine-2", "machine-secret")
#: the resource for which server.js issues RFC 9068 JWTs
API = "https://api.test/"
#: a short cache lifetime, so "refused after the cache lifetime" is seconds, not a minute
TTL = 1.0


def client_credentials(op: OpenIDProvider, who: tuple[str, str], scope: str, **form: str) -> str:
    response = httpx.post(f"{op.issuer}/token", auth=who,
                          data={"grant_type": "client_credentials", "scope": scope, **form})
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert isinstance(token, str)
    return token


def revoke(op: OpenIDProvider, who: tuple[str, str], token: str) -> None:
    response = httpx.post(f"{op.issuer}/token/revocation", auth=who, data={"token": token})
    assert response.status_code == 200, response.text


def check(authsvc: Process, token: str, query: str = "") -> httpx.Response:
    return httpx.get(f"{authsvc.url}/oauth2/auth{query}", headers={"Authorization": f"Bearer {token}"})


def api_settings(**overrides: Any) -> dict[str, Any]:
    return {
        "skip_jwt_bearer_tokens": True,
        "introspect_bearer_tokens": True,
        "allowed_clients": ["machine"],
        "email_domains": ["*"],
        "oidc_extra_audiences": [API],
        # a claim -> header mapping (claim_headers): the token's scope claim, copied by nginx
        "claim_headers": ["X-Auth-Request-Scope=scope"],
        **overrides,
    }


@pytest.fixture(scope="module")
def cached(start_authsvc_for: AuthsvcFactory) -> Process:
    return start_authsvc_for(**api_settings(introspection_cache_ttl=TTL))


@pytest.fixture(scope="module")
def uncached(start_authsvc_for: AuthsvcFactory) -> Process:
    return start_authsvc_for(**api_settings(introspection_cache_ttl=0))


def test_an_opaque_machine_token_is_introspected(oidc_provider: OpenIDProvider, cached: Process) -> None:
    token = client_credentials(oidc_provider, MACHINE, "read")
    assert token.count(".") != 2  # the control: opaque, not a JWT
    response = check(cached, token)
    assert response.status_code == 202
    assert response.headers["x-auth-request-identity-type"] == "machine"
    assert response.headers["x-auth-request-client-id"] == "machine"
    assert response.headers["x-auth-request-email"] == ""


def test_a_jwt_machine_token_is_verified(oidc_provider: OpenIDProvider, cached: Process) -> None:
    token = client_credentials(oidc_provider, MACHINE, "read write", resource=API)
    assert token.count(".") == 2
    response = check(cached, token, "?allowed_scopes=read,write&allowed_audiences=" + API)
    assert response.status_code == 202
    assert response.headers["x-auth-request-identity-type"] == "machine"


def test_a_machine_needs_an_explicit_rule(oidc_provider: OpenIDProvider, cached: Process) -> None:
    # email_domains = ["*"]: still no way in for a client allowed_clients does not name
    for token in (client_credentials(oidc_provider, OTHER, "read"),
                  client_credentials(oidc_provider, OTHER, "read", resource=API)):
        response = check(cached, token)
        assert response.status_code == 403
        assert response.headers["www-authenticate"] == 'Bearer error="insufficient_scope"'


def test_a_missing_scope_is_insufficient(oidc_provider: OpenIDProvider, cached: Process) -> None:
    token = client_credentials(oidc_provider, MACHINE, "read")
    response = check(cached, token, "?allowed_scopes=write")
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="write"'


def test_revoked_is_refused_at_once_with_the_cache_off(
    oidc_provider: OpenIDProvider, uncached: Process
) -> None:
    token = client_credentials(oidc_provider, MACHINE, "read")
    assert check(uncached, token).status_code == 202
    revoke(oidc_provider, MACHINE, token)
    response = check(uncached, token)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_revoked_is_refused_after_the_cache_lifetime(oidc_provider: OpenIDProvider, cached: Process) -> None:
    token = client_credentials(oidc_provider, MACHINE, "read")
    first = time.monotonic()
    assert check(cached, token).status_code == 202
    revoke(oidc_provider, MACHINE, token)
    if time.monotonic() - first < TTL * 0.8:  # still inside the cached answer's lifetime
        assert check(cached, token).status_code == 202
    # the documented bound, not a race: the answer is cached for TTL seconds from the first check
    time.sleep(max(0.0, first + TTL + 0.2 - time.monotonic()))
    assert check(cached, token).status_code == 401


def test_an_unknown_opaque_token_is_refused(cached: Process) -> None:
    assert check(cached, "not-a-token-the-idp-issued").status_code == 401


# --- through real nginx -----------------------------------------------------------------

_ROUTE = """
        location = /oauth2/auth-writers {
            internal;
            proxy_pass http://authsvc/oauth2/auth?allowed_scopes=write;
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
        }
        location /writers/ {
            auth_request /oauth2/auth-writers;
            auth_request_set $authsvc_kind $upstream_http_x_auth_request_identity_type;
            auth_request_set $authsvc_client $upstream_http_x_auth_request_client_id;
            proxy_set_header X-Auth-Request-Identity-Type $authsvc_kind;
            proxy_set_header X-Auth-Request-Client-Id $authsvc_client;
            proxy_pass http://app;
        }
"""
_MARK = "        # --- the protected application"
#: what examples/nginx/README.md says to add for a claim_headers entry, in the protected location
_COPIED = "            proxy_set_header X-Auth-Request-Client-Id $authsvc_client_id;\n"
_CLAIM = """            auth_request_set $authsvc_scope $upstream_http_x_auth_request_scope;
            proxy_set_header X-Auth-Request-Scope $authsvc_scope;
"""


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory, cached: Process, echo: EchoUpstream) -> Iterator[str]:
    port = free_port()
    conf = render_file(
        EXAMPLES / "nginx" / "nginx.conf",
        {"LISTEN": f"{HOST}:{port}", "AUTHSVC": f"{HOST}:{cached.port}", "UPSTREAM": f"{HOST}:{echo.port}"},
    )
    assert conf.count(_MARK) == 1, "examples/nginx/nginx.conf changed: update this test's marker"
    assert conf.count(_COPIED) == 1, "examples/nginx/nginx.conf changed: update this test's marker"
    conf = conf.replace(_MARK, _ROUTE + _MARK).replace(_COPIED, _COPIED + _CLAIM)
    proc = start_nginx(tmp_path_factory.mktemp("nginx-api"), conf, port)
    try:
        yield proc.url
    finally:
        proc.stop()


def test_a_per_route_scope_rule_through_nginx(oidc_provider: OpenIDProvider, nginx: str) -> None:
    reader = client_credentials(oidc_provider, MACHINE, "read")
    writer = client_credentials(oidc_provider, MACHINE, "read write")
    spoof = {"X-Auth-Request-Identity-Type": "user", "X-Auth-Request-Client-Id": "admin"}
    assert httpx.get(f"{nginx}/writers/x", headers={"Authorization": f"Bearer {reader}"}).status_code == 403
    response = httpx.get(f"{nginx}/writers/x", headers={"Authorization": f"Bearer {writer}", **spoof})
    assert response.status_code == 200
    seen = {k.lower(): v for k, v in response.json()["headers"]}
    assert seen["x-auth-request-identity-type"] == "machine"
    assert seen["x-auth-request-client-id"] == "machine"
    # the example's own protected location copies the two headers too (a client's copy replaced)
    response = httpx.get(f"{nginx}/app/x", headers={"Authorization": f"Bearer {reader}", **spoof})
    assert response.status_code == 200
    seen = {k.lower(): v for k, v in response.json()["headers"]}
    assert (seen["x-auth-request-identity-type"], seen["x-auth-request-client-id"]) == ("machine", "machine")
    # no token at all: nginx passes the 401's challenge on (its 403 carries none, ngx_http_auth_request)
    response = httpx.get(f"{nginx}/writers/x", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.headers.get("www-authenticate") == "Bearer"


def test_a_claim_header_through_nginx(oidc_provider: OpenIDProvider, nginx: str) -> None:
    # opaque (introspected) and JWT tokens alike; a client's own copy of the header is replaced
    for token in (client_credentials(oidc_provider, MACHINE, "read write"),
                  client_credentials(oidc_provider, MACHINE, "read write", resource=API)):
        response = httpx.get(f"{nginx}/app/x", headers={
            "Authorization": f"Bearer {token}", "X-Auth-Request-Scope": "admin"})
        assert response.status_code == 200
        seen = {k.lower(): v for k, v in response.json()["headers"]}
        assert seen["x-auth-request-scope"] == "read write"  # one value: the inner space kept
