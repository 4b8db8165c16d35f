"""google_groups and google_use_organization_id: the Admin SDK Directory API (respx fakes
asserting each request and the scopes the service account's JWT asks for)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx
import pytest
import respx
from joserfc import jwt
from joserfc.jwk import RSAKey

from authsvc.config import Settings, load_settings
from authsvc.errors import ConfigError, ProviderUnavailable, TokenError
from authsvc.providers.google import GoogleProvider
from authsvc.providers.google_groups import DIRECTORY, IAM_SIGN, METADATA, SCOPE, TOKEN_URI, USER_SCOPES
from tests.support.fake_idp import FakeIdP, ManualClock
from tests.support.provider_login import redeem_login

pytestmark = pytest.mark.anyio

SA_EMAIL = "groups-reader@project.iam.gserviceaccount.com"
ADMIN = "admin@example.com"


@dataclass
class FakeGoogleAPIs:
    """oauth2.googleapis.com/token, the Directory API, the metadata server and IAM signJwt."""

    key: RSAKey
    #: what IAM signJwt signs with (the service account's key, held by Google)
    private: RSAKey
    members: dict[str, set[str]]
    errors: list[str] = field(default_factory=list)
    tokens: int = 0
    signed: list[dict[str, Any]] = field(default_factory=list)
    #: the Directory API answers 403 (credentials without domain-wide delegation)
    refuse: bool = False
    token = "directory-token"
    #: the scope the JWT assertion must ask for
    scope: str = SCOPE
    #: users.get: e-mail -> the user's externalIds
    users: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    user_requests: list[httpx.Request] = field(default_factory=list)

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.errors.append(problem)

    def token_endpoint(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.check(form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer", "grant_type")
        claims = jwt.decode(form["assertion"], self.key, algorithms=["RS256"]).claims
        # RFC 7523 2.1 + Google's domain-wide delegation: iss the SA, sub the admin, our scope
        self.check(claims["iss"] == SA_EMAIL, f"iss {claims['iss']}")
        self.check(claims["sub"] == ADMIN, f"sub {claims['sub']}")
        self.check(claims["scope"] == self.scope and claims["aud"] == TOKEN_URI,
                   f"scope {claims['scope']!r} / aud")
        self.check(claims["exp"] - claims["iat"] <= 3600, "exp")
        self.tokens += 1
        return httpx.Response(200, json={"access_token": self.token, "expires_in": 3600})

    def has_member(self, request: httpx.Request) -> httpx.Response:
        self.check(request.headers.get("authorization") == f"Bearer {self.token}", "bearer")
        if self.refuse:
            return httpx.Response(403, json={"error": {"code": 403}})
        parts = request.url.raw_path.decode().split("/")
        group, member = unquote(parts[-3]), unquote(parts[-1])
        if group not in self.members:
            return httpx.Response(404, json={"error": {"code": 404}})
        return httpx.Response(200, json={"isMember": member in self.members[group]})

    def get_user(self, request: httpx.Request) -> httpx.Response:
        # developers.google.com/admin-sdk/directory/reference/rest/v1/users/get
        self.user_requests.append(request)
        self.check(request.headers.get("authorization") == f"Bearer {self.token}", "bearer")
        self.check(request.url.params.get("fields") == "externalIds", f"fields {request.url.query!r}")
        email = unquote(request.url.raw_path.decode().split("?")[0].split("/")[-1])
        if email not in self.users:
            return httpx.Response(404, json={"error": {"code": 404,
                                                       "message": "Resource Not Found: userKey"}})
        ids = self.users[email]
        return httpx.Response(200, json={"externalIds": ids} if ids else {})

    def metadata_token(self, request: httpx.Request) -> httpx.Response:
        self.check(request.headers.get("metadata-flavor") == "Google", "Metadata-Flavor")
        return httpx.Response(200, json={"access_token": "platform-token", "expires_in": 3600})

    def sign_jwt(self, request: httpx.Request) -> httpx.Response:
        self.check(request.headers.get("authorization") == "Bearer platform-token", "platform token")
        payload = json.loads(json.loads(request.content)["payload"])
        self.signed.append(payload)
        return httpx.Response(200, json={"signedJwt": jwt.encode({"alg": "RS256"}, payload, self.private)})

    def mount(self, router: respx.MockRouter) -> None:
        router.post(TOKEN_URI).mock(side_effect=self.token_endpoint)
        router.get(url__startswith=f"{DIRECTORY}/groups/").mock(side_effect=self.has_member)
        router.get(url__startswith=f"{DIRECTORY}/users/").mock(side_effect=self.get_user)
        router.get(f"{METADATA}/token").mock(side_effect=self.metadata_token)
        router.post(IAM_SIGN.format(SA_EMAIL)).mock(side_effect=self.sign_jwt)


@pytest.fixture
def apis(tmp_path: Path) -> Iterator[tuple[FakeIdP, FakeGoogleAPIs, Path]]:
    key = RSAKey.generate_key(2048, private=True)
    sa = tmp_path / "sa.json"
    sa.write_text(json.dumps({"type": "service_account", "client_email": SA_EMAIL,
                              "private_key": key.as_pem(private=True).decode(), "private_key_id": "k1",
                              "token_uri": TOKEN_URI}))
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        idp = FakeIdP(issuer="https://accounts.google.com")
        idp.mount(router)
        google = FakeGoogleAPIs(RSAKey.import_key(key.as_dict(private=False)), key,
                                {"eng@example.com": {"ada@example.com"}, "ops@example.com": set()})
        google.mount(router)
        yield idp, google, sa
    assert not google.errors, google.errors


async def login_as(idp: FakeIdP, s: Settings, email: str) -> tuple[str, ...]:
    clock = ManualClock()
    idp.clock = clock
    async with httpx.AsyncClient() as http:
        provider = GoogleProvider(s, http, clock)
        identity, _ = await redeem_login(provider, lambda url: idp.authorize(url, email=email).code)
    return identity.groups


def settings(**options: Any) -> Settings:
    base: dict[str, Any] = {"provider": "google", "cookie_secret": "a" * 32, "client_id": "client",
                            "client_secret": "secret", "email_domains": ["*"]}
    return load_settings(**{**base, **options})


async def test_member_of_a_group_signs_in_with_it(apis: tuple[FakeIdP, FakeGoogleAPIs, Path]) -> None:
    idp, google, sa = apis
    s = settings(google_groups=["eng@example.com", "ops@example.com", "gone@example.com"],
                 google_admin_email=ADMIN, google_service_account_json=str(sa))
    clock = ManualClock()
    idp.clock = clock
    async with httpx.AsyncClient() as http:
        provider = GoogleProvider(s, http, clock)
        identity, _ = await redeem_login(
            provider, lambda url: idp.authorize(url, email="ada@example.com").code)
        assert identity.groups == ("eng@example.com",)
        with pytest.raises(TokenError, match="none of google_groups"):
            await redeem_login(provider, lambda url: idp.authorize(url, email="eve@example.com").code)
    assert google.tokens == 1  # the access token is reused


async def test_application_default_credentials_sign_with_iam(
    apis: tuple[FakeIdP, FakeGoogleAPIs, Path]
) -> None:
    idp, google, _ = apis
    s = settings(google_groups=["eng@example.com"], google_admin_email=ADMIN,
                 google_use_application_default_credentials=True, google_target_principal=SA_EMAIL)
    assert await login_as(idp, s, "ada@example.com") == ("eng@example.com",)
    (payload,) = google.signed
    assert (payload["iss"], payload["sub"], payload["scope"]) == (SA_EMAIL, ADMIN, SCOPE)


async def test_refused_credentials_fail_closed(apis: tuple[FakeIdP, FakeGoogleAPIs, Path]) -> None:
    idp, google, sa = apis
    google.refuse = True
    s = settings(google_groups=["eng@example.com"], google_admin_email=ADMIN,
                 google_service_account_json=str(sa))
    with pytest.raises(ProviderUnavailable, match="HTTP 403"):
        await login_as(idp, s, "ada@example.com")


def test_google_groups_from_the_chart_flags(apis: tuple[FakeIdP, FakeGoogleAPIs, Path]) -> None:
    """The chart passes --google-admin-email, --google-service-account-json and --google-group."""
    from authsvc.cli import config_input, parse
    from authsvc.config.sources import load

    _, _, sa = apis
    args = parse(["--client-id=c", "--client-secret=s", "--cookie-secret=" + "a" * 32,
                  f"--google-admin-email={ADMIN}", f"--google-service-account-json={sa}",
                  "--google-group=eng@example.com", "--google-group=ops@example.com"])
    s = load(config_input(args)).settings
    assert s.google_groups == ["eng@example.com", "ops@example.com"]
    assert (s.provider, s.google_admin_email) == ("google", ADMIN)


def test_configuration_checks(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"google_admin_email .*required"):
        settings(google_groups=["eng@example.com"])
    with pytest.raises(ConfigError, match="exactly one"):
        settings(google_groups=["eng@example.com"], google_admin_email=ADMIN)
    bad = tmp_path / "sa.json"
    bad.write_text("{}")
    with pytest.raises(ConfigError, match="not a service account key"):
        settings(google_groups=["e@example.com"], google_admin_email=ADMIN,
                 google_service_account_json=str(bad))
    with pytest.raises(ConfigError, match="provider 'google' only"):
        settings(provider="oidc", oidc_issuer_url="https://idp.example", google_groups=["e@example.com"],
                 google_admin_email=ADMIN, google_use_application_default_credentials=True)


# --- google_use_organization_id, google_admin_api_user_scope -------------------------------
ORG = [{"type": "custom", "customType": "badge", "value": "B-7"}, {"type": "organization", "value": "E1234"}]


async def login_identity(idp: FakeIdP, s: Settings, email: str) -> Any:
    clock = ManualClock()
    idp.clock = clock
    async with httpx.AsyncClient() as http:
        identity, _ = await redeem_login(GoogleProvider(s, http, clock),
                                         lambda url: idp.authorize(url, email=email).code)
    return identity


@pytest.mark.parametrize(("user_scope", "scope"), [
    ({}, USER_SCOPES[""]),
    ({"google_admin_api_user_scope": "user"}, "https://www.googleapis.com/auth/admin.directory.user"),
    ({"google_admin_api_user_scope": "cloud"}, "https://www.googleapis.com/auth/cloud-platform"),
])  # fmt: skip
async def test_organization_id_is_the_preferred_username(
    apis: tuple[FakeIdP, FakeGoogleAPIs, Path], user_scope: dict[str, str], scope: str
) -> None:
    idp, google, sa = apis
    google.users["ada@example.com"] = ORG
    google.scope = scope  # only the user scope: no google_groups here
    s = settings(google_use_organization_id=True, google_admin_email=ADMIN,
                 google_service_account_json=str(sa), **user_scope)
    identity = await login_identity(idp, s, "ada@example.com")
    assert (identity.preferred_username, identity.email) == ("E1234", "ada@example.com")
    [request] = google.user_requests
    assert request.url.path == "/admin/directory/v1/users/ada@example.com"
    assert google.tokens == 1


async def test_groups_and_organization_id_share_one_token(apis: tuple[FakeIdP, FakeGoogleAPIs, Path]) -> None:
    idp, google, _ = apis
    google.users["ada@example.com"] = ORG
    google.scope = f"{SCOPE} {USER_SCOPES['']}"
    s = settings(google_groups=["eng@example.com"], google_use_organization_id=True, google_admin_email=ADMIN,
                 google_use_application_default_credentials=True, google_target_principal=SA_EMAIL)
    identity = await login_identity(idp, s, "ada@example.com")
    assert (identity.groups, identity.preferred_username) == (("eng@example.com",), "E1234")
    (payload,) = google.signed  # the IAM-signed JWT asks for both scopes
    assert payload["scope"] == f"{SCOPE} {USER_SCOPES['']}"


@pytest.mark.parametrize("known", [False, True], ids=["user-not-in-directory", "no-organization-id"])
async def test_no_organization_id_no_login(apis: tuple[FakeIdP, FakeGoogleAPIs, Path], known: bool) -> None:
    idp, google, sa = apis
    google.scope = USER_SCOPES[""]
    if known:
        google.users["ada@example.com"] = [{"type": "organization", "value": ""},
                                           {"type": "login_id", "value": "x"}]
    s = settings(google_use_organization_id=True, google_admin_email=ADMIN,
                 google_service_account_json=str(sa))
    with pytest.raises(TokenError, match="no organization id"):
        await login_identity(idp, s, "ada@example.com")


def test_organization_id_configuration_checks() -> None:
    with pytest.raises(ConfigError, match=r"google_admin_email .*required with google_use_organization_id"):
        settings(google_use_organization_id=True)
    with pytest.raises(ConfigError, match="provider 'google' only"):
        settings(provider="oidc", oidc_issuer_url="https://idp.example", google_use_organization_id=True,
                 google_admin_email=ADMIN, google_use_application_default_credentials=True)
    with pytest.raises(ConfigError, match="google_admin_api_user_scope"):
        settings(google_admin_api_user_scope="admin")
