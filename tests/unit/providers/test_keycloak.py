"""KeycloakProvider: realm and client roles as role:<name> / role:<client>:<name> groups."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from authsvc.config import Settings, load_settings
from authsvc.errors import TokenError
from authsvc.models import Identity
from authsvc.providers import create_provider
from authsvc.providers.keycloak import KeycloakProvider, keycloak_roles
from tests.support.app_driver import app_driver
from tests.support.fake_idp import FakeIdP, ManualClock
from tests.support.provider_login import redeem_login

pytestmark = pytest.mark.anyio

REALM = "https://sso.example.test/realms/acme"
ROLES = {"realm_access": {"roles": ["admin", "offline_access"]},
         "resource_access": {"grafana": {"roles": ["editor"]}, "account": {"roles": ["view-profile"]}}}
EXPECTED = ("role:admin", "role:offline_access", "role:grafana:editor", "role:account:view-profile")


def settings(**options: Any) -> Settings:
    base: dict[str, Any] = {"provider": "keycloak-oidc", "cookie_secret": "a" * 32,
                            "client_id": "client", "client_secret": "secret",
                            "email_domains": ["*"], "oidc_issuer_url": REALM}
    return load_settings(**{**base, **options})


async def login(idp: FakeIdP, http: httpx.AsyncClient, **user: Any) -> Identity:
    clock = ManualClock()
    idp.clock = clock
    provider = KeycloakProvider(settings(), http, clock)
    identity, _ = await redeem_login(provider, lambda url: idp.authorize(url, **user).code)
    return identity


def jwt_access_token(idp: FakeIdP, **overrides: Any) -> str:
    """An access token shaped like Keycloak's: aud "account", azp our client, the roles."""
    claims: dict[str, Any] = {"aud": "account", "azp": "client", "typ": "Bearer",
                              "scope": "openid email profile", **ROLES, **overrides}
    return idp.mint_id_token(**claims)


def test_role_mapping() -> None:
    assert keycloak_roles(ROLES) == EXPECTED
    assert keycloak_roles({"realm_access": {"roles": "admin"}, "resource_access": ["x"]}) == ()


async def test_roles_from_the_id_token(fake_keycloak: FakeIdP, http: httpx.AsyncClient) -> None:
    identity = await login(fake_keycloak, http, groups=["/staff"], **ROLES)
    assert identity.groups == ("/staff", *EXPECTED)


async def test_roles_from_the_access_token_when_the_id_token_has_none(
    fake_keycloak: FakeIdP, http: httpx.AsyncClient
) -> None:
    fake_keycloak.clock = ManualClock()
    fake_keycloak.token_overrides["access_token"] = jwt_access_token(fake_keycloak)
    identity = await login(fake_keycloak, http, groups=["/staff"])
    assert identity.groups == ("/staff", *EXPECTED)


@pytest.mark.parametrize("typ", ["JWT", None, "at+jwt", "application/at+jwt"])
async def test_access_token_types_keycloak_may_send(
    fake_keycloak: FakeIdP, http: httpx.AsyncClient, typ: str | None
) -> None:
    fake_keycloak.clock = ManualClock()
    fake_keycloak.token_overrides["access_token"] = jwt_access_token(fake_keycloak, jose_typ=typ)
    identity = await login(fake_keycloak, http, groups=["/staff"])
    assert identity.groups == ("/staff", *EXPECTED)


async def test_opaque_access_token_means_no_roles(fake_keycloak: FakeIdP, http: httpx.AsyncClient) -> None:
    assert (await login(fake_keycloak, http, groups=["/staff"])).groups == ("/staff",)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"signing": "bad_signature"}, "signature"),
        ({"azp": "other-client"}, "azp"),
        ({"iss": "https://sso.example.test/realms/other"}, "iss"),
        ({"sub": "someone-else"}, "another subject"),
        ({"exp": 1_700_000_000 - 3600}, "expired"),
        ({"jose_typ": "logout+jwt"}, "typ"),
        ({"events": {"http://schemas.openid.net/event/backchannel-logout": {}}}, "events"),
    ],
    ids=["forged", "other-client", "other-realm", "other-subject", "expired", "logout-typ",
         "logout-events"],
)
async def test_a_bad_access_token_is_refused(
    fake_keycloak: FakeIdP, http: httpx.AsyncClient, overrides: dict[str, Any], reason: str
) -> None:
    fake_keycloak.clock = ManualClock()
    fake_keycloak.token_overrides["access_token"] = jwt_access_token(fake_keycloak, **overrides)
    with pytest.raises(TokenError, match=f"Keycloak access token.*{reason}"):
        await login(fake_keycloak, http, groups=["/staff"])


async def test_roles_work_in_allowed_groups(
    fake_keycloak: FakeIdP, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="authsvc")
    clock = ManualClock()
    fake_keycloak.clock = clock
    s = settings(allowed_groups=["role:grafana:editor"])
    async with app_driver(s, http, clock) as browser:
        viewer = {"resource_access": {"grafana": {"roles": ["viewer"]}}}
        denied = await browser.login(lambda url: fake_keycloak.callback_url(url, **viewer))
        assert denied.status_code == 403
        allowed = await browser.login(lambda url: fake_keycloak.callback_url(url, **ROLES))
        assert allowed.status_code == 302
        auth = await browser.auth()
    assert auth.status_code == 202
    assert "role:grafana:editor" in auth.headers["x-auth-request-groups"].split(",")
    assert "not in allowed_groups" in caplog.text


async def test_factory_knows_keycloak_oidc_and_keycloak(http: httpx.AsyncClient) -> None:
    for name in ("keycloak-oidc", "keycloak"):
        assert isinstance(create_provider(settings(provider=name), http, ManualClock()), KeycloakProvider)
