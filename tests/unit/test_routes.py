"""skip_auth_routes, skip_auth_preflight and api_routes: the path only, from trusted peers only.

Regression tests for oauth2-proxy's advisories (reference §8): GHSA-7rh7-c77v-6434 (query),
GHSA-pxq7-h93f-9jrg (fragment), GHSA-7x63-xv5r-3p2x / CVE-2026-76835 (spoofed X-Forwarded-Uri),
GHSA-vjrc-mh2v-45x6 (underscore headers).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from authsvc.check.paths import PathRules, canonical_path, parse_route
from authsvc.models import OriginalRequest
from tests.conftest import make_settings
from tests.support.auth_app import STRANGER, AuthApp

ROUTES = ["^/public/", "GET=^/status$", "POST=^/hooks/", "GET=^/docs/(?!private/)", "^/api/.*/status$"]


@pytest.mark.parametrize(
    ("entry", "method", "pattern"),
    [
        ("^/a$", "", "^/a$"),
        ("GET=^/a$", "GET", "^/a$"),
        ("get=^/a$", "GET", "^/a$"),
        ("^/q\\?x=1", "", "^/q\\?x=1"),  # an "=" inside the regex is not a method
        ("=^/a$", "", "=^/a$"),
    ],
)
def test_parse_route(entry: str, method: str, pattern: str) -> None:
    route = parse_route(entry)
    assert (route.method, route.pattern.pattern) == (method, pattern)


def test_parse_route_rejects_a_bad_regex() -> None:
    with pytest.raises(re.error):
        parse_route("GET=^/(")


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("/public/a", "/public/a"),
        ("/public/a%20b", "/public/a b"),
        ("/", "/"),
        ("/public/../admin", None),
        ("/public/./admin", None),
        ("/public/%2e%2e/admin", None),
        ("/public/%2E%2E/admin", None),
        ("/public/..;/admin", None),
        ("/public/.;x/admin", None),
        ("/public%2f..%2fadmin", None),
        ("/public%5c..%5cadmin", None),
        ("/public\\..\\admin", None),
        ("/public/%252e%252e/admin", None),  # double encoding
        ("/public/100%25", "/public/100%"),
        ("/public/%252f", None),
        ("/public/%00", None),
        ("/public/%0d%0a", None),
        ("/public/...", "/public/..."),
    ],
)
def test_canonical_path(raw: str, canonical: str | None) -> None:
    assert canonical_path(raw) == canonical


def rules(**options: Any) -> PathRules:
    return PathRules(options.get("skip", ROUTES), options.get("api", []), options.get("preflight", False))


def req(method: str, uri: str, verified: bool = True) -> OriginalRequest:
    return OriginalRequest(method, "https", "app.example.com", uri, verified)


@pytest.mark.parametrize(
    ("method", "uri", "skipped"),
    [
        ("GET", "/public/logo.png", True),
        ("DELETE", "/public/logo.png", True),
        ("GET", "/status", True),
        ("HEAD", "/status", False),  # GET= means GET only
        ("POST", "/hooks/x", True),
        ("GET", "/hooks/x", False),  # POST= means POST only
        ("GET", "/docs/guide", True),  # a negated path is a lookahead
        ("GET", "/docs/private/plan", False),
        ("GET", "/api/v1/status", True),
        # GHSA-7rh7-c77v-6434: the query never takes part
        ("GET", "/api/private?x=/status", False),
        ("GET", "/api/private/sensitive?path=/status", False),
        ("GET", "/admin?/public/", False),
        # GHSA-pxq7-h93f-9jrg: nor does a fragment
        ("GET", "/admin#/public/", False),
        ("GET", "/api/private#/status", False),
        # a path a backend reads as another one is never public
        ("GET", "/public/../admin", False),
        ("GET", "/public/%2e%2e/admin", False),
        ("GET", "/public/..;/admin", False),
        ("GET", "/public%2f..%2fadmin", False),
        ("GET", "/public/%ff", False),  # not UTF-8
        ("GET", "/admin", False),
        ("OPTIONS", "/admin", False),  # no skip_auth_preflight
    ],
)
def test_skip_routes_see_the_path_only(method: str, uri: str, skipped: bool) -> None:
    assert rules().skipped(req(method, uri)) is skipped


def test_an_unanchored_skip_route_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    rules(skip=["^/ok$", "GET=/status"])
    assert "'GET=/status' is not anchored" in caplog.text
    assert "^/ok$" not in caplog.text


def test_preflight() -> None:
    on = rules(skip=[], preflight=True)
    assert on.skipped(req("OPTIONS", "/admin"))
    assert not on.skipped(req("GET", "/admin"))
    assert not rules(skip=[]).skipped(req("OPTIONS", "/admin"))


@pytest.mark.parametrize(("method", "uri"), [("GET", "/public/logo.png"), ("OPTIONS", "/admin"),
                                           ("GET", "/status"), ("POST", "/hooks/x")])
def test_an_unverified_request_is_never_public(
    method: str, uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 11 §1: a description the proxy kind does not vouch for relaxes nothing."""
    on = rules(preflight=True)
    assert on.skipped(req(method, uri))
    with caplog.at_level("DEBUG", logger="authsvc.rules"):
        for _ in range(3):
            assert not on.skipped(req(method, uri, verified=False))
    # the first refusal says why at WARNING; the others only at DEBUG
    levels = [r.levelname for r in caplog.records if "not applied" in r.getMessage()]
    assert levels == ["WARNING", "DEBUG", "DEBUG"]


