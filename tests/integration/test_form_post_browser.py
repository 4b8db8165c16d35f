"""`auth_request_response_mode = "form_post"` in Chromium against the real OpenID provider (npm
oidc-provider, which answers form_post with an auto-submitting form).

The IdP is at http://localhost, authsvc at http://127.0.0.1: two sites, so the IdP's POST to the
callback is cross-site and Chromium sends it only the SameSite=None login cookie (a Lax one
would be left out). Both hosts are loopback, a secure context where Chromium keeps Secure
cookies over http.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Request

from tests.conftest import SECRET_A
from tests.support.browser import chromium, fresh_page, idp_login
from tests.support.components import OpenIDProvider, start_authsvc, start_oidc_provider

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def op(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIDProvider]:
    provider = start_oidc_provider(tmp_path_factory.mktemp("op"), issuer_host="localhost")
    try:
        yield provider
    finally:
        provider.process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def test_form_post_login_in_a_browser(tmp_path_factory: pytest.TempPathFactory, op: OpenIDProvider,
                                      browser: Browser) -> None:
    app = start_authsvc(tmp_path_factory.mktemp("authsvc"), {
        "provider": "oidc", "oidc_issuer_url": op.issuer, "client_id": op.client_id,
        "client_secret": op.client_secret, "cookie_secret": [SECRET_A], "cookie_secure": True,
        "email_domains": ["example.com"], "auth_request_response_mode": "form_post",
    })
    try:
        with fresh_page(browser) as page:
            callbacks: list[Request] = []
            page.on("request", lambda r: callbacks.append(r) if "/oauth2/callback" in r.url else None)
            page.goto(f"{app.url}/oauth2/start?rd=/oauth2/userinfo")
            assert page.url.startswith(op.issuer + "/")
            idp_login(page, "alice@example.com")
            page.wait_for_url(f"{app.url}/oauth2/userinfo")
            body = page.text_content("body") or ""
            assert "alice@example.com" in body, body
            assert [r.method for r in callbacks] == ["POST"]  # the code came in a form, not the URL
            assert "code=" not in callbacks[0].url
    finally:
        app.stop()
