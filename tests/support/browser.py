"""A real browser for integration tests: Debian's chromium, driven by Playwright.

Never downloads a browser: Playwright is pointed at /usr/bin/chromium. One browser per test
session; each test gets a fresh context (its own cookie jar).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from .tools import missing, require_tool

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium(extra_args: list[str] | None = None) -> Iterator[Browser]:
    """Launch headless chromium from /usr/bin (skip/fail when absent); close it afterwards."""
    executable = require_tool("chromium")
    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(
                executable_path=str(Path(executable).resolve()),
                headless=True,
                args=CHROMIUM_ARGS + (extra_args or []),
                timeout=60_000,
            )
        except Exception as exc:  # a broken install: report it like a missing one
            missing("a working chromium", f"apt-get install chromium ({exc})")
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def fresh_page(browser: Browser, proxy: Mapping[str, str] | None = None) -> Iterator[Page]:
    """A page in a new context (no cookies), closed afterwards; `proxy`: Playwright's proxy
    settings for the context (a public host name served by a proxy on loopback)."""
    context: BrowserContext = (
        browser.new_context(proxy=dict(proxy)) if proxy else browser.new_context()  # type: ignore[arg-type]
    )
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def idp_login(page: Page, login: str, password: str = "any-password") -> None:
    """Fill the oidc-provider development login form and submit it."""
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def fetch_status(page: Page, base: str, path: str) -> int:
    """The status a same-origin `fetch()` from a public page of `base` gets for `path`.

    A real browser's XHR: `Accept: */*`, `Sec-Fetch-Mode: cors`. A redirect to the IdP would be
    followed across origins and fail, so a plain status number proves there was none.
    """
    # a same-origin page without a CSP: the sign-in page's (default-src 'none') forbids fetch()
    page.goto(base + "/oauth2/userinfo")
    status = page.evaluate(
        "async (path) => (await fetch(path, {redirect: 'manual'})).status", path
    )
    return int(status)
