"""LoginGovProvider and private_key_jwt against a FakeIdP that verifies every client assertion
(RS256 signature by the client's public key, iss = sub = client_id, aud = its token endpoint,
fresh jti, short exp); then the login through the app."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from joserfc import jwt
from joserfc.jwk import RSAKey

from authsvc.config import Settings, load_settings
from authsvc.errors import ClientRejected, ConfigError, TokenError
from authsvc.providers import create_provider
from authsvc.providers.client_auth import JWT_BEARER, ClientAssertions
from authsvc.providers.logingov import ACR_VALUES, LoginGovProvider
from authsvc.providers.oidc import OIDCProvider
from tests.support.app_driver import REDIRECT_URI, app_driver
from tests.support.fake_idp import FakeIdP, ManualClock, client_key, client_key_pem
from tests.support.provider_login import LOGIN

pytestmark = pytest.mark.anyio

SANDBOX = "https://idp.int.identitysandbox.gov"
CLIENT_ID = "urn:gov:gsa:openidconnect.profiles:sp:sso:agency:app"


def public_jwk(key: RSAKey) -> dict[str, Any]:
    return dict(RSAKey.import_key(key.as_dict(private=False)).as_dict())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[FakeIdP]:
    """The Login.gov sandbox: an OpenID Provider that takes only private_key_jwt clients."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        idp = FakeIdP(issuer=SANDBOX, client_id=CLIENT_ID, clock=clock,
                      client_jwk=public_jwk(client_key()))
        idp.mount(router)
        yield idp
    assert not idp.errors, idp.errors


def settings(fake: FakeIdP | None = None, **options: Any) -> Settings:
    base: dict[str, Any] = {"provider": "login.gov", "client_id": CLIENT_ID, "jwt_key": client_key_pem(),
                            "cookie_secret": "a" * 32, "email_domains": ["*"]}
    if fake is not None:  # the sandbox's endpoints, as its users set them
        base |= {"login_url": fake.url("authorize"), "redeem_url": fake.url("token"),
                 "profile_url": fake.url("userinfo"), "oidc_jwks_url": fake.url("jwks")}
    return load_settings(**{**base, **options})


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def sign_in(fake: FakeIdP, provider: OIDCProvider, **user: Any) -> Any:
    grant = fake.authorize(await provider.login_url(LOGIN, REDIRECT_URI), **user)
    return await provider.redeem(grant.code, LOGIN, REDIRECT_URI)


async def test_login_url_is_oauth2_proxys(http: httpx.AsyncClient) -> None:
    provider = create_provider(settings(), http, ManualClock())
    assert isinstance(provider, LoginGovProvider)
    url = await provider.login_url(LOGIN, REDIRECT_URI)
    assert url.startswith("https://secure.login.gov/openid_connect/authorize?")
    q = query(url)
    assert q["scope"] == "email openid" and q["acr_values"] == ACR_VALUES == (
        "http://idmanagement.gov/ns/assurance/loa/1")
    assert q["nonce"] == LOGIN.nonce and q["code_challenge_method"] == "S256"
    meta = await provider.metadata.metadata()  # no discovery: oauth2-proxy's endpoints
    assert (meta.issuer, meta.token_endpoint, meta.userinfo_endpoint, meta.jwks_uri) == (
        "https://secure.login.gov/", "https://secure.login.gov/api/openid_connect/token",
        "https://secure.login.gov/api/openid_connect/userinfo",
        "https://secure.login.gov/api/openid_connect/certs")
    configured = LoginGovProvider(settings(acr_values="urn:acr.login.gov:auth-only"), http, ManualClock())
    # the login flow adds the configured value; the provider then adds none of its own
    assert "acr_values" not in query(await configured.login_url(LOGIN, REDIRECT_URI))


