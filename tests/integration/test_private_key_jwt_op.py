"""private_key_jwt (jwt_key_file) against the real OpenID provider (npm oidc-provider, a
certified OP): its client is registered by its public JWKS and has no secret, so every token
request must carry a client assertion oidc-provider accepts (signature, iss, aud, exp, a jti it
has not seen). A login through authsvc, then /oauth2/auth 202; a key the OP does not know ends
the login on the "client rejected" page (502)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import RSAKey

from tests.integration.conftest import authsvc_settings
from tests.support.components import OpenIDProvider, start_authsvc, start_oidc_provider
from tests.support.fake_idp import client_key, client_key_pem
from tests.support.login import browse
from tests.support.processes import Process

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def key_op(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIDProvider]:
    """An OP whose client authenticates with private_key_jwt only (CLIENT_JWKS)."""
    public = RSAKey.import_key(client_key().as_dict(private=False)).as_dict()
    op = start_oidc_provider(tmp_path_factory.mktemp("op-jwks"),
                             env={"CLIENT_JWKS": json.dumps({"keys": [{**public, "use": "sig"}]})})
    try:
        yield op
    finally:
        op.stop()


def _authsvc(op: OpenIDProvider, workdir: Path, key_pem: str) -> Process:
    key = workdir / "client-key.pem"
    key.write_text(key_pem)
    key.chmod(0o600)
    return start_authsvc(workdir, authsvc_settings(op, client_secret="", jwt_key_file=str(key)))


def test_a_login_with_a_client_assertion(key_op: OpenIDProvider, tmp_path: Path) -> None:
    authsvc = _authsvc(key_op, tmp_path, client_key_pem())
    try:
        with httpx.Client(base_url=authsvc.url, timeout=15) as client:
            walk = browse(client, f"{authsvc.url}/oauth2/start?rd=/done", login="alice@example.com")
            assert walk.visited(f"{authsvc.url}/oauth2/callback"), walk.hops
            callback = next(status for status, url in walk.hops if "/oauth2/callback" in url)
            assert callback == 302, walk.hops
            auth = client.get("/oauth2/auth", headers={"X-Forwarded-Uri": "/done"})
        assert auth.status_code == 202
        assert auth.headers["x-auth-request-email"] == "alice@example.com"
        log = authsvc.log()
        assert "PRIVATE KEY" not in log and client_key_pem().splitlines()[1] not in log
    finally:
        authsvc.stop()


def test_a_key_the_op_does_not_know_is_refused(key_op: OpenIDProvider, tmp_path: Path) -> None:
    other = RSAKey.generate_key(2048, private=True).as_pem(private=True).decode()
    authsvc = _authsvc(key_op, tmp_path, other)
    try:
        with httpx.Client(base_url=authsvc.url, timeout=15) as client:
            walk = browse(client, f"{authsvc.url}/oauth2/start?rd=/done", login="alice@example.com")
            assert walk.final.status_code == 502, walk.hops  # ClientRejected: ours to fix
            assert client.get("/oauth2/auth").status_code == 401
    finally:
        authsvc.stop()
