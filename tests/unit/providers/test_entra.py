"""EntraIDProvider: v2.0 endpoints, per-tenant issuers, tenant allow-list, groups overage via Graph."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
import respx

from authsvc.config import Settings, load_settings
from authsvc.errors import ConfigError, ProviderUnavailable, TokenError
from authsvc.models import Identity
from authsvc.providers import create_provider
from authsvc.providers.entra import EntraIDProvider
from authsvc.providers.metadata import ProviderMetadata
from tests.support.app_driver import REDIRECT_URI, app_driver
from tests.support.fake_idp import FakeIdP, ManualClock
from tests.support.provider_login import LOGIN, redeem_login
from tests.unit.providers.conftest import Entra

pytestmark = pytest.mark.anyio

CONTOSO = "72f988bf-86f1-41af-91ab-2d7cd011db47"
FABRIKAM = "0b0b0b0b-1111-2222-3333-444444444444"
GROUPS = [f"00000000-0000-0000-0000-{i:012d}" for i in range(250)]


def settings(**options: Any) -> Settings:
    base: dict[str, Any] = {"provider": "entra-id", "cookie_secret": "a" * 32, "client_id": "client",
                            "client_secret": "secret", "email_domains": ["*"],
                            "entra_id_allowed_tenants": [CONTOSO]}
    return load_settings(**{**base, **options})


def member_of(tid: str, **claims: Any) -> dict[str, Any]:
    """Claims of a user of tenant `tid`, as Entra ID's v2.0 ID token has them."""
    return {"tid": tid, "iss": f"https://login.microsoftonline.com/{tid}/v2.0",
            "email": "ada@contoso.example", "email_verified": None, "oid": "oid-1", **claims}


OVERAGE = {"_claim_names": {"groups": "src1"},
           "_claim_sources": {"src1": {"endpoint": f"https://graph.windows.net/{CONTOSO}/users/oid-1/getMemberObjects"}}}


async def login(idp: FakeIdP, http: httpx.AsyncClient, user: dict[str, Any], **options: Any) -> Identity:
    clock = ManualClock()
    idp.clock = clock
    provider = EntraIDProvider(settings(**options), http, clock)
    identity, _ = await redeem_login(provider, lambda url: idp.authorize(url, **user).code)
    return identity


async def test_login_url_uses_the_v2_authority_and_graph_scope(
    fake_entra: Entra, http: httpx.AsyncClient
) -> None:
    url = httpx.URL(await EntraIDProvider(settings(), http, ManualClock()).login_url(LOGIN, REDIRECT_URI))
    assert str(url).startswith("https://login.microsoftonline.com/common/v2.0/authorize?")
    assert url.params["scope"] == "openid email profile offline_access User.Read"
    assert fake_entra.idp.calls["discovery"] == 1


async def test_user_of_an_allowed_tenant(fake_entra: Entra, http: httpx.AsyncClient) -> None:
    identity = await login(fake_entra.idp, http, member_of(CONTOSO, groups=GROUPS[:3]))
    assert (identity.email, identity.groups) == ("ada@contoso.example", tuple(GROUPS[:3]))
    assert fake_entra.graph.calls["getMemberObjects"] == 0  # the token listed the groups
    assert fake_entra.idp.calls["userinfo"] == 0


@pytest.mark.parametrize(
    ("user", "options", "reason"),
    [
        (member_of(FABRIKAM), {}, f"tenant {FABRIKAM} is not in entra_id_allowed_tenants"),
        # signed by Entra for tenant FABRIKAM, but claiming to be from CONTOSO
        ({**member_of(CONTOSO), "iss": f"https://login.microsoftonline.com/{FABRIKAM}/v2.0"}, {}, "iss"),
        ({**member_of(CONTOSO), "tid": None}, {}, "no tenant id"),
        ({**member_of(CONTOSO), "tid": "{tenantid}"}, {}, "no tenant id"),
        (member_of(CONTOSO, xms_edov=False), {}, "email_verified"),
    ],
    ids=["tenant-not-allowed", "iss-of-another-tenant", "no-tid", "template-as-tid", "xms_edov-false"],
)
async def test_denials(
    fake_entra: Entra, http: httpx.AsyncClient, user: dict[str, Any], options: dict[str, Any], reason: str
) -> None:
    with pytest.raises(TokenError, match=reason):
        await login(fake_entra.idp, http, user, **options)


