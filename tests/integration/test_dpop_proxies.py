"""DPoP (RFC 9449) end to end: tokens bound by the real OpenID provider (npm oidc-provider), proofs
made here with joserfc, checked by authsvc behind real nginx (examples/nginx/nginx.conf) and real
Envoy (examples/envoy/envoy.yaml), with the jti replay cache shared by two authsvc replicas
through real Redis."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import ECKey

from tests.integration.conftest import AuthsvcFactory
from tests.support.components import (
    EXAMPLES,
    OpenIDProvider,
    render,
    render_file,
    start_envoy,
    start_nginx,
    start_redis,
)
from tests.support.echo import EchoUpstream
from tests.support.processes import HOST, Process, free_port

pytestmark = pytest.mark.integration

MACHINE = ("machine", "machine-secret")


def proof(key: ECKey, method: str, url: str, token: str | None = None, **claims: Any) -> str:
    body: dict[str, Any] = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time())}
    if token is not None:
        body["ath"] = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
    body.update(claims)
    head = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jws.serialize_compact(head, json.dumps(body).encode(), key)


def bound_token(op: OpenIDProvider, key: ECKey, **form: str) -> str:
    """A client-credentials token the OP binds to `key` (it checks our proof for its endpoint)."""
    url = f"{op.issuer}/token"
    response = httpx.post(url, auth=MACHINE, headers={"DPoP": proof(key, "POST", url)},
                          data={"grant_type": "client_credentials", "scope": "read", **form})
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    token = response.json()["access_token"]
    assert isinstance(token, str)
    return token


@dataclass
class Stack:
    base: str
    replicas: tuple[Process, Process]


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, start_authsvc_for: AuthsvcFactory, echo: EchoUpstream
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("dpop")
    redis = start_redis(workdir)
    try:
        options = {
            "proxy_kind": "nginx", "skip_jwt_bearer_tokens": True, "introspect_bearer_tokens": True,
            "allowed_clients": ["machine"], "oidc_extra_audiences": ["https://api.test/"],
            "session_store_type": "redis", "redis_connection_url": f"redis://{HOST}:{redis.port}",
        }
        replicas = (start_authsvc_for(**options), start_authsvc_for(**options))
        port = free_port()
        conf = render_file(EXAMPLES / "nginx" / "nginx.conf", {
            "LISTEN": f"{HOST}:{port}", "AUTHSVC": f"{HOST}:{replicas[0].port}",
            "UPSTREAM": f"{HOST}:{echo.port}",
        })  # fmt: skip
        nginx = start_nginx(workdir / "nginx", conf, port)
        try:
            yield Stack(nginx.url, replicas)
        finally:
            nginx.stop()
    finally:
        redis.stop()


def call(stack: Stack, token: str, dpop: str | None, path: str = "/app/orders", method: str = "GET") -> int:
    headers = {"Authorization": f"DPoP {token}", "Accept": "application/json"}
    if dpop is not None:
        headers["DPoP"] = dpop
    return httpx.request(method, stack.base + path, headers=headers).status_code


@pytest.mark.parametrize("resource", ["", "https://api.test/"], ids=["opaque", "jwt"])
def test_dpop_through_nginx(oidc_provider: OpenIDProvider, stack: Stack, resource: str) -> None:
    key = ECKey.generate_key("P-256")
    token = bound_token(oidc_provider, key, **({"resource": resource} if resource else {}))
    url = stack.base + "/app/orders"
    # the control: a valid proof for this method and URL passes
    assert call(stack, token, proof(key, "GET", url, token)) == 200
    assert call(stack, token, None) == 401
    assert call(stack, token, proof(key, "GET", stack.base + "/app/other", token)) == 401
    assert call(stack, token, proof(key, "POST", url, token)) == 401
    assert call(stack, token, proof(ECKey.generate_key("P-256"), "GET", url, token)) == 401
    once = proof(key, "GET", url, token)
    assert call(stack, token, once) == 200
    assert call(stack, token, once) == 401
    # the same token as Bearer: a downgrade, refused
    bearer = httpx.get(url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    assert bearer.status_code == 401
    assert bearer.headers["www-authenticate"].startswith('DPoP error="invalid_token", algs="')


def test_a_proof_replayed_at_another_replica_is_refused(oidc_provider: OpenIDProvider, stack: Stack) -> None:
    key = ECKey.generate_key("P-256")
    token = bound_token(oidc_provider, key)
    url = "http://app.test/api/x"
    # what nginx sends (proxy_kind = "nginx": X-Original-URI and friends are its)
    where = {"Host": "app.test", "X-Original-URI": "/api/x", "X-Original-Method": "GET",
             "X-Forwarded-Proto": "http", "X-Forwarded-Host": "app.test"}
    once = proof(key, "GET", url, token)
    headers = {**where, "Authorization": f"DPoP {token}", "DPoP": once}
    first = httpx.get(f"{stack.replicas[0].url}/oauth2/auth", headers=headers)
    second = httpx.get(f"{stack.replicas[1].url}/oauth2/auth", headers=headers)
    assert first.status_code == 202
    assert second.status_code == 401
    assert second.headers["www-authenticate"].startswith('DPoP error="invalid_dpop_proof"')


@pytest.fixture(scope="module")
def envoy(
    tmp_path_factory: pytest.TempPathFactory, start_authsvc_for: AuthsvcFactory, echo: EchoUpstream
) -> Iterator[str]:
    authsvc = start_authsvc_for(
        proxy_kind="envoy", auth_success_status=200, skip_jwt_bearer_tokens=True,
        introspect_bearer_tokens=True, allowed_clients=["machine"],
    )  # fmt: skip
    port = free_port()
    bootstrap = render((EXAMPLES / "envoy" / "envoy.yaml").read_text(), {
        "LISTEN_ADDRESS": HOST, "LISTEN_PORT": port, "AUTHSVC_ADDRESS": HOST,
        "AUTHSVC_PORT": authsvc.port, "UPSTREAM_ADDRESS": HOST, "UPSTREAM_PORT": echo.port,
    })  # fmt: skip
    proc = start_envoy(tmp_path_factory.mktemp("envoy-dpop"), bootstrap, port)
    try:
        yield proc.url
    finally:
        proc.stop()


def test_dpop_through_envoy(oidc_provider: OpenIDProvider, envoy: str) -> None:
    key = ECKey.generate_key("P-256")
    token = bound_token(oidc_provider, key)
    url = envoy + "/app/orders"

    def status(dpop: str | None, method: str = "GET") -> int:
        headers = {"Authorization": f"DPoP {token}", "Accept": "application/json"}
        if dpop is not None:
            headers["DPoP"] = dpop
        return httpx.request(method, url + "?page=2", headers=headers).status_code

    once = proof(key, "GET", url, token)  # htu without the query (RFC 9449 4.3)
    assert status(once) == 200  # the control: the example passes the DPoP header on
    assert status(once) == 401  # replayed
    assert status(None) == 401
    assert status(proof(key, "GET", envoy + "/app/other", token)) == 401
    assert status(proof(key, "POST", url, token)) == 401  # a proof for another method
    assert status(proof(ECKey.generate_key("P-256"), "GET", url, token)) == 401
