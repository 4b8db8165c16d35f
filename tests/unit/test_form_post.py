"""`auth_request_response_mode = "form_post"` (OAuth 2.0 Form Post Response Mode) and `resource`
(RFC 8707): the IdP POSTs its answer to /oauth2/callback, which runs the GET callback's checks."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from authsvc.errors import ConfigError
from tests.conftest import make_settings
from tests.support.app_driver import Browser, browser_on, fake_idp_settings
from tests.support.fake_idp import FakeIdP

pytestmark = pytest.mark.anyio


def query(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


async def _answer(browser: Browser, method: str, params: dict[str, str]) -> httpx.Response:
    """The IdP's answer as the browser brings it: a GET with a query, or form_post's POST."""
    if method == "GET":
        return await browser.client.get("/oauth2/callback", params=params)
    return await browser.client.post("/oauth2/callback", data=params)


async def test_start_asks_for_form_post_and_the_login_cookie_is_cross_site(fake_idp: FakeIdP) -> None:
    settings = fake_idp_settings(fake_idp, auth_request_response_mode="form_post")
    async with browser_on(settings, fake_idp) as browser:
        start = await browser.start("/dashboard")
    assert query(start.headers["location"])["response_mode"] == "form_post"
    login_cookie = start.headers["set-cookie"]
    # a Lax cookie is left out of the IdP's cross-site POST: the login could never finish
    assert "SameSite=None" in login_cookie and "Secure" in login_cookie, login_cookie


async def test_without_form_post_no_response_mode_and_no_post(fake_idp: FakeIdP) -> None:
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as browser:
        start = await browser.start()
        assert "response_mode" not in query(start.headers["location"])
        assert "SameSite=Lax" in start.headers["set-cookie"]
        grant = fake_idp.authorize(start.headers["location"])
        posted = await _answer(browser, "POST", grant._asdict())
    assert posted.status_code == 405  # fail closed: nobody asked the IdP to post


async def test_login_by_post(fake_idp: FakeIdP) -> None:
    settings = fake_idp_settings(fake_idp, auth_request_response_mode="form_post")
    async with browser_on(settings, fake_idp) as browser:
        start = await browser.start("/dashboard")
        grant = fake_idp.authorize(start.headers["location"])
        done = await _answer(browser, "POST", {**grant._asdict(), "iss": fake_idp.issuer})
        assert done.status_code == 302, done.text
        assert done.headers["location"] == "/dashboard"
        assert (await browser.auth()).status_code == 202
        # single use, as for a GET: the same POST again is refused
        again = await _answer(browser, "POST", grant._asdict())
        assert again.status_code >= 400


@pytest.mark.parametrize("case", ["wrong state", "no code", "foreign iss", "idp error", "no state"])
async def test_post_and_get_callbacks_run_the_same_checks(fake_idp: FakeIdP, case: str) -> None:
    settings = fake_idp_settings(fake_idp, auth_request_response_mode="form_post")
    answers: dict[str, tuple[int, str, bool]] = {}
    shown: dict[str, bool] = {}
    for method in ("GET", "POST"):
        async with browser_on(settings, fake_idp) as browser:
            start = await browser.start()
            grant = fake_idp.authorize(start.headers["location"])
            params = {"code": grant.code, "state": grant.state}
            if case == "wrong state":
                params["state"] = "x" * 43 + grant.state[grant.state.rindex("."):]  # same slot
            elif case == "no code":
                del params["code"]
            elif case == "foreign iss":
                params["iss"] = "https://evil.example.test"
            elif case == "idp error":
                params = {"state": grant.state, "error": "access_denied",
                          "error_description": "the user said no"}
            else:
                del params["state"]
            response = await _answer(browser, method, params)
            session = await browser.auth()
            code = re.search(r'data-error-code="([a-z_]+)"', response.text)
            answers[method] = (response.status_code, code.group(1) if code else response.text,
                               session.status_code == 202)
            shown[method] = "the user said no" in response.text
    assert answers["POST"] == answers["GET"]
    assert answers["GET"][0] >= 400 and not answers["GET"][2]
    if case == "idp error":  # the description is shown: the state is this browser's login
        assert shown == {"GET": True, "POST": True}
    if case != "idp error":
        assert fake_idp.calls["token"] == 0  # refused before the code went anywhere


async def test_post_body_is_capped(fake_idp: FakeIdP) -> None:
    settings = fake_idp_settings(fake_idp, auth_request_response_mode="form_post",
                                 max_request_body_bytes=4096)
    async with browser_on(settings, fake_idp) as browser:
        await browser.start()
        big = await browser.client.post("/oauth2/callback", data={"code": "c" * 10_000, "state": "s"})
        odd = await browser.client.post("/oauth2/callback", content=b"\xff\x00{", headers={
            "content-type": "application/json"})
    assert big.status_code == 413
    assert 400 <= odd.status_code < 500  # no answer in it: a failed login, never a 500


def test_form_post_needs_secure_cookies() -> None:
    with pytest.raises(ConfigError, match=r"auth_request_response_mode.*form_post needs cookie_secure"):
        make_settings(auth_request_response_mode="form_post", cookie_secure=False)
    with pytest.raises(ConfigError, match="auth_request_response_mode"):
        make_settings(auth_request_response_mode="fragment")
    with pytest.raises(ConfigError, match="response_mode is set by authsvc"):
        make_settings(login_url_parameters=["response_mode=form_post"])


async def test_resource_is_sent_on_both_requests(fake_idp: FakeIdP) -> None:
    api = "https://graph.windows.net/"
    async with browser_on(fake_idp_settings(fake_idp, resource=api), fake_idp) as browser:
        start = await browser.start()
        done = await browser.client.get(fake_idp.callback_url(start.headers["location"]))
    assert done.status_code == 302, done.text
    assert query(start.headers["location"])["resource"] == api
    assert [f.get("resource") for f in fake_idp.token_forms] == [api]


async def test_form_post_reaches_the_provider_whose_login_it_is(tmp_path: Path) -> None:
    """An app with several providers: the POSTed callback's state is in its body, and the login
    cookie of the provider that started the login opens it (docs/apps.md), not the first's."""
    from authsvc.config.sources import ConfigInput, load
    from authsvc.web.app import create_apps_app
    from tests.conftest import SECRET_A
    from tests.support.app_driver import asgi_client

    config = tmp_path / "authsvc.toml"
    config.write_text(
        f'cookie_secret = ["{SECRET_A}"]\nclient_id = "client"\nclient_secret = "secret"\n'
        'email_domains = ["example.com"]\nproxy_kind = "nginx"\nauth_request_response_mode = "form_post"\n'
        '[[apps]]\nname = "m"\nhosts = ["m.example"]\ncookie_name = "_m"\n'
        '[[apps.providers]]\nid = "x"\noidc_issuer_url = "https://x.idp.test"\n'
        '[[apps.providers]]\nid = "y"\noidc_issuer_url = "https://y.idp.test"\n')
    dispatcher = create_apps_app(load(ConfigInput(str(config)), environ={}).apps)
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        idps = {name: FakeIdP(issuer=f"https://{name}.idp.test") for name in ("x", "y")}
        for idp in idps.values():
            idp.mount(router)
        host = {"Host": "m.example"}
        async with asgi_client(dispatcher) as client:
            for name in ("y", "x"):  # the second provider first: the first took every POST
                client.cookies.clear()
                start = await client.get(f"/oauth2/start?provider={name}&rd=%2Fpage", headers=host)
                assert start.status_code == 302 and start.headers["location"].startswith(
                    f"https://{name}.idp.test/")
                grant = idps[name].authorize(start.headers["location"])
                done = await client.post("/oauth2/callback", headers=host,
                                         data={**grant._asdict(), "iss": idps[name].issuer})
                assert done.status_code == 302, (name, done.status_code, done.text)
                assert done.headers["location"] == "/page"
                assert f"_m_{name}=" in done.headers["set-cookie"]
                assert idps[name].calls["token"] == 1
            # a POST that is too large is refused before any provider reads it
            big = await client.post("/oauth2/callback", headers=host, data={"state": "s" * 70_000})
            assert big.status_code == 413
    for idp in idps.values():
        assert not idp.errors, idp.errors
    for member in dispatcher._apps:
        await member.state.context.aclose()
