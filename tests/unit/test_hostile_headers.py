"""No header a client can send turns /oauth2/auth into a 2xx without a session.

GHSA-5hvv-m4w4-gf6v (a ping User-Agent answered 200 on any path, so nginx let the request
through), spoofed forwarded headers (GHSA-7x63-xv5r-3p2x, CVE-2026-76835), identity headers
and their underscore twins (GHSA-vjrc-mh2v-45x6), method overrides and junk credentials.
"""

from __future__ import annotations

import base64

import pytest

from tests.conftest import make_settings
from tests.support.auth_app import STRANGER, AuthApp
from tests.support.spoofs import CASE_IDS, CASES, PROXIES, REAL_HOST, REAL_PATH, SKIP_ROUTES, spoof_sets

pytestmark = pytest.mark.anyio

PUBLIC = ["^/public/", "^/ping$", "^/health"]

HOSTILE: list[dict[str, str]] = [
    {"User-Agent": "kube-probe/1.30"},
    {"User-Agent": "GoogleHC/1.0"},
    {"User-Agent": "ELB-HealthChecker/2.0"},
    {"User-Agent": "Go-http-client/1.1"},
    {"User-Agent": "Envoy/HC"},
    {"X-Forwarded-Uri": "/public/x"},
    {"X-Forwarded-Uri": "/ping", "X-Forwarded-Method": "GET"},
    {"X-Forwarded-Uri": "/health", "X-Forwarded-Host": "localhost", "X-Forwarded-Proto": "https"},
    {"X-Original-URL": "http://localhost/ping"},
    {"X-Original-URI": "/public/x"},
    {"X-Original-Method": "OPTIONS", "X-Forwarded-Method": "OPTIONS"},
    {"X-Rewrite-URL": "/public/x"},
    {"X-Auth-Request-Redirect": "/public/x"},
    {"X-HTTP-Method-Override": "OPTIONS"},
    {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"},
    {"X-Forwarded-User": "admin", "X-Forwarded-Email": "admin@example.com"},
    {"X-Auth-Request-User": "admin", "X-Auth-Request-Email": "admin@example.com"},
    {"X_Forwarded_User": "admin", "X_Auth_Request_Email": "admin@example.com"},
    {"X-Auth-Request-Groups": "admins", "GAP-Auth": "admin@example.com"},
    {"Remote-User": "admin", "X-Remote-User": "admin", "X-WEBAUTH-USER": "admin"},
    {"X-Authsvc-Allowed-Groups": "", "X-Envoy-Internal": "true"},
    {"Authorization": "Basic " + base64.b64encode(b"admin:admin").decode()},
    {"Authorization": "Bearer not-a-jwt"},
    {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."},
    {"Cookie": "_authsvc=; _authsvc_0=junk; _oauth2_proxy=x"},
    {"Cookie": "_authsvc=" + "A" * 4000},
    {"Host": "localhost"},
    {"X-Forwarded-Host": "localhost", "X-Forwarded-Proto": "https"},
]


@pytest.mark.parametrize("headers", HOSTILE, ids=lambda h: ",".join(h)[:60])
@pytest.mark.parametrize("kind", ["auto", "nginx", "ingress-nginx", "traefik", "caddy", "envoy"])
async def test_no_hostile_header_gives_a_2xx_without_a_session(kind: str, headers: dict[str, str]) -> None:
    settings = make_settings(
        email_domains=["*"], proxy_kind=kind, skip_auth_routes=PUBLIC, skip_jwt_bearer_tokens=True,
    )
    async with AuthApp.start(settings) as app:
        for path in ("/oauth2/auth", "/oauth2/auth?allowed_groups=x", "/oauth2/auth/private"):
            for method in ("GET", "HEAD", "POST", "OPTIONS"):
                response = await app.auth(path, headers=headers, method=method, peer=STRANGER)
                assert response.status_code in (401, 403), (path, method, response.status_code)


@pytest.mark.parametrize("headers", HOSTILE, ids=lambda h: ",".join(h)[:60])
async def test_from_the_trusted_nginx_only_its_own_headers_count(headers: dict[str, str]) -> None:
    settings = make_settings(
        email_domains=["*"], proxy_kind="nginx", skip_auth_routes=PUBLIC, skip_jwt_bearer_tokens=True,
    )
    async with AuthApp.start(settings) as app:
        response = await app.auth(
            headers={"X-Original-URI": "/private", "X-Original-Method": "GET", **headers}
        )
        allowed = headers.get("X-Original-URI", "/private").startswith("/public/")
        assert response.status_code == (202 if allowed else 401)


async def test_a_session_identity_is_never_taken_from_request_headers() -> None:
    async with AuthApp.start(make_settings(email_domains=["*"])) as app:
        cookie = await app.cookie(user="ada", email="ada@example.com")
        response = await app.auth(cookie=cookie, headers={
            "X-Auth-Request-User": "admin", "X_Auth_Request_User": "admin",
            "X-Forwarded-User": "admin", "X-Auth-Request-Email": "admin@example.com",
        })
        assert response.status_code == 202
        assert response.headers["x-auth-request-user"] == "ada"
        assert response.headers["x-auth-request-email"] == "ada@example.com"


# --- issue 11 §1, through the app: real header names, spellings and repeats ---------------
@pytest.mark.parametrize(("proxy", "kind"), CASES, ids=CASE_IDS)
async def test_no_client_header_makes_a_protected_path_public(proxy: str, kind: str) -> None:
    """Behind each proxy configuration (examples/ and oauth2-proxy's docs) and each kind an
    operator may name for it, no header set a client adds turns the check into a 2xx."""
    model = PROXIES[proxy]
    settings = make_settings(
        email_domains=["*"], proxy_kind=kind, skip_auth_routes=SKIP_ROUTES,
        skip_auth_preflight=True,
    )
    async with AuthApp.start(settings) as app:
        client = app.client()
        for name, spoof in spoof_sets(REAL_HOST).items():
            check = model.with_client([*spoof, ("Accept", "application/json")])
            response = await client.get(model.auth_path(), headers=check)
            assert response.status_code == 401, name
        # the control: the proxy's own description of a public path, or of a preflight, is
        # public exactly where the kind vouches for it
        public = [(n, v.replace(REAL_PATH, "/public/x")) for n, v in model.sends]
        response = await client.get(model.auth_path("/public/x"), headers=public)
        assert response.status_code == (202 if kind in model.vouches else 401)
        preflight = [(n, "OPTIONS" if n.endswith("Method") else v) for n, v in model.sends]
        method = "OPTIONS" if model.prefix_form else "GET"
        response = await client.request(method, model.auth_path(), headers=preflight)
        assert response.status_code == (202 if kind in model.vouches else 401)
