"""Deeply nested JSON is a malformed token or a failed login: a 401 / 400 / 403 / 502, never a 500.

`[[[[…` far deeper than Python's recursion limit made json.loads raise RecursionError, which no
`except ValueError` caught. Here: in a bearer token's and a logout token's header, payload,
payload signed by the IdP's own key, and one claim; and in each of the IdP's JSON answers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx
from joserfc import jws
from joserfc.jwk import RSAKey

from authsvc.context import Context
from authsvc.jsonin import loads
from authsvc.web.app import create_app
from tests.conftest import make_settings
from tests.support.app_driver import asgi_client, with_demo_idp
from tests.support.fake_idp import FakeIdP, ManualClock
from tests.support.logout_store import MemoryLogoutStore

pytestmark = pytest.mark.anyio

BACKCHANNEL = "/oauth2/backchannel_logout"
LIMIT = 32 * 1024  # room for the nested tokens below

#: far deeper than sys.getrecursionlimit(), and small enough for a 16 KB bearer token
NESTED = {
    "arrays": "[" * 5000,
    "objects": '{"a":' * 2000,
    "mixed": '[{"a":' * 1200,
    "closed arrays": "[" * 3000 + "]" * 3000,
}


def b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(idp: FakeIdP, payload: str, typ: str = "JWT") -> str:
    """A compact JWS over raw payload bytes, signed with the IdP's real key."""
    header = {"alg": "RS256", "kid": idp.kid, "typ": typ}
    return jws.serialize_compact(header, payload.encode(), RSAKey.import_key(idp.key))


def shapes(idp: FakeIdP, nested: str, typ: str = "JWT") -> dict[str, str]:
    """The nesting in each place a token carries JSON."""
    header = b64(json.dumps({"alg": "RS256", "kid": idp.kid, "typ": typ}))
    claims = b64(json.dumps({"iss": idp.issuer, "aud": idp.client_id}))
    return {
        "header": f"{b64(nested)}.{claims}.c2ln",
        "payload": f"{header}.{b64(nested)}.c2ln",
        "signed payload": signed(idp, nested, typ),
        "nested claim": signed(idp, json.dumps({"iss": idp.issuer})[:-1] + ', "x": ' + nested),
    }


@pytest.fixture
def idp() -> Iterator[FakeIdP]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        fake = FakeIdP(clock=ManualClock())
        fake.mount(router)
        yield fake


@pytest.fixture
async def client(idp: FakeIdP) -> AsyncIterator[tuple[httpx.AsyncClient, MemoryLogoutStore]]:
    async with with_demo_idp(idp, max_request_body_bytes=LIMIT) as pair:
        yield pair


@pytest.mark.parametrize("nested", NESTED.values(), ids=NESTED.keys())
def test_loads_refuses_deep_nesting_as_bad_json(nested: str) -> None:
    with pytest.raises(ValueError):
        loads(nested)
    with pytest.raises(ValueError):
        loads(nested.encode())
    assert loads('{"a": [[1, {"b": null}]]}') == {"a": [[1, {"b": None}]]}  # ordinary depth is fine


@pytest.mark.parametrize("nested", NESTED.values(), ids=NESTED.keys())
async def test_a_nested_bearer_token_is_a_401(
    client: tuple[httpx.AsyncClient, MemoryLogoutStore], idp: FakeIdP, nested: str
) -> None:
    c, _ = client
    for where, token in shapes(idp, nested).items():
        assert len(token) < 16384, where
        response = await c.get("/oauth2/auth", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, where
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"', where


@pytest.mark.parametrize("nested", NESTED.values(), ids=NESTED.keys())
async def test_a_nested_logout_token_is_a_400(
    client: tuple[httpx.AsyncClient, MemoryLogoutStore], idp: FakeIdP, nested: str
) -> None:
    c, store = client
    for where, token in shapes(idp, nested, typ="logout+jwt").items():
        response = await c.post(BACKCHANNEL, data={"logout_token": token})
        assert response.status_code == 400, where
        assert response.json()["error"] == "invalid_request", where
    assert not store.ended


IDP_ANSWERS = ["discovery", "jwks", "token", "userinfo"]


@pytest.mark.parametrize("endpoint", IDP_ANSWERS)
async def test_a_nested_idp_answer_fails_the_login_without_a_500(endpoint: str) -> None:
    nested = ('{"a":' * 3000).encode()
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        idp = FakeIdP()
        url = idp.discovery_url if endpoint == "discovery" else idp.url(endpoint)
        route = router.route(url=url).mock(return_value=httpx.Response(200, content=nested))
        idp.mount(router)  # the routes above were added first: they win
        settings = make_settings(
            oidc_issuer_url=idp.issuer, client_id=idp.client_id, client_secret=idp.client_secret,
            email_domains=["example.com"],
        )  # fmt: skip
        services = Context.build(settings)
        try:
            async with asgi_client(create_app(services)) as c:
                start = await c.get("/oauth2/start")
                if endpoint == "discovery":
                    assert start.status_code == 502, start.text
                else:
                    assert start.status_code == 302
                    # without an e-mail in the ID token, the login asks userinfo for it
                    user = {"email": None} if endpoint == "userinfo" else {}
                    answer = await c.get(idp.callback_url(start.headers["location"], **user))
                    assert answer.status_code in (403, 502), answer.text
                    assert not any(v.startswith("_authsvc=") for v in answer.headers.get_list("set-cookie"))
                assert route.called
        finally:
            await services.aclose()