async def test_any_tenant_with_star(fake_entra: Entra, http: httpx.AsyncClient) -> None:
    identity = await login(fake_entra.idp, http, member_of(FABRIKAM), entra_id_allowed_tenants=["*"])
    assert identity.email == "ada@contoso.example"


async def test_groups_overage_asks_microsoft_graph(fake_entra: Entra, http: httpx.AsyncClient) -> None:
    fake_entra.graph.groups["user-1"] = GROUPS
    identity = await login(fake_entra.idp, http, member_of(CONTOSO, **OVERAGE))
    assert identity.groups == tuple(GROUPS)
    [request] = fake_entra.graph.requests
    assert (request.method, str(request.url)) == ("POST", "https://graph.microsoft.com/v1.0/me/getMemberObjects")
    assert json.loads(request.content) == {"securityEnabledOnly": False}
    assert request.headers["authorization"].startswith("Bearer ")
    assert "graph.windows.net" not in str(request.url)  # the token's own endpoint is not trusted


async def test_groups_overage_follows_odata_next_links(fake_entra: Entra, http: httpx.AsyncClient) -> None:
    fake_entra.graph.groups["user-1"] = GROUPS
    fake_entra.graph.page_size = 100
    identity = await login(fake_entra.idp, http, member_of(CONTOSO, **OVERAGE))
    assert identity.groups == tuple(GROUPS)
    assert [r.method for r in fake_entra.graph.requests] == ["POST", "GET", "GET"]


@pytest.mark.parametrize(("status", "error"), [(503, ProviderUnavailable), (429, ProviderUnavailable),
                                               (403, TokenError)])
async def test_graph_failures(
    fake_entra: Entra, http: httpx.AsyncClient, status: int, error: type[Exception]
) -> None:
    fake_entra.graph.status = status
    with pytest.raises(error, match="Microsoft Graph"):
        await login(fake_entra.idp, http, member_of(CONTOSO, **OVERAGE))


async def test_single_tenant_pins_the_issuer(http: httpx.AsyncClient) -> None:
    idp = FakeIdP(issuer=f"https://login.microsoftonline.com/{CONTOSO}/v2.0")
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        idp.mount(router)
        only = {"entra_id_tenant": CONTOSO, "entra_id_allowed_tenants": []}
        assert (await login(idp, http, member_of(CONTOSO), **only)).email == "ada@contoso.example"
        with pytest.raises(TokenError, match="iss"):
            await login(idp, http, member_of(FABRIKAM), **only)


@pytest.mark.parametrize(
    ("tenant", "published", "ok"),
    [
        ("contoso.onmicrosoft.com", CONTOSO, True),  # a domain tenant publishes its GUID
        ("contoso.onmicrosoft.com", "{tenantid}", False),
        (CONTOSO, FABRIKAM, False),
        ("organizations", CONTOSO, False),
    ],
)
async def test_discovery_issuer_must_fit_the_tenant(
    http: httpx.AsyncClient, tenant: str, published: str, ok: bool
) -> None:
    idp = FakeIdP(issuer=f"https://login.microsoftonline.com/{tenant}/v2.0")
    idp.discovery_overrides["issuer"] = f"https://login.microsoftonline.com/{published}/v2.0"
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        idp.mount(router)
        provider = EntraIDProvider(settings(entra_id_tenant=tenant), http, ManualClock())
        if ok:
            await provider.ready()
        else:
            with pytest.raises(ProviderUnavailable, match="does not fit entra_id_tenant"):
                await provider.ready()


async def test_factory_knows_entra_id_and_azure(http: httpx.AsyncClient) -> None:
    for name in ("entra-id", "azure"):
        assert isinstance(create_provider(settings(provider=name), http, ManualClock()), EntraIDProvider)


