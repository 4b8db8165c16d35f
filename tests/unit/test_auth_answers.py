"""What /oauth2/auth answers each client kind, and which identity headers a 2xx carries."""

from __future__ import annotations

from typing import Any

import pytest

from authsvc.models import Tokens
from tests.conftest import make_settings
from tests.support.auth_app import AuthApp

pytestmark = pytest.mark.anyio

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ORIGINAL = {"X-Forwarded-Host": "app.example.com", "X-Forwarded-Proto": "https"}

CLIENTS = [
    # (what, method, path, extra headers, answer behind a proxy that relays redirects)
    ("browser navigation", "GET", "/app", {"Accept": HTML}, 302),
    ("fetch-metadata navigation", "GET", "/app", {"Accept": HTML, "Sec-Fetch-Mode": "navigate"}, 302),
    ("HEAD navigation", "HEAD", "/app", {"Accept": HTML}, 302),
    ("fetch() from a page", "GET", "/app", {"Accept": HTML, "Sec-Fetch-Mode": "cors"}, 401),
    ("JSON client", "GET", "/app", {"Accept": "application/json"}, 401),
    ("JSON and HTML", "GET", "/app", {"Accept": "application/json, text/html"}, 401),
    ("XMLHttpRequest", "GET", "/app", {"Accept": HTML, "X-Requested-With": "XMLHttpRequest"}, 401),
    ("form POST", "POST", "/app", {"Accept": HTML}, 401),
    ("DELETE", "DELETE", "/app", {"Accept": HTML}, 401),
    ("api_routes path", "GET", "/api/items", {"Accept": HTML}, 401),
    ("odd path under api_routes", "GET", "/api/%ff", {"Accept": HTML}, 401),
    ("client with credentials", "GET", "/app", {"Accept": HTML, "Authorization": "Basic eDp5"}, 401),
    ("curl", "GET", "/app", {"Accept": "*/*"}, 401),
]


@pytest.mark.parametrize(
    ("what", "method", "path", "headers", "status"), CLIENTS, ids=[c[0] for c in CLIENTS]
)
@pytest.mark.parametrize("kind", ["traefik", "caddy", "nginx"])
async def test_client_kinds(
    kind: str, what: str, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    settings = make_settings(email_domains=["*"], proxy_kind=kind, api_routes=["^/api/"])
    uri = {"X-Original-URI": path, "X-Original-Method": method} if kind == "nginx" else {
        "X-Forwarded-Uri": path, "X-Forwarded-Method": method}
    async with AuthApp.start(settings) as app:
        response = await app.auth(headers={**ORIGINAL, **uri, **headers})
    # nginx's auth_request turns any 3xx into a 500: it only ever gets 401 (its error_page redirects)
    expected = 401 if kind == "nginx" else status
    assert response.status_code == expected
    if expected == 302:
        assert response.headers["location"].startswith("https://app.example.com/oauth2/start?rd=")


async def test_redirect_browsers_can_be_turned_off() -> None:
    settings = make_settings(email_domains=["*"], proxy_kind="traefik", redirect_browsers=False)
    async with AuthApp.start(settings) as app:
        response = await app.auth(headers={**ORIGINAL, "X-Forwarded-Uri": "/", "Accept": HTML})
        assert response.status_code == 401


HEADER_ROWS: list[tuple[dict[str, Any], dict[str, str | None]]] = [
    ({}, {"x-auth-request-user": "ada", "x-auth-request-email": "ada@example.com",
          "x-auth-request-groups": "admins,dev,org:team", "x-auth-request-preferred-username": "Ada",
          "x-auth-request-access-token": None, "authorization": None}),
    ({"pass_access_token": True}, {"x-auth-request-access-token": "at-1", "authorization": None}),
    ({"set_authorization_header": True}, {"authorization": "Bearer idt-1",
                                          "x-auth-request-access-token": None}),
    ({"pass_access_token": True, "set_authorization_header": True},
     {"x-auth-request-access-token": "at-1", "authorization": "Bearer idt-1"}),
    ({"set_xauthrequest": False, "pass_access_token": True},
     {"x-auth-request-user": None, "x-auth-request-access-token": None}),
]


@pytest.mark.parametrize(("options", "expected"), HEADER_ROWS)
async def test_identity_headers(options: dict[str, Any], expected: dict[str, str | None]) -> None:
    async with AuthApp.start(make_settings(email_domains=["*"], **options)) as app:
        cookie = await app.cookie(
            user="ada", email="ada@example.com", groups=("admins", "dev", "org:team"),
            preferred_username="Ada", tokens=Tokens(access_token="at-1", id_token="idt-1"),
        )
        response = await app.auth(cookie=cookie)
    assert response.status_code == 202
    for name, value in expected.items():
        assert response.headers.get(name) == value, name


async def test_an_empty_group_list_is_an_empty_header() -> None:
    async with AuthApp.start(make_settings(email_domains=["*"])) as app:
        response = await app.auth(cookie=await app.cookie())
    assert response.headers["x-auth-request-groups"] == ""


async def test_header_values_are_never_emitted_raw() -> None:
    async with AuthApp.start(make_settings(email_domains=["*"], pass_access_token=True)) as app:
        cookie = await app.cookie(
            user="ada\r\nSet-Cookie: x=1", email="ada\r\n@example.com",
            groups=("ad\nmins", "é", "日本", "a\x00b"), preferred_username="Zoë 🙂",
        )
        response = await app.auth(cookie=cookie)
    assert response.status_code == 202
    raw = [(k.decode("latin-1"), v) for k, v in response.headers.raw]
    for name, value in raw:
        assert b"\r" not in value and b"\n" not in value and b"\x00" not in value, name
        value.decode("ascii")  # visible ASCII only (RFC 9110 §5.5: the safe subset)
    names = [n.lower() for n, _ in raw]
    assert "set-cookie" not in names
    # controls are escaped, not dropped: "ad\nmins" is never read as "admins"
    assert response.headers["x-auth-request-user"] == "ada%0D%0ASet-Cookie: x=1"
    assert response.headers["x-auth-request-groups"] == "ad%0Amins,%C3%A9,%E6%97%A5%E6%9C%AC,a%00b"
    assert response.headers["x-auth-request-preferred-username"] == "Zo%C3%AB %F0%9F%99%82"


async def test_a_token_that_cannot_be_passed_on_unchanged_is_a_403() -> None:
    """A token is handed to APIs as is: one with CR/LF is refused, not trimmed into another."""
    async with AuthApp.start(make_settings(email_domains=["*"], pass_access_token=True)) as app:
        cookie = await app.cookie(user="ada", tokens=Tokens(access_token="at\r\nX-Evil: 1"))
        response = await app.auth(cookie=cookie)
    assert response.status_code == 403
    assert "x-evil" not in response.headers and "x-auth-request-user" not in response.headers