def test_an_unverified_request_that_is_not_public_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("DEBUG", logger="authsvc.rules"):
        assert not rules(preflight=True).skipped(req("GET", "/admin", verified=False))
    assert "not applied" not in caplog.text


def test_api_routes() -> None:
    api = rules(skip=[], api=["^/api/"])
    assert api.is_api(req("GET", "/api/x"))
    assert not api.is_api(req("GET", "/app/api/x"))
    assert not api.is_api(req("GET", "/app?x=/api/"))
    assert not rules(skip=[]).is_api(req("GET", "/api/x"))


# --- through the app --------------------------------------------------------------------------

def traefik(**options: Any) -> Any:
    return make_settings(
        email_domains=["example.com"], proxy_kind="traefik", skip_auth_routes=ROUTES, **options
    )


def fwd(uri: str, method: str = "GET") -> dict[str, str]:
    return {"X-Forwarded-Uri": uri, "X-Forwarded-Method": method, "X-Forwarded-Host": "app.example.com",
            "X-Forwarded-Proto": "https"}


@pytest.mark.anyio
async def test_a_skipped_route_is_2xx_with_empty_identity_headers() -> None:
    async with AuthApp.start(traefik(pass_access_token=True, set_authorization_header=True)) as app:
        response = await app.auth(headers=fwd("/public/logo.png"))
        assert response.status_code == 202
        for name in ("x-auth-request-user", "x-auth-request-email", "x-auth-request-groups",
                     "x-auth-request-access-token", "authorization"):
            assert response.headers[name] == ""
        # a session does not put a name on a public route either
        response = await app.auth(headers=fwd("/public/logo.png"), cookie=await app.cookie())
        assert (response.status_code, response.headers["x-auth-request-user"]) == (202, "")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "uri",
    ["/api/private?x=/status", "/api/private/sensitive?path=/status", "/admin#/public/",
     "/public/../admin", "/public/%2e%2e/admin", "/public/..;/admin"],
)
async def test_advisory_uris_are_not_skipped(uri: str) -> None:
    async with AuthApp.start(traefik()) as app:
        assert (await app.auth(headers=fwd(uri))).status_code == 401


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [
        fwd("/public/x"),  # GHSA-7x63-xv5r-3p2x: from a stranger it is only a header
        {"X-Original-URL": "https://app.example.com/public/x"},
        {"X-Original-URI": "/public/x"},
        {"X-Forwarded-Uri": "/status", "X-Forwarded-Method": "GET"},
    ],
)
async def test_forwarded_uri_from_an_untrusted_peer_is_ignored(headers: dict[str, str]) -> None:
    for kind in ("traefik", "nginx", "ingress-nginx", "caddy", "auto"):
        settings = make_settings(
            email_domains=["example.com"], proxy_kind=kind, skip_auth_routes=ROUTES
        )
        async with AuthApp.start(settings) as app:
            assert (await app.auth(headers=headers, peer=STRANGER)).status_code == 401, kind
            # the same headers from the trusted proxy do make the route public (control), but
            # only where the kind vouches for them: never under auto
            if kind in ("traefik", "caddy") and "X-Forwarded-Uri" in headers:
                assert (await app.auth(headers=headers)).status_code == 202


