"""GoogleProvider: OIDC at accounts.google.com, the `hd` check on the ID token, issuer spellings."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from authsvc.config import Settings, load_settings
from authsvc.errors import TokenError
from authsvc.models import Identity
from authsvc.providers import create_provider
from authsvc.providers.google import GoogleProvider
from tests.support.app_driver import REDIRECT_URI, app_driver
from tests.support.fake_idp import FakeIdP, ManualClock
from tests.support.provider_login import LOGIN, redeem_login

pytestmark = pytest.mark.anyio



def settings(**options: Any) -> Settings:
    base: dict[str, Any] = {"provider": "google", "cookie_secret": "a" * 32, "client_id": "client",
                            "client_secret": "secret", "email_domains": ["*"]}
    return load_settings(**{**base, **options})


async def login(idp: FakeIdP, http: httpx.AsyncClient, options: dict[str, Any], **user: Any) -> Identity:
    clock = ManualClock()
    idp.clock = clock
    provider = GoogleProvider(settings(**options), http, clock)
    identity, _ = await redeem_login(provider, lambda url: idp.authorize(url, **user).code)
    return identity


WORKSPACE = {"google_hosted_domains": ["example.com"]}


async def test_login_url_asks_google_with_the_hd_hint(fake_google: FakeIdP, http: httpx.AsyncClient) -> None:
    url = httpx.URL(await GoogleProvider(settings(**WORKSPACE), http, ManualClock()).login_url(
        LOGIN, REDIRECT_URI))
    assert str(url).startswith("https://accounts.google.com/authorize?")
    assert url.params["hd"] == "example.com" and url.params["scope"] == "openid email profile"
    assert "access_type" not in url.params
    assert fake_google.calls["discovery"] == 1  # discovered at Google's issuer
    several = GoogleProvider(settings(google_hosted_domains=["a.com", "b.com"], cookie_refresh="1h"),
                             http, ManualClock())
    url = httpx.URL(await several.login_url(LOGIN, REDIRECT_URI))
    assert (url.params["hd"], url.params["access_type"]) == ("*", "offline")


async def test_workspace_account_in_the_domain_signs_in(
    fake_google: FakeIdP, http: httpx.AsyncClient
) -> None:
    identity = await login(fake_google, http, WORKSPACE, email="ada@example.com", hd="Example.com")
    assert (identity.email, identity.email_verified) == ("ada@example.com", True)


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        ({"email": "ada@gmail.com"}, "no hosted domain"),  # a consumer account has no hd at all
        ({"email": "eve@evil.example", "hd": "evil.example"}, "hosted domain 'evil.example'"),
        # only userinfo says example.com: the ID token decides, and it has no hd
        ({"hd": "example.com", "userinfo_only": {"hd"}}, "no hosted domain"),
    ],
    ids=["no-hd", "other-hd", "hd-only-in-userinfo"],
)
async def test_accounts_outside_the_hosted_domains_are_refused(
    fake_google: FakeIdP, http: httpx.AsyncClient, user: dict[str, Any], reason: str
) -> None:
    with pytest.raises(TokenError, match=f"{reason}.*google_hosted_domains"):
        await login(fake_google, http, WORKSPACE, **user)


async def test_without_hosted_domains_any_account(fake_google: FakeIdP, http: httpx.AsyncClient) -> None:
    assert (await login(fake_google, http, {}, email="ada@gmail.com")).email == "ada@gmail.com"


@pytest.mark.parametrize("iss", ["https://accounts.google.com", "accounts.google.com"])
async def test_both_documented_issuer_spellings(
    fake_google: FakeIdP, http: httpx.AsyncClient, iss: str
) -> None:
    fake_google.id_token_overrides["iss"] = iss
    assert (await login(fake_google, http, {})).user == "user-1"


@pytest.mark.parametrize("iss", ["https://accounts.google.com.evil.example", "https://idp.example.test"])
async def test_other_issuers_are_refused(fake_google: FakeIdP, http: httpx.AsyncClient, iss: str) -> None:
    fake_google.id_token_overrides["iss"] = iss
    with pytest.raises(TokenError, match="iss"):
        await login(fake_google, http, {})


async def test_app_denies_another_domain_with_403_and_logs_why(
    fake_google: FakeIdP, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="authsvc")
    clock = ManualClock()
    fake_google.clock = clock
    async with app_driver(settings(**WORKSPACE), http, clock) as browser:
        response = await browser.login(lambda url: fake_google.callback_url(url, hd="other.example"))
        assert response.status_code == 403
        allowed = await browser.login(lambda url: fake_google.callback_url(url, hd="example.com"))
        assert allowed.status_code == 302
        assert (await browser.auth()).status_code == 202
    assert "Google hosted domain 'other.example' is not in google_hosted_domains" in caplog.text


async def test_factory_knows_google(http: httpx.AsyncClient) -> None:
    assert isinstance(create_provider(settings(), http, ManualClock()), GoogleProvider)
