"""A page that starts 30 logins at once does not break the site behind nginx's default buffers.

Real Chromium loads a page with 15 `<img>` and 15 `<iframe>` of `/oauth2/start` through real
nginx (the example config, with nginx's default 8 KB header lines instead of its 32 KB) in front
of authsvc and the node OpenID provider; all 30 race, none sees the others' cookies. Uncapped,
the 30 login cookies (~310 bytes each) made every later request of the site a
`400 Request Header Or Cookie Too Large` for 15 minutes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext

from tests.integration.conftest import AuthsvcFactory
from tests.support.browser import fresh_page
from tests.support.components import EXAMPLES, render_file, start_nginx
from tests.support.echo import EchoUpstream
from tests.support.processes import HOST, free_port

pytestmark = pytest.mark.integration

LIMIT = 5  # the default of cookie_csrf_per_request_limit


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, start_authsvc_for: AuthsvcFactory, echo: EchoUpstream
) -> Iterator[str]:
    authsvc = start_authsvc_for(proxy_kind="nginx")
    port = free_port()
    conf = render_file(
        EXAMPLES / "nginx" / "nginx.conf",
        {"LISTEN": f"{HOST}:{port}", "AUTHSVC": f"{HOST}:{authsvc.port}", "UPSTREAM": f"{HOST}:{echo.port}"},
    )
    assert "large_client_header_buffers 4 32k;" in conf
    conf = conf.replace("large_client_header_buffers 4 32k;", "large_client_header_buffers 4 8k;")
    nginx = start_nginx(tmp_path_factory.mktemp("nginx-8k"), conf, port)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        nginx.stop()


def login_cookies(context: BrowserContext) -> list[str]:
    return [c["name"] for c in context.cookies() if "_csrf_" in c["name"]]


def test_thirty_login_starts_on_one_page_leave_the_site_working(browser: Browser, site: str) -> None:
    with fresh_page(browser) as page:
        # a page of the site's own origin without a Content-Security-Policy (authsvc's pages
        # have one that allows no frames and no images): /oauth2/userinfo's 401
        page.goto(site + "/oauth2/userinfo")
        assert page.url.startswith(site)
        images = "".join(f'<img src="/oauth2/start?rd=/app/{i}">' for i in range(15))
        frames = "".join(f'<iframe src="/oauth2/start?rd=/app/f{i}"></iframe>' for i in range(15))
        page.set_content(images + frames, wait_until="load")  # every image and frame answered
        context = page.context
        # the frames are navigations and did start logins; the images could not
        assert 1 <= len(login_cookies(context)) <= LIMIT
        # what the browser sends to the site's pages (the OP's cookies on 127.0.0.1 have their own paths)
        header = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies() if c["path"] == "/")
        assert len(header) < 8192 - 1024, f"Cookie header of {len(header)} bytes"

        # the site still answers: a protected page asks for sign-in instead of a 400
        response = context.request.get(site + "/app/page", max_redirects=0,
                                       headers={"Accept": "application/json"})  # fmt: skip
        assert response.status == 401, (response.status, response.text()[:200])

        # and a login from a page of the site still works
        context.request.get(site + "/oauth2/start?rd=/app/again", max_redirects=0)
        assert 1 <= len(login_cookies(context)) <= LIMIT