@pytest.mark.anyio
async def test_nginx_kind_reads_only_its_own_headers() -> None:
    settings = make_settings(email_domains=["example.com"], proxy_kind="nginx", skip_auth_routes=ROUTES)
    async with AuthApp.start(settings) as app:
        # nginx never sets X-Forwarded-Uri in our example: a client's copy changes nothing
        assert (await app.auth(headers={"X-Forwarded-Uri": "/public/x"})).status_code == 401
        ours = {"X-Original-URI": "/public/x", "X-Original-Method": "GET"}
        assert (await app.auth(headers=ours)).status_code == 202
        # the method is part of the contract: without it nothing is vouched for
        assert (await app.auth(headers={"X-Original-URI": "/public/x"})).status_code == 401
        # and the example blanks X-Forwarded-Uri: present, it is not our config
        spoof = {**ours, "X-Forwarded-Uri": "/public/x"}
        assert (await app.auth(headers=spoof)).status_code == 401


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [
        # GHSA-vjrc-mh2v-45x6: underscore twins of the headers we read are other headers
        {"X_Forwarded_Uri": "/public/x", "X_Forwarded_Method": "GET"},
        {"X_Original_URI": "/public/x"},
        {"X_Original_URL": "https://app.example.com/public/x"},
        {"X-Forwarded_Uri": "/public/x"},
    ],
)
async def test_underscore_headers_are_not_forwarded_headers(headers: dict[str, str]) -> None:
    for kind in ("traefik", "nginx", "ingress-nginx", "auto"):
        settings = make_settings(email_domains=["example.com"], proxy_kind=kind, skip_auth_routes=ROUTES)
        async with AuthApp.start(settings) as app:
            assert (await app.auth(headers=headers)).status_code == 401, kind


@pytest.mark.anyio
async def test_preflight_uses_the_original_method() -> None:
    async with AuthApp.start(traefik(skip_auth_preflight=True)) as app:
        assert (await app.auth(headers=fwd("/admin", "OPTIONS"))).status_code == 202
        assert (await app.auth(headers=fwd("/admin", "GET"))).status_code == 401
        # a stranger's claim that the request is a preflight is not believed
        assert (await app.auth(headers=fwd("/admin", "OPTIONS"), peer=STRANGER)).status_code == 401
        # nor is a method override
        overrides = {**fwd("/admin"), "X-HTTP-Method-Override": "OPTIONS", "X-Original-Method": "OPTIONS"}
        assert (await app.auth(headers=overrides)).status_code == 401


@pytest.mark.parametrize("entry", ["GET!=^/admin", "post!=^/hooks/", "!=^/api"])
def test_a_not_equal_route_is_refused_in_authsvcs_own_settings(entry: str) -> None:
    """`!=` meant every method but that one in authsvc 0.1 and the path negated in oauth2-proxy:
    either reading may make the wrong routes public, so authsvc's own settings refuse it and say
    how to write each (oauth2-proxy's files, variables and flags are rewritten to its meaning:
    tests/unit/test_oauth2_proxy_value_forms.py)."""
    from authsvc.config import ConfigError

    with pytest.raises(ConfigError, match=r"`!=` means two things.*GET=\^\(\?!/admin\)"):
        make_settings(email_domains=["example.com"], skip_auth_routes=[entry])


def test_route_classes_are_ascii_as_in_oauth2_proxys_go_regexes() -> None:
    """RE2's `\\d` is [0-9]: `^/api/v\\d+/public/` must not make `/api/v%D9%A1/public/x` (an
    Arabic-Indic digit U+0661, percent-encoded) public, nor `\\w` a Cyrillic name."""
    on = rules(skip=[r"^/api/v\d+/public/", r"^/u/\w+$"], api=[r"^/v\d/"])
    assert on.skipped(req("GET", "/api/v2/public/x"))
    assert not on.skipped(req("GET", "/api/v%D9%A1/public/x"))
    assert on.skipped(req("GET", "/u/ada"))
    assert not on.skipped(req("GET", "/u/%D0%B0da"))
    assert on.is_api(req("GET", "/v1/x")) and not on.is_api(req("GET", "/v%D9%A1/x"))
