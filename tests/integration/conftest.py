"""Fixtures for the integration tests: real processes, started once, always stopped.

Expensive processes (the node OpenID provider, the browser, the echo upstream) live for the
whole session; each proxy module starts its own authsvc and proxy. A failing test's report
carries the log tail of every process still running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from tests.conftest import SECRET_A
from tests.support.browser import chromium
from tests.support.components import OpenIDProvider, start_authsvc, start_oidc_provider
from tests.support.echo import EchoUpstream, start_echo
from tests.support.processes import RUNNING, Process

#: the Ingress host of examples/ingress-nginx (a name, reached through a client-side host map)
INGRESS_HOST = "app.example.com"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        for proc in list(RUNNING):
            report.sections.append((f"log of {proc.name} ({proc.log_path})", proc.log()))


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIDProvider]:
    """The real OpenID provider (npm oidc-provider) on a free port, for the whole session."""
    op = start_oidc_provider(
        tmp_path_factory.mktemp("oidc-provider"),
        redirect_uris=("http://127.0.0.1/oauth2/callback",),
        web_redirect_uris=(f"http://{INGRESS_HOST}/oauth2/callback",),
    )
    try:
        yield op
    finally:
        op.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless /usr/bin/chromium through Playwright, per test module.

    Not session-wide: Playwright's sync API keeps an asyncio loop running in the main thread
    while it is open, and every later asyncio.run / anyio test would fail under it.
    """
    with chromium() as b:
        yield b


@pytest.fixture(scope="session")
def echo() -> Iterator[EchoUpstream]:
    """The protected application: echoes the request headers it receives as JSON."""
    server = start_echo()
    try:
        yield server
    finally:
        server.stop()


def authsvc_settings(op: OpenIDProvider, **overrides: Any) -> dict[str, Any]:
    """authsvc options for the real OP on plain-http loopback; overrides win."""
    options: dict[str, Any] = {
        "provider": "oidc",
        "oidc_issuer_url": op.issuer,
        "client_id": op.client_id,
        "client_secret": op.client_secret,
        "cookie_secret": [SECRET_A],
        "cookie_secure": False,
        "email_domains": ["example.com"],
        "whitelist_domains": ["127.0.0.1:*"],
    }
    options.update(overrides)
    return options


AuthsvcFactory = Callable[..., Process]


@pytest.fixture(scope="module")
def start_authsvc_for(
    tmp_path_factory: pytest.TempPathFactory, oidc_provider: OpenIDProvider
) -> Iterator[AuthsvcFactory]:
    """Start authsvc (a real uvicorn process) with options; stopped when the module ends."""
    started: list[Process] = []

    def start(**overrides: Any) -> Process:
        workdir: Path = tmp_path_factory.mktemp("authsvc")
        proc = start_authsvc(workdir, authsvc_settings(oidc_provider, **overrides))
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.stop()
