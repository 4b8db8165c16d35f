"""The options authsvc took over from oauth2-proxy: each one's effect on a real login (FakeIdP)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from authsvc.config import load_settings
from authsvc.errors import ConfigError, TokenError
from authsvc.models import LoginState, Tokens
from authsvc.providers.oidc import OIDCProvider
from tests.conftest import SECRET_A, make_settings
from tests.support.app_driver import browser_on, fake_idp_settings
from tests.support.fake_idp import FakeIdP

pytestmark = pytest.mark.anyio


def query(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


# --- skip_oidc_discovery and its endpoints --------------------------------------------------------
async def test_login_without_discovery(fake_idp: FakeIdP) -> None:
    settings = fake_idp_settings(
        fake_idp, skip_oidc_discovery=True, login_url=fake_idp.url("authorize"),
        redeem_url=fake_idp.url("token"), oidc_jwks_url=fake_idp.url("jwks"),
        profile_url=fake_idp.url("userinfo"),
    )
    async with browser_on(settings, fake_idp) as browser:
        assert (await browser.login()).status_code == 302
        assert (await browser.auth()).status_code == 202
    assert fake_idp.calls["discovery"] == 0
    assert fake_idp.calls["token"] == 1


def test_skip_oidc_discovery_needs_the_endpoints() -> None:
    with pytest.raises(ConfigError, match=r"login_url .*required with skip_oidc_discovery"):
        make_settings(skip_oidc_discovery=True)


def _pem(tmp_path: Path, name: str, key: Mapping[str, Any]) -> str:
    from joserfc.jwk import RSAKey

    public: dict[str, str | list[str]] = {k: v for k, v in key.items() if k in ("kty", "n", "e")}
    path = tmp_path / name
    path.write_bytes(RSAKey.import_key(public).as_pem(private=False))
    return str(path)


async def test_login_with_public_key_files_instead_of_a_jwks(fake_idp: FakeIdP, tmp_path: Path) -> None:
    """oidc_public_key_files: the ID token is verified against local PEM keys, each tried in
    turn (they have no kid), and no JWKS is fetched."""
    from joserfc.jwk import RSAKey

    other = _pem(tmp_path, "other.pem", RSAKey.generate_key(2048, private=True).as_dict(private=True))
    mine = _pem(tmp_path, "idp.pem", fake_idp.key)
    settings = fake_idp_settings(
        fake_idp, skip_oidc_discovery=True, login_url=fake_idp.url("authorize"),
        redeem_url=fake_idp.url("token"), oidc_public_key_files=[other, mine],
    )
    async with browser_on(settings, fake_idp) as browser:
        assert (await browser.login()).status_code == 302
        assert (await browser.auth()).status_code == 202
    assert fake_idp.calls["jwks"] == 0 and fake_idp.calls["discovery"] == 0
    # a token signed by a key none of the files holds is refused
    fake_idp.rotate_key()
    async with browser_on(settings, fake_idp) as browser:
        assert (await browser.login()).status_code == 403
    assert fake_idp.calls["jwks"] == 0


def test_public_key_files_must_be_public_keys(tmp_path: Path) -> None:
    private = tmp_path / "private.pem"
    from joserfc.jwk import RSAKey

    private.write_bytes(RSAKey.generate_key(2048, private=True).as_pem(private=True))
    (tmp_path / "junk.pem").write_text("not a key")
    for path, why in ((private, "holds a private key"), (tmp_path / "junk.pem", "not a PEM public key"),
                      (tmp_path / "missing.pem", "cannot be read")):
        with pytest.raises(ConfigError, match=why):
            make_settings(oidc_public_key_files=[str(path)])
    with pytest.raises(ConfigError, match=r"oidc_jwks_url .*discovery \(or oidc_public_key_files\)"):
        make_settings(skip_oidc_discovery=True, login_url="https://idp.example/a",
                      redeem_url="https://idp.example/t")


# --- ID token checks -----------------------------------------------------------------------------
async def test_enabled_signing_algs_refuse_what_is_not_listed(fake_idp: FakeIdP) -> None:
    settings = fake_idp_settings(fake_idp, oidc_enabled_signing_algs=["ES256"])
    async with browser_on(settings, fake_idp) as browser:
        assert (await browser.login()).status_code == 403
    async with browser_on(fake_idp_settings(fake_idp, oidc_enabled_signing_algs=["RS256"]),
                          fake_idp) as browser:
        assert (await browser.login()).status_code == 302


def test_symmetric_signing_algs_are_refused() -> None:
    with pytest.raises(ConfigError, match="HS256"):
        make_settings(oidc_enabled_signing_algs=["HS256"])


async def test_audience_claims(fake_idp: FakeIdP) -> None:
    fake_idp.id_token_overrides = {"aud": "https://api.example", "azp": fake_idp.client_id}
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as browser:
        assert (await browser.login()).status_code == 403  # aud names another party
    settings = fake_idp_settings(fake_idp, oidc_audience_claims=["aud", "azp"])
    async with browser_on(settings, fake_idp) as browser:
        assert (await browser.login()).status_code == 302


async def test_skip_issuer_verification_takes_the_documents_issuer(fake_idp: FakeIdP) -> None:
    other = "https://tenant.idp.example.test"
    fake_idp.discovery_overrides = {"issuer": other}
    fake_idp.id_token_overrides = {"iss": other}
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as browser:
        start = await browser.client.get("/oauth2/start")
        assert start.status_code == 502  # discovery refused (OIDC Discovery 4.3)
    settings = fake_idp_settings(fake_idp, insecure_oidc_skip_issuer_verification=True)
    async with browser_on(settings, fake_idp) as browser:
        assert (await browser.login()).status_code == 302
    fake_idp.id_token_overrides = {"iss": fake_idp.issuer}  # neither the document's issuer
    async with browser_on(settings, fake_idp) as browser:
        assert (await browser.login()).status_code == 403


# --- validate_url ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "ok"), [(200, True), (401, False)])
async def test_validate_url_checks_the_refreshed_access_token(status: int, ok: bool) -> None:
    fake = FakeIdP()
    validate = "https://idp.example.test/validate"
    with respx.mock(assert_all_mocked=True) as router:
        fake.mount(router)
        route = router.get(validate).respond(status)
        settings = fake_idp_settings(fake, validate_url=validate)
        async with httpx.AsyncClient() as http:
            provider = OIDCProvider(settings, http, fake.clock)
            grant_url = await provider.login_url(_login(), "https://app.example.test/oauth2/callback")
            grant = fake.authorize(grant_url)
            _, tokens = await provider.redeem(grant.code, _login(), "https://app.example.test/oauth2/callback")
            if ok:
                await provider.refresh(tokens)
            else:
                with pytest.raises(TokenError, match="validate_url"):
                    await provider.refresh(tokens)
        assert route.calls.last.request.headers["authorization"].startswith("Bearer ")
    assert isinstance(tokens, Tokens)


def _login() -> LoginState:
    return LoginState("s" * 43, "n" * 43, "v" * 64, "/", 0)


# --- the authorization request ---------------------------------------------------------------------
async def test_prompt_acr_values_and_login_parameters(fake_idp: FakeIdP) -> None:
    settings = fake_idp_settings(
        fake_idp, prompt="select_account", approval_prompt="force", acr_values="urn:mfa",
        login_url_parameters=["organization=acme"],
        login_url_parameters_allowed=[r"login_hint=[a-z]+@example\.com"],
    )
    async with browser_on(settings, fake_idp) as browser:
        start = await browser.client.get("/oauth2/start", params={
            "rd": "/", "login_hint": "ada@example.com", "state": "attacker", "organization": "x"})
        got = query(start.headers["location"])
        assert (got["prompt"], got["acr_values"]) == ("select_account", "urn:mfa")
        assert got["organization"] == "acme"  # configured, not the query's
        assert got["login_hint"] == "ada@example.com"
        assert "approval_prompt" not in got  # prompt wins, as in oauth2-proxy
        assert got["state"] != "attacker"
        bad = await browser.client.get("/oauth2/start", params={"login_hint": "eve@evil.example"})
        assert "login_hint" not in query(bad.headers["location"])
        # the login itself still works with them
        assert (await browser.client.get(fake_idp.callback_url(start.headers["location"]))).status_code == 302


async def test_approval_prompt_without_prompt(fake_idp: FakeIdP) -> None:
    async with browser_on(fake_idp_settings(fake_idp, approval_prompt="force"), fake_idp) as browser:
        start = await browser.start()
    assert query(start.headers["location"])["approval_prompt"] == "force"


def test_protected_parameters_cannot_be_configured() -> None:
    with pytest.raises(ConfigError, match="state is set by authsvc"):
        make_settings(login_url_parameters=["state=fixed"])


async def test_provider_display_name_on_the_sign_in_page(fake_idp: FakeIdP) -> None:
    async with browser_on(fake_idp_settings(fake_idp, provider_display_name="Company <SSO>"),
                          fake_idp) as browser:
        page = await browser.client.get("/oauth2/sign_in")
    assert "Sign in with Company &lt;SSO&gt;" in page.text


# --- identity headers ------------------------------------------------------------------------------
@pytest.mark.parametrize(("prefer_email", "name"), [(False, "user-1"), (True, "ada@example.com")])
async def test_set_basic_auth(fake_idp: FakeIdP, prefer_email: bool, name: str) -> None:
    settings = fake_idp_settings(fake_idp, set_basic_auth=True, basic_auth_password="pa:ss",
                                 prefer_email_to_user=prefer_email)
    async with browser_on(settings, fake_idp) as browser:
        await browser.login(email="ada@example.com")
        auth = await browser.auth()
    assert auth.status_code == 202
    assert auth.headers["authorization"] == "Basic " + base64.b64encode(f"{name}:pa:ss".encode()).decode()
    assert "basic_auth_password" in settings.masked() and settings.masked()["basic_auth_password"] == "****"


def test_basic_and_bearer_authorization_exclude_each_other() -> None:
    with pytest.raises(ConfigError, match=r"set_basic_auth .*set_authorization_header"):
        make_settings(set_basic_auth=True, set_authorization_header=True)


# --- files and listeners ---------------------------------------------------------------------------
def test_cookie_secret_file(tmp_path: Path) -> None:
    path = tmp_path / "cookie-secret"
    path.write_text(SECRET_A + "\n")
    s = make_settings(cookie_secret=None, cookie_secret_file=str(path))
    assert s.secret_keys == [b"A" * 32]
    path.write_text("short")
    with pytest.raises(ConfigError, match=r"cookie_secret_file .*16 bytes"):
        make_settings(cookie_secret=None, cookie_secret_file=str(path))
    with pytest.raises(ConfigError, match=r"cookie_secret_file .*cannot be read"):
        make_settings(cookie_secret=None, cookie_secret_file=str(tmp_path / "missing"))


def test_cookie_secret_beats_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cookie-secret"
    path.write_text(base64.urlsafe_b64encode(b"F" * 32).decode())
    assert make_settings(cookie_secret_file=str(path)).secret_keys == [b"A" * 32]


async def test_metrics_dash_serves_no_metrics(fake_idp: FakeIdP) -> None:
    async with browser_on(fake_idp_settings(fake_idp, metrics_address="-"), fake_idp) as browser:
        assert (await browser.client.get("/metrics")).status_code == 404
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as browser:
        assert (await browser.client.get("/metrics")).status_code == 200


def test_http_scheme_in_addresses_is_accepted() -> None:
    s = load_settings(None, cookie_secret=SECRET_A, client_id="c", client_secret="s",
                      oidc_issuer_url="https://idp.example", http_address="http://0.0.0.0:4180")
    assert s.http_address == "0.0.0.0:4180"


# --- sign-out, Entra ID Workload Identity -----------------------------------------------------------
async def test_backend_logout_url_is_called_with_the_id_token() -> None:
    fake = FakeIdP()
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        fake.mount(router)
        logout = router.get(url__startswith=fake.url("logout")).respond(200)
        settings = fake_idp_settings(fake, backend_logout_url=fake.url("logout") + "?hint={id_token}")
        async with browser_on(settings, fake) as browser:
            assert (await browser.login()).status_code == 302
            out = await browser.client.get("/oauth2/sign_out")
            assert out.status_code == 302
    hint = logout.calls.last.request.url.params["hint"]
    assert hint.count(".") == 2  # the session's ID token (kept for this), URL-encoded in the query
    assert not fake.errors


async def test_entra_federated_token_is_the_client_assertion(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = "11111111-2222-3333-4444-555555555555"
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text("projected.sa.token\n")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    issuer = f"https://login.microsoftonline.com/{tenant}/v2.0"
    settings = make_settings(provider="entra-id", entra_id_tenant=tenant, oidc_issuer_url=None,
                             client_secret=None, entra_id_federated_token_auth=True)
    with respx.mock(assert_all_mocked=True) as router:
        router.get(f"{issuer}/.well-known/openid-configuration").respond(200, json={
            "issuer": issuer, "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token", "jwks_uri": f"{issuer}/keys"})
        token = router.post(f"{issuer}/token").respond(400, json={"error": "invalid_grant"})
        async with httpx.AsyncClient() as http:
            from authsvc.providers import create_provider

            provider = create_provider(settings, http, lambda: 0.0)
            with pytest.raises(TokenError):
                await provider.refresh(Tokens(refresh_token="r"))
    form = parse_qs(token.calls.last.request.content.decode())
    assert form["client_assertion"] == ["projected.sa.token"]
    assert form["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    assert "authorization" not in token.calls.last.request.headers
    with pytest.raises(ConfigError, match="entra-id' only"):
        make_settings(entra_id_federated_token_auth=True)


async def test_probe_paths(fake_idp: FakeIdP) -> None:
    settings = fake_idp_settings(fake_idp, ping_path="/healthz", ready_path="/readyz", gcp_healthchecks=True)
    async with browser_on(settings, fake_idp) as browser:
        assert (await browser.client.get("/healthz")).text == "OK"
        assert (await browser.client.get("/readyz")).status_code == 200
        assert (await browser.client.get("/liveness_check")).text == "OK"
        assert (await browser.client.get("/readiness_check")).status_code == 200
        assert (await browser.client.get("/ping")).status_code == 404
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as browser:
        assert (await browser.client.get("/liveness_check")).status_code == 404
