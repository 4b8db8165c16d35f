"""Every page authsvc shows, reached for real in Chromium: the real OpenID provider (npm
oidc-provider), real authsvc processes, real Caddy, and `authsvc demo`.

Each page must say its own thing, show the request id that its response's X-Request-ID and its
log line carry, load nothing from another origin (nothing at all: the CSS is inline under a
nonce), apply its CSS (a CSP mismatch would leave it bare), and pass axe-core light and dark.
Screenshots of each (desktop, phone, dark) go to $AUTHSVC_SCREENSHOTS, else a temporary folder;
docs/screenshots/ holds a committed set.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.integration.conftest import AuthsvcFactory, authsvc_settings
from tests.support.browser import chromium, idp_login
from tests.support.components import EXAMPLES, REPO, start_caddy, start_oidc_provider, toml_value
from tests.support.echo import EchoUpstream
from tests.support.pages import DESKTOP, Watch, axe_source, check_page, log_record, origin, screenshots_dir
from tests.support.processes import HOST, Process, free_port, http_ready, python_argv, start_process

pytestmark = pytest.mark.integration

#: not loopback: Chromium treats http://127.0.0.1 as a secure context and keeps Secure cookies
#: there, so the Secure-cookie-over-http failure needs a name (mapped to 127.0.0.1 in Chromium)
PLAIN_HTTP_HOST = "app.test"
BRANDING = {"provider_display_name": "Example SSO", "banner": "For the staff of Example Ltd."}


# --- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium([f"--host-resolver-rules=MAP {PLAIN_HTTP_HOST} {HOST}"]) as b:
        yield b


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshots_dir(tmp_path_factory.mktemp("screenshots"))


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_source()


@pytest.fixture(scope="module")
def authsvc(start_authsvc_for: AuthsvcFactory) -> Process:
    return start_authsvc_for(**BRANDING)


def authsvc_on(port: int, workdir: Path, settings: dict[str, Any]) -> Process:
    """authsvc serving on a port chosen beforehand (the IdP must know its callback first)."""
    config = workdir / "authsvc.toml"
    options = {**settings, "http_address": f"{HOST}:{port}"}
    config.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in options.items()))
    argv = python_argv("-m", "authsvc", "serve", "--config", str(config))
    return start_process("authsvc", argv, port=port, log_dir=workdir, cwd=REPO, ready=http_ready("/ping"))


class Visit:
    """One fresh browser context on one page, and what it loaded."""

    def __init__(self, page: Page, watch: Watch, shots: Path, axe: str) -> None:
        self.page, self.watch, self.shots, self.axe = page, watch, shots, axe

    def shown(self, name: str, status: int, *origins: str) -> str:
        """Check the page now shown (see the module docstring); its request id."""
        page, watch = self.page, self.watch
        document = watch.documents[-1]
        assert document.status == status, (name, document.status, page.url)
        request_id = page.text_content("#request-id") or ""
        assert request_id and document.headers["x-request-id"] == request_id, name
        assert "default-src 'none'" in document.headers["content-security-policy"]
        page_origins = {origin(page.url), *origins}
        assert watch.loaded_from_elsewhere(page_origins) == [], name
        assert watch.subresources_of(page_origins) == [], name  # not even from itself
        # Chromium reports each CSP violation ("Refused to apply inline style ...") there
        refused = [line for line in watch.console_of(page_origins) if "Refused" in line or "Policy" in line]
        assert refused == [], name
        check_page(page, name, self.shots, self.axe)
        return request_id

    def error_code(self) -> str:
        return self.page.get_attribute("main", "data-error-code") or ""

    def text(self, selector: str = "main") -> str:
        return " ".join((self.page.text_content(selector) or "").split())


@pytest.fixture
def visit(browser: Browser, shots: Path, axe: str) -> Iterator[Visit]:
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(15_000)
    page = context.new_page()
    watch = Watch()
    watch.attach(context, page)
    try:
        yield Visit(page, watch, shots, axe)
    finally:
        context.close()


ERROR_PAGE = "main[data-error-code]"


def sign_in_at_idp(v: Visit, base: str, login: str | None, rd: str = "/oauth2/userinfo") -> None:
    """The sign-in page, its button, and the IdP's form (filled in as `login`, unless None);
    then wait until the browser is back at `base` (an error page, or `rd`)."""
    v.page.goto(f"{base}/oauth2/sign_in?rd={rd}")
    v.page.click("#sign-in")
    if login is not None:
        idp_login(v.page, login)
        v.page.wait_for_url(lambda url: url.startswith(base + "/"))  # back from the IdP
        v.page.wait_for_load_state()


# --- the pages ---------------------------------------------------------------------------------
def test_sign_in_page(visit: Visit, authsvc: Process) -> None:
    visit.page.goto(f"{authsvc.url}/oauth2/sign_in?rd=/oauth2/userinfo")
    assert visit.text("#sign-in") == "Sign in with Example SSO"
    assert "For the staff of Example Ltd." in visit.text() and f"to {HOST}:{authsvc.port}" in visit.text()
    rid = visit.shown("sign-in", 200)
    assert log_record(authsvc, rid, "request")["endpoint"] == "sign_in"


def test_cancelled_at_the_idp(visit: Visit, authsvc: Process) -> None:
    sign_in_at_idp(visit, authsvc.url, login=None)
    visit.page.wait_for_selector("input[name=login]")
    visit.page.click("text=[ Cancel ]")  # oidc-provider's abort: error=access_denied
    visit.page.wait_for_selector(ERROR_PAGE)
    assert visit.error_code() == "access_denied"
    assert "End-User aborted interaction" in visit.text("#detail")
    assert visit.page.is_visible("#retry") and visit.page.is_visible("#back")
    rid = visit.shown("error-access-denied", 403)
    line = log_record(authsvc, rid, "login failed")
    assert line["code"] == "access_denied" and "error=access_denied" in line["event"]


def test_refused_user(visit: Visit, authsvc: Process) -> None:
    sign_in_at_idp(visit, authsvc.url, login="mallory@evil.example")
    assert visit.error_code() == "login_denied"
    assert "as mallory@evil.example" in visit.text() and "no session was kept" in visit.text()
    rid = visit.shown("forbidden-login-refused", 403)
    assert log_record(authsvc, rid, "login denied")["outcome"] == "forbidden"
    check = visit.page.request.get(f"{authsvc.url}/oauth2/auth", headers={"Accept": "application/json"})
    assert check.status == 401  # truly not signed in


def test_wrong_client_secret(visit: Visit, start_authsvc_for: AuthsvcFactory) -> None:
    wrong = start_authsvc_for(client_secret="not-the-secret-the-idp-has", **BRANDING)
    sign_in_at_idp(visit, wrong.url, login="alice@example.com")
    assert visit.error_code() == "client_rejected"
    assert "client_secret" in visit.text() and "Signing in again will not help" in visit.text()
    assert not visit.page.is_visible("#retry")
    rid = visit.shown("error-client-rejected", 502)
    line = log_record(wrong, rid, "login failed")
    assert line["code"] == "client_rejected" and "invalid_client" in line["event"]


def test_secure_cookie_over_plain_http(visit: Visit, tmp_path_factory: pytest.TempPathFactory) -> None:
    port = free_port()
    public = f"http://{PLAIN_HTTP_HOST}:{port}"
    callback = f"{public}/oauth2/callback"
    op = start_oidc_provider(tmp_path_factory.mktemp("op-http"), web_redirect_uris=(callback,))
    try:
        settings = authsvc_settings(op, client_id=op.web_client_id, cookie_secure=True, **BRANDING)
        proc = authsvc_on(port, tmp_path_factory.mktemp("authsvc-http"), settings)
        try:
            sign_in_at_idp(visit, public, login="alice@example.com")
            assert visit.error_code() == "insecure_cookie"
            assert "cookie_secure" in visit.text() and not visit.page.is_visible("#retry")
            rid = visit.shown("error-insecure-cookie", 403)
            assert log_record(proc, rid, "login failed")["code"] == "insecure_cookie"
        finally:
            proc.stop()
    finally:
        op.stop()


def test_expired_login(visit: Visit, start_authsvc_for: AuthsvcFactory) -> None:
    quick = start_authsvc_for(cookie_csrf_expire="1s", **BRANDING)
    sign_in_at_idp(visit, quick.url, login=None)
    visit.page.wait_for_selector("input[name=login]")
    # the login may take 1 s: wait (bounded) until the browser has dropped its login cookie
    deadline = time.monotonic() + 10
    while any(c["name"].startswith("_authsvc_csrf_") for c in visit.page.context.cookies()):
        assert time.monotonic() < deadline, "the login cookie did not expire"
        visit.page.wait_for_timeout(100)
    idp_login(visit.page, "alice@example.com")
    visit.page.wait_for_selector(ERROR_PAGE)
    assert visit.error_code() == "login_cookie_missing"
    assert "longer than 1 second" in visit.text() and visit.page.is_visible("#retry")
    rid = visit.shown("error-login-expired", 403)
    assert log_record(quick, rid, "login failed")["code"] == "login_cookie_missing"


def test_idp_down(visit: Visit, start_authsvc_for: AuthsvcFactory) -> None:
    down = start_authsvc_for(oidc_issuer_url=f"http://{HOST}:{free_port()}", **BRANDING)
    visit.page.goto(f"{down.url}/oauth2/sign_in?rd=/oauth2/userinfo")
    visit.page.click("#sign-in")
    visit.page.wait_for_selector(ERROR_PAGE)
    assert visit.error_code() == "idp_unreachable" and visit.page.is_visible("#retry")
    rid = visit.shown("error-idp-unreachable", 502)
    line = log_record(down, rid, "request")
    assert (line["endpoint"], line["status"]) == ("start", 502)  # the status the browser got


def test_signed_out(visit: Visit, authsvc: Process) -> None:
    sign_in_at_idp(visit, authsvc.url, login="alice@example.com")
    assert "alice@example.com" in (visit.page.text_content("body") or "")  # /oauth2/userinfo
    visit.page.goto(f"{authsvc.url}/oauth2/sign_out")
    assert visit.page.url == f"{authsvc.url}/oauth2/signed_out"
    assert "You are signed out of" in visit.text()
    rid = visit.shown("signed-out", 200)
    assert log_record(authsvc, rid, "request")["endpoint"] == "signed_out"


def test_forbidden_page_through_caddy(
    visit: Visit, start_authsvc_for: AuthsvcFactory, echo: EchoUpstream,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # Caddy relays authsvc's 403 to the browser; this route admits the group "nobody" only
    behind = start_authsvc_for(proxy_kind="caddy", **BRANDING)
    work = tmp_path_factory.mktemp("caddy-pages")
    caddyfile = work / "Caddyfile"
    example = (EXAMPLES / "caddy" / "Caddyfile").read_text()
    caddyfile.write_text(example.replace("uri /oauth2/auth?\n", "uri /oauth2/auth?allowed_groups=nobody\n"))
    assert "allowed_groups=nobody" in caddyfile.read_text()
    port = free_port()
    env = {"LISTEN": f"{HOST}:{port}", "AUTHSVC": f"{HOST}:{behind.port}", "UPSTREAM": f"{HOST}:{echo.port}"}
    caddy = start_caddy(work, caddyfile, port, env)
    try:
        base = f"http://{HOST}:{port}"
        visit.page.goto(f"{base}/reports")  # no session: the 302 to sign in, relayed
        idp_login(visit.page, "alice@example.com")
        visit.page.wait_for_selector(ERROR_PAGE)
        assert visit.page.url == f"{base}/reports"
        assert visit.error_code() == "denied"
        assert "You are signed in as alice@example.com" in visit.text() and "nobody" not in visit.text()
        assert visit.page.is_visible("#sign-out") and visit.page.is_visible("#switch-account")
        rid = visit.shown("forbidden", 403)
        line = log_record(behind, rid, "auth: forbidden")
        assert line["user"] == "alice@example.com"
        visit.page.click("#sign-out")
        assert visit.page.url == f"{base}/oauth2/signed_out"
    finally:
        caddy.stop()


def test_demo_home_and_the_idp_form_sent_again(
    visit: Visit, tmp_path_factory: pytest.TempPathFactory
) -> None:
    port = free_port()
    argv = python_argv("-m", "authsvc", "demo", "--port", str(port))
    demo = start_process("authsvc-demo", argv, port=port, log_dir=tmp_path_factory.mktemp("demo"),
                         ready=http_ready("/ping"))  # fmt: skip
    try:
        page = visit.page
        page.goto(f"{demo.url}/")
        assert "Not signed in" in visit.text()
        visit.shown("demo-signed-out", 200)
        page.click("#sign-in")
        assert visit.text("#sign-in") == "Sign in with OpenID Connect"
        page.click("#sign-in")
        page.fill("input[name=email]", "ada@example.com")
        page.fill("input[name=groups]", "admins, devs")
        page.click("button[type=submit]")
        page.wait_for_selector("#identity")
        assert page.url == f"{demo.url}/" and "ada@example.com" in visit.text("#identity")
        assert "curl -i -H 'Cookie: _authsvc=" in visit.text("#curl")
        visit.shown("demo-home", 200)
        # Back to the IdP's form, and send it again: the answer's state was used already
        page.go_back()
        page.wait_for_selector("input[name=email]")
        page.fill("input[name=email]", "ada@example.com")
        page.click("button[type=submit]")
        page.wait_for_selector(ERROR_PAGE)
        assert visit.error_code() == "state_used"
        visit.shown("error-state-used", 403)  # (the demo logs text lines, not JSON)
        page.goto(f"{demo.url}/oauth2/sign_out?rd=%2F")
        assert page.url == f"{demo.url}/" and "Not signed in" in visit.text()
    finally:
        demo.stop()