async def test_the_code_is_redeemed_with_a_signed_client_assertion(
    fake: FakeIdP, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    provider = LoginGovProvider(settings(fake), http, clock)
    identity, tokens = await sign_in(fake, provider, email="ada@example.gov",
                                     userinfo_only=["email", "email_verified"])
    assert identity.email == "ada@example.gov" and identity.email_verified is True  # from userinfo
    assert fake.calls["userinfo"] == 1 and fake.calls["discovery"] == 0 and fake.calls["jwks"] == 1
    form = fake.token_forms[0]
    assert "client_secret" not in form and form["client_assertion_type"] == JWT_BEARER
    # the assertion verifies with the client's public key alone (the fake checked it as well)
    public = RSAKey.import_key(public_jwk(client_key()))
    token = jwt.decode(form["client_assertion"], public, algorithms=["RS256"])
    now = int(clock())
    assert token.header == {"alg": "RS256", "typ": "JWT"}
    assert {k: v for k, v in token.claims.items() if k != "jti"} == {
        "iss": CLIENT_ID, "sub": CLIENT_ID, "aud": fake.url("token"), "iat": now, "exp": now + 60}
    assert len(token.claims["jti"]) >= 32
    # the refresh is one more token request: one more assertion, with a jti of its own
    await provider.refresh(tokens)
    assert len(fake.client_assertions) == 2
    assert fake.client_assertions[0]["jti"] != fake.client_assertions[1]["jti"]


async def test_an_assertion_the_idp_cannot_verify_is_the_operators_problem(
    fake: FakeIdP, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    fake.client_jwk = public_jwk(RSAKey.generate_key(2048, private=True))  # another key registered
    fake.strict = False
    with pytest.raises(ClientRejected, match="invalid_client"):
        await sign_in(fake, LoginGovProvider(settings(fake), http, clock))


@pytest.mark.parametrize(("iss", "ok"), [
    (SANDBOX + "/", True),  # login.gov's own spelling, with the slash
    ("https://secure.login.gov/", False),  # production's token at a sandbox client
    ("https://idp.int.identitysandbox.gov.evil.example/", False),
])
async def test_the_id_token_issuer_is_the_login_urls_origin(
    fake: FakeIdP, http: httpx.AsyncClient, clock: ManualClock, iss: str, ok: bool
) -> None:
    fake.id_token_overrides["iss"] = iss
    provider = LoginGovProvider(settings(fake), http, clock)
    if ok:
        await sign_in(fake, provider)
        return
    with pytest.raises(TokenError, match="iss"):
        await sign_in(fake, provider)


async def test_private_key_jwt_serves_any_oidc_provider(
    fake: FakeIdP, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    # discovery lists only client_secret_*: the configured key is used all the same
    s = load_settings(provider="oidc", oidc_issuer_url=SANDBOX, client_id=CLIENT_ID, cookie_secret="a" * 32,
                      jwt_key=client_key_pem())
    identity, _ = await sign_in(fake, OIDCProvider(s, http, clock), email="ada@example.gov")
    assert identity.email == "ada@example.gov" and fake.calls["discovery"] == 1
    assert fake.client_assertions[0]["aud"] == fake.url("token")


# --- the key option -------------------------------------------------------------------------
def _pem(bits: int, private: bool = True) -> str:
    # cryptography itself: joserfc refuses to make a key under 2048 bits
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if private:
        return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.mark.parametrize(("options", "message"), [
    ({"jwt_key": ""}, r"jwt_key .*required for provider 'login.gov'"),
    ({"jwt_key_file": "/k.pem"}, r"jwt_key_file .*not both"),
    ({"jwt_key": "", "jwt_key_file": "/nonexistent/k.pem"},
     r"jwt_key_file .*/nonexistent/k.pem: cannot be read"),
    ({"jwt_key": "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----"},
     r"jwt_key .*is not a PEM RSA private key"),
    ({"jwt_key": _pem(2048, private=False)}, r"jwt_key .*is a public key"),
    ({"jwt_key": _pem(1024)}, r"jwt_key .*1024-bit RSA key; RS256 needs 2048"),
    ({"jwt_key": ec.generate_private_key(ec.SECP256R1()).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()}, r"jwt_key .*is not an RSA key"),
])
def test_a_bad_key_stops_start_up_naming_the_option(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        settings(**options)
    assert "c2VjcmV0" not in str(info.value) and "BEGIN" not in str(info.value)  # never the key


def test_a_key_file_and_a_one_line_key_from_an_env_file(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "key.pem"
    path.write_text(client_key_pem())
    assert settings(jwt_key="", jwt_key_file=str(path)).jwt_key_file == str(path)
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(ConfigError, match=rf"jwt_key_file .*{bad}: holds not a PEM RSA private key"):
        settings(jwt_key="", jwt_key_file=str(bad))
    # docker env files have no multi-line values: the PEM comes with literal \n
    monkeypatch.setenv("OAUTH2_PROXY_JWT_KEY", client_key_pem().replace("\n", "\\n"))
    s = load_settings(provider="login.gov", client_id=CLIENT_ID, cookie_secret="a" * 32)
    assert s.jwt_key.get_secret_value().count("\\n") > 10
    assert ClientAssertions.from_settings(s, ManualClock()) is not None


async def test_the_key_is_masked_and_kept_out_of_reprs(http: httpx.AsyncClient) -> None:
    s = settings()
    assert s.masked()["jwt_key"] == "****"
    assert "PRIVATE" not in repr(s) and "PRIVATE" not in str(s.model_dump(mode="json")["jwt_key"])
    provider = LoginGovProvider(s, http, ManualClock())
    assert repr(provider.assertions) == f"ClientAssertions(client_id={CLIENT_ID!r})"


# --- through the ASGI app -------------------------------------------------------------------
async def test_app_login_then_auth_202(
    fake: FakeIdP, http: httpx.AsyncClient, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    s = settings(fake, acr_values="urn:acr.login.gov:auth-only", email_domains=["example.gov"])
    async with app_driver(s, http, clock) as browser:
        assert (await browser.auth()).status_code == 401
        login_url = await browser.start()
        assert parse_qs(urlsplit(login_url).query)["acr_values"] == ["urn:acr.login.gov:auth-only"]
        callback = await browser.callback(fake.callback_url(login_url, sub="uuid-1", email="ada@example.gov",
                                                            userinfo_only=["email"]))
        assert callback.status_code == 302 and callback.headers["location"] == "/dashboard"
        auth = await browser.auth()
        assert auth.status_code == 202
        assert auth.headers["x-auth-request-user"] == "uuid-1"
        assert auth.headers["x-auth-request-email"] == "ada@example.gov"
        assert len(fake.client_assertions) == 1
        other = await browser.login(lambda url: fake.callback_url(url, email="eve@example.com"))
        assert other.status_code == 403  # not an allowed e-mail domain
    text = caplog.text
    assert "PRIVATE KEY" not in text and client_key_pem().splitlines()[1] not in text
    assert fake.token_forms[0]["client_assertion"] not in text
