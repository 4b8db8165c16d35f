"""Bad input gets a clear 4xx, never a 5xx, and /oauth2/auth never a 2xx without a session.

Property-based: hypothesis throws arbitrary cookies, headers, query values and bodies at every
endpoint of a real app (cookie store, per-route rules, skip routes, bearer tokens all on).
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from authsvc.context import Context
from authsvc.web.app import create_app
from tests.conftest import make_settings

# header values: any visible Latin-1 text (what a client can put on the wire), long ones too
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                      max_size=3000)
cookie_name = st.sampled_from(["_authsvc", "_authsvc_0", "_authsvc_1", "_authsvc_csrf_abc", "x"])
cookie_header = st.lists(st.tuples(cookie_name, header_text), max_size=4).map(
    lambda pairs: "; ".join(f"{n}={v}" for n, v in pairs)
)
forwarded = st.fixed_dictionaries(
    {},
    optional={
        "x-forwarded-uri": header_text, "x-forwarded-host": header_text,
        "x-forwarded-proto": header_text, "x-forwarded-method": header_text,
        "x-original-url": header_text, "x-original-uri": header_text,
        "x-original-method": header_text, "x-auth-request-redirect": header_text,
        "authorization": header_text, "accept": header_text, "x-requested-with": header_text,
        "host": header_text,
    },
)
query_value = st.text(max_size=500)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = create_app(Context.build(make_settings(
        email_domains=["example.com"], skip_auth_routes=["GET=^/public/"],
        api_routes=["^/api/"], skip_jwt_bearer_tokens=True, proxy_kind="auto",
    )))
    with TestClient(app, base_url="https://app.example.test", client=("127.0.0.1", 4000)) as c:
        yield c


def _headers(cookie: str, extra: dict[str, str]) -> dict[bytes, bytes]:
    """Raw Latin-1 octets, as a client can send them (httpx would insist on ASCII text)."""
    headers = {k: v for k, v in extra.items() if k != "host"}
    if cookie:
        headers["cookie"] = cookie
    return {k.encode(): v.encode("latin-1") for k, v in headers.items()}


@FUZZ
@given(cookie=cookie_header, extra=forwarded, query=query_value)
def test_auth_never_5xx_never_2xx_without_session(
    client: TestClient, cookie: str, extra: dict[str, str], query: str
) -> None:
    response = client.get(f"/oauth2/auth?allowed_groups={quote(query)}",
                          headers=_headers(cookie, extra))
    assert response.status_code < 500, response.text
    if response.status_code < 300:
        # only a public route may pass without a session, and then without any identity
        assert response.headers.get("x-auth-request-user", "") == ""
        assert response.headers.get("x-auth-request-email", "") == ""


@FUZZ
@given(cookie=cookie_header, state=query_value, code=query_value, error=st.none() | query_value)
def test_callback_never_5xx(
    client: TestClient, cookie: str, state: str, code: str, error: str | None
) -> None:
    params = {"state": state, "code": code}
    if error is not None:
        params["error"] = error
    response = client.get("/oauth2/callback", params=params, headers=_headers(cookie, {}))
    assert 400 <= response.status_code < 500
    assert "set-cookie" not in response.headers or "_authsvc=" not in "".join(
        c for c in response.headers.get_list("set-cookie") if not c.split("=", 1)[1].startswith(";")
    )


@FUZZ
@given(rd=query_value, cookie=cookie_header, extra=forwarded,
       path=st.sampled_from(["/oauth2/sign_out", "/oauth2/sign_in", "/oauth2/userinfo"]))
def test_redirecting_endpoints_never_5xx_nor_leave_the_site(
    client: TestClient, rd: str, cookie: str, extra: dict[str, str], path: str
) -> None:
    response = client.get(path, params={"rd": rd}, headers=_headers(cookie, extra),
                          follow_redirects=False)
    assert response.status_code < 500, response.text
    location = response.headers.get("location", "")
    if location.startswith(("http://", "https://", "//")):
        assert location.split("/")[2] == "app.example.test", location


@FUZZ
@given(body=st.binary(max_size=2000), content_type=header_text)
def test_backchannel_logout_never_5xx(client: TestClient, body: bytes, content_type: str) -> None:
    response = client.post("/oauth2/backchannel_logout", content=body,
                           headers={b"content-type": content_type.encode("latin-1")})
    assert response.status_code < 500 or response.status_code == 501  # 501: needs Redis
