"""providers/http.py: one error policy for every call to an identity provider."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from authsvc.errors import ProviderRefused, ProviderUnavailable, TokenError
from authsvc.providers import http as idp
from authsvc.providers.oidc import OIDCProvider
from tests.support.fake_idp import FakeIdP, ManualClock
from tests.unit.test_oidc_provider import LOGIN, REDIRECT, settings

pytestmark = pytest.mark.anyio

Answer = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
async def client() -> AsyncIterator[Callable[[Answer], httpx.AsyncClient]]:
    made: list[httpx.AsyncClient] = []

    def make(answer: Answer) -> httpx.AsyncClient:
        made.append(httpx.AsyncClient(transport=httpx.MockTransport(answer)))
        return made[-1]

    yield make
    for c in made:
        await c.aclose()


async def ask(
    http: httpx.AsyncClient, ok: tuple[int, ...] = (200,), service: bool = False, hint: str = ""
) -> httpx.Response:
    return await idp.call(
        http, "GET", "https://idp.test/x", what="the x endpoint", ok=ok, service=service, hint=hint
    )


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_5xx_and_429_are_unavailable_with_retry_after(
    client: Callable[[Answer], httpx.AsyncClient], status: int
) -> None:
    http = client(lambda r: httpx.Response(status, headers={"Retry-After": "7"}))
    with pytest.raises(ProviderUnavailable, match=f"the x endpoint: HTTP {status}") as caught:
        await ask(http)
    assert caught.value.retry_after == 7.0


def test_retry_after_is_capped_and_only_seconds() -> None:
    assert idp.retry_after(httpx.Response(429, headers={"Retry-After": "86400"})) == idp.MAX_RETRY_AFTER
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert idp.retry_after(httpx.Response(429, headers={"Retry-After": date})) is None
    assert idp.retry_after(httpx.Response(429)) is None


async def test_a_transport_error_is_unavailable_without_its_text(
    client: Callable[[Answer], httpx.AsyncClient],
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("https://idp.test/x?code=secret", request=request)

    with pytest.raises(ProviderUnavailable) as caught:
        await ask(client(refuse))
    assert caught.value.reason == "the x endpoint: ConnectError"


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_other_4xx_are_refusals_with_the_idps_error(
    client: Callable[[Answer], httpx.AsyncClient], status: int
) -> None:
    http = client(lambda r: httpx.Response(status, json={"error": "invalid_grant"}))
    with pytest.raises(ProviderRefused, match=f"HTTP {status} invalid_grant") as caught:
        await ask(http, hint=" (scope?)")
    assert caught.value.error == "invalid_grant"
    assert isinstance(caught.value, TokenError)
    assert caught.value.reason.endswith(" (scope?)") is (status != 400)


async def test_ok_lets_a_status_through(client: Callable[[Answer], httpx.AsyncClient]) -> None:
    assert (await ask(client(lambda r: httpx.Response(404)), ok=(200, 404))).status_code == 404


async def test_a_public_document_is_never_a_refusal(client: Callable[[Answer], httpx.AsyncClient]) -> None:
    with pytest.raises(ProviderUnavailable, match="HTTP 404"):
        await ask(client(lambda r: httpx.Response(404)), service=True)
    with pytest.raises(ProviderUnavailable, match="not JSON"):
        idp.json_value(httpx.Response(200, text="<html>"), "discovery", service=True)


def test_json_object() -> None:
    assert idp.json_object(httpx.Response(200, json={"a": 1}), "userinfo") == {"a": 1}
    with pytest.raises(TokenError, match="userinfo: the answer is not JSON"):
        idp.json_object(httpx.Response(200, text="eyJ.signed.jwt"), "userinfo")
    with pytest.raises(TokenError, match="not a JSON object"):
        idp.json_object(httpx.Response(200, json=[1]), "userinfo")


async def test_a_throttled_userinfo_is_unavailable_not_a_refusal(fake_idp: FakeIdP) -> None:
    """It was a TokenError (the login failed as 'rejected'); GitLab and Graph already said
    'try later' for a 429, and now every call does."""
    clock = ManualClock()
    fake_idp.clock = clock
    async with httpx.AsyncClient() as http:
        provider = OIDCProvider(settings(fake_idp), http, clock)
        grant = fake_idp.authorize(await provider.login_url(LOGIN, REDIRECT), userinfo_only={"email"})
        fake_idp.fail_next(1, status=429, endpoint="userinfo")
        with pytest.raises(ProviderUnavailable, match="userinfo: HTTP 429"):
            await provider.redeem(grant.code, LOGIN, REDIRECT)