# --- through the ASGI app ---------------------------------------------------------------
async def test_app_login_with_overage_then_auth_202(fake_entra: Entra, http: httpx.AsyncClient) -> None:
    clock = ManualClock()
    fake_entra.idp.clock = clock
    fake_entra.graph.groups["user-1"] = GROUPS[:2]
    async with app_driver(settings(), http, clock) as browser:
        callback = await browser.login(
            lambda url: fake_entra.idp.callback_url(url, **member_of(CONTOSO, **OVERAGE)))
        assert callback.status_code == 302 and callback.headers["location"] == "/dashboard"
        auth = await browser.auth()
    assert auth.status_code == 202
    assert auth.headers["x-auth-request-email"] == "ada@contoso.example"
    assert auth.headers["x-auth-request-groups"] == ",".join(GROUPS[:2])


async def test_app_refuses_another_tenant_with_403_and_logs_why(
    fake_entra: Entra, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="authsvc")
    clock = ManualClock()
    fake_entra.idp.clock = clock
    async with app_driver(settings(), http, clock) as browser:
        callback = await browser.login(lambda url: fake_entra.idp.callback_url(url, **member_of(FABRIKAM)))
        assert callback.status_code == 403
        assert (await browser.auth()).status_code == 401
    assert f"Entra ID tenant {FABRIKAM} is not in entra_id_allowed_tenants" in caplog.text


# --- RFC 9207 against a tenant template -------------------------------------------------
TEMPLATE_ISSUER = "https://login.microsoftonline.com/{tenantid}/v2.0"


@pytest.mark.parametrize(
    ("options", "issuer", "iss", "ok"),
    [
        ({}, TEMPLATE_ISSUER, f"https://login.microsoftonline.com/{CONTOSO}/v2.0", True),
        ({}, TEMPLATE_ISSUER, f"https://login.microsoftonline.com/{FABRIKAM}/v2.0", False),
        ({"entra_id_allowed_tenants": ["*"]}, TEMPLATE_ISSUER,
         f"https://login.microsoftonline.com/{FABRIKAM}/v2.0", True),
        ({}, TEMPLATE_ISSUER, TEMPLATE_ISSUER, False),
        ({}, TEMPLATE_ISSUER, "https://login.microsoftonline.com/contoso.example/v2.0", False),
        ({}, TEMPLATE_ISSUER, f"https://evil.example/{CONTOSO}/v2.0", False),
        ({"entra_id_tenant": CONTOSO}, f"https://login.microsoftonline.com/{CONTOSO}/v2.0",
         f"https://login.microsoftonline.com/{CONTOSO}/v2.0", True),
        ({"entra_id_tenant": CONTOSO}, f"https://login.microsoftonline.com/{CONTOSO}/v2.0",
         f"https://login.microsoftonline.com/{FABRIKAM}/v2.0", False),
    ],
)  # fmt: skip
async def test_response_iss_fits_the_tenant(
    http: httpx.AsyncClient, options: dict[str, Any], issuer: str, iss: str, ok: bool
) -> None:
    provider = EntraIDProvider(settings(**options), http, ManualClock())
    meta = ProviderMetadata(issuer=issuer, authorization_endpoint="a", token_endpoint="t", jwks_uri="j")
    assert provider._our_issuer(iss, meta) is ok


# --- entra_id_graph_group_field (oauth2-proxy's azure_graph_group_field) ------------------
NAMES = {GROUPS[0]: "Ops", GROUPS[1]: "Finance", GROUPS[2]: "Ops EU"}


async def test_display_names_come_from_transitive_member_of(
    fake_entra: Entra, http: httpx.AsyncClient
) -> None:
    fake_entra.graph.groups["user-1"] = GROUPS[:3]
    fake_entra.graph.names.update(NAMES)
    identity = await login(fake_entra.idp, http, member_of(CONTOSO, groups=GROUPS[:1]),
                           entra_id_graph_group_field="displayName")
    # the token's ids, then Graph's names (oauth2-proxy's union)
    assert identity.groups == (GROUPS[0], "Ops", "Finance", "Ops EU")
    [request] = fake_entra.graph.requests
    assert (request.method, request.url.path) == ("GET", "/v1.0/me/transitiveMemberOf")
    assert dict(request.url.params) == {"$count": "true", "$filter": "securityEnabled eq true",
                                        "$select": "displayName,id", "$top": "999"}
    assert request.headers["consistencylevel"] == "eventual"
    assert fake_entra.graph.calls["getMemberObjects"] == 0


async def test_another_group_property_is_selected_too(fake_entra: Entra, http: httpx.AsyncClient) -> None:
    fake_entra.graph.groups["user-1"] = GROUPS[:1]
    identity = await login(fake_entra.idp, http, member_of(CONTOSO, **OVERAGE),
                           entra_id_graph_group_field="id")
    assert identity.groups == (GROUPS[0],) and fake_entra.graph.calls["transitiveMemberOf"] == 0
    fake_entra.graph.requests.clear()
    await login(fake_entra.idp, http, member_of(CONTOSO), entra_id_graph_group_field="mailNickname")
    [request] = fake_entra.graph.requests
    assert request.url.params["$select"] == "displayName,id,mailNickname"


async def test_display_names_page_and_skip_groups_graph_would_not_name(
    fake_entra: Entra, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake_entra.graph.groups["user-1"] = GROUPS[:5]
    fake_entra.graph.names.update(NAMES)  # GROUPS[3:5]: no displayName (as with User.Read alone)
    fake_entra.graph.page_size = 2
    identity = await login(fake_entra.idp, http, member_of(CONTOSO, **OVERAGE),
                           entra_id_graph_group_field="displayName")
    assert identity.groups == ("Ops", "Finance", "Ops EU")
    assert [r.url.params.get("$skiptoken") for r in fake_entra.graph.requests] == [None, "2", "4"]
    assert "2 groups without displayName" in caplog.text


@pytest.mark.parametrize("value", ["", "display name", "id,displayName", "$select"])
def test_graph_group_field_must_be_a_property_name(value: str) -> None:
    with pytest.raises(ConfigError, match="entra_id_graph_group_field"):
        settings(entra_id_graph_group_field=value)


@pytest.mark.parametrize(("field", "allowed", "status"), [
    ("displayName", "Finance", 202), ("displayName", "Marketing", 403), ("id", "Finance", 403),
])  # fmt: skip
async def test_app_allowed_groups_by_display_name(
    fake_entra: Entra, http: httpx.AsyncClient, field: str, allowed: str, status: int
) -> None:
    clock = ManualClock()
    fake_entra.idp.clock = clock
    fake_entra.graph.groups["user-1"] = GROUPS[:2]
    fake_entra.graph.names.update(NAMES)
    options = {"entra_id_graph_group_field": field, "allowed_groups": [allowed]}
    async with app_driver(settings(**options), http, clock) as browser:
        callback = await browser.login(
            lambda url: fake_entra.idp.callback_url(url, **member_of(CONTOSO, groups=GROUPS[:2])))
        assert callback.status_code == (302 if status == 202 else 403)
        auth = await browser.auth()
    assert auth.status_code == (202 if status == 202 else 401)
    if status == 202:
        assert auth.headers["x-auth-request-groups"] == ",".join([*GROUPS[:2], "Ops", "Finance"])


async def test_a_group_named_like_another_groups_id_is_not_that_group(
    fake_entra: Entra, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # ids and names share one list (oauth2-proxy's union), and allowed_groups may still list ids:
    # a security group a user made (Entra lets users create them by default) whose displayName
    # is the admins group's object id must not pass as the admins group
    fake_entra.graph.groups["user-1"] = GROUPS[7:8]
    fake_entra.graph.names.update({GROUPS[7]: GROUPS[1].upper()})
    identity = await login(fake_entra.idp, http, member_of(CONTOSO, groups=GROUPS[7:8]),
                           entra_id_graph_group_field="displayName")
    assert identity.groups == (GROUPS[7],)
    assert "1 group named like an object id" in caplog.text
