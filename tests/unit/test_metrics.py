"""Prometheus metrics through the ASGI app: every outcome counted once, timings, /metrics itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from authsvc.errors import StoreUnavailable
from authsvc.models import Session
from authsvc.web.metrics import idp_endpoint, outcome_of
from tests.support.app_driver import Browser, browser_on, fake_idp_settings
from tests.support.fake_idp import FakeIdP

pytestmark = pytest.mark.anyio


def value(browser: Browser, name: str, **labels: str) -> float:
    """A sample of this app's own registry (0 when never observed)."""
    return browser.services.metrics.registry.get_sample_value(name, labels) or 0.0


def requests(browser: Browser, endpoint: str, outcome: str) -> float:
    """How many requests to `endpoint` ended as `outcome`."""
    return value(browser, "authsvc_requests_total", endpoint=endpoint, outcome=outcome)


@pytest.fixture
async def browser(fake_idp: FakeIdP) -> AsyncIterator[Browser]:
    settings = fake_idp_settings(fake_idp, skip_auth_routes=["^/public/"], proxy_kind="nginx")
    async with browser_on(settings, fake_idp) as b:
        yield b


async def test_each_auth_outcome_is_counted_once(browser: Browser) -> None:
    assert (await browser.client.get("/oauth2/auth")).status_code == 401
    public = {"X-Original-URI": "/public/x", "X-Original-Method": "GET"}
    skipped = await browser.client.get("/oauth2/auth", headers=public)
    assert skipped.status_code == 202
    assert (await browser.login(email="ada@example.com")).status_code == 302
    for _ in range(3):
        assert (await browser.client.get("/oauth2/auth")).status_code == 202
    assert (await browser.client.get("/oauth2/auth?allowed_groups=admins")).status_code == 403

    assert requests(browser, "auth", "unauthenticated") == 1
    assert requests(browser, "auth", "skipped") == 1
    assert requests(browser, "auth", "allowed") == 3
    assert requests(browser, "auth", "forbidden") == 1
    assert requests(browser, "auth", "error") == 0
    assert value(browser, "authsvc_auth_request_seconds_count") == 6
    # sub-millisecond work: the histogram's first bucket is half a millisecond
    assert value(browser, "authsvc_auth_request_seconds_bucket", le="0.0005") >= 0
    assert requests(browser, "start", "allowed") == 1
    assert requests(browser, "callback", "allowed") == 1
    assert value(browser, "authsvc_logins_total", result="success") == 1


async def test_login_results(browser: Browser, fake_idp: FakeIdP) -> None:
    assert (await browser.login(email="eve@elsewhere.org")).status_code == 403  # rules deny
    bad = await browser.client.get("/oauth2/callback", params={"state": "A" * 43, "code": "x"})
    assert bad.status_code == 403  # no login in progress for that state
    assert value(browser, "authsvc_logins_total", result="denied") == 1
    assert value(browser, "authsvc_logins_total", result="failed") == 1
    assert value(browser, "authsvc_logins_total", result="success") == 0
    assert requests(browser, "callback", "forbidden") == 2


async def test_idp_calls_are_timed_by_endpoint(browser: Browser, fake_idp: FakeIdP) -> None:
    await browser.login(email="ada@example.com")
    assert value(browser, "authsvc_idp_request_seconds_count", endpoint="discovery") == fake_idp.calls[
        "discovery"
    ] >= 1
    assert value(browser, "authsvc_idp_request_seconds_count", endpoint="token") == 1
    assert value(browser, "authsvc_idp_request_seconds_count", endpoint="jwks") == fake_idp.calls["jwks"]
    assert value(browser, "authsvc_idp_request_seconds_sum", endpoint="token") > 0


def test_idp_endpoint_labels_stay_few() -> None:
    cases = {
        "https://idp/realms/x/.well-known/openid-configuration": "discovery",
        "https://idp/realms/x/protocol/openid-connect/token": "token",
        "https://login.microsoftonline.com/t/oauth2/v2.0/token": "token",
        "https://idp/realms/x/protocol/openid-connect/certs": "jwks",
        "https://idp/jwks": "jwks",
        "https://www.googleapis.com/oauth2/v3/certs": "jwks",
        "https://idp/userinfo": "userinfo",
        "https://api.github.com/user": "userinfo",
        "https://api.github.com/user/emails": "other",
        "https://github.com/login/oauth/access_token": "token",
    }
    assert {url: idp_endpoint(httpx.URL(url)) for url in cases} == cases


def test_outcome_of_status() -> None:
    assert [outcome_of(s) for s in (200, 202, 302, 400, 401, 403, 500, 503)] == [
        "allowed", "allowed", "allowed", "forbidden", "unauthenticated", "forbidden", "error", "error",
    ]


class DownStore:
    """A session store whose backend is unreachable."""

    async def load(self, value: str) -> Session:
        raise StoreUnavailable("redis: connection refused")

    async def save(self, session: Session, previous: str | None = None) -> str:
        raise StoreUnavailable("redis: connection refused")

    async def clear(self, value: str) -> None:
        raise StoreUnavailable("redis: connection refused")

    async def ping(self) -> None:
        raise StoreUnavailable("redis: connection refused")

    async def close(self) -> None:
        return None


async def test_store_outage_counts_as_error_and_store_error(fake_idp: FakeIdP) -> None:
    async with browser_on(fake_idp_settings(fake_idp), fake_idp, store=DownStore()) as browser:
        answer = await browser.client.get("/oauth2/auth", headers={"cookie": "_authsvc=abc"})
        assert answer.status_code == 503
        assert (await browser.login(email="ada@example.com")).status_code == 503
        assert requests(browser, "auth", "error") == 1
        assert value(browser, "authsvc_session_store_errors_total") == 2
        assert value(browser, "authsvc_logins_total", result="failed") == 1


async def test_metrics_endpoint_speaks_prometheus_text(browser: Browser) -> None:
    await browser.client.get("/oauth2/auth")
    browser.services.metrics.record_refresh(success=True)
    browser.services.metrics.record_refresh(success=False)
    answer = await browser.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    assert {
        "authsvc_requests", "authsvc_auth_request_seconds", "authsvc_logins", "authsvc_refreshes",
        "authsvc_session_store_errors", "authsvc_idp_request_seconds",
    } <= set(families)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for s in families["authsvc_requests"].samples
    }
    assert samples[("authsvc_requests_total", (("endpoint", "auth"), ("outcome", "unauthenticated")))] == 1
    refreshes = {s.labels["result"]: s.value for s in families["authsvc_refreshes"].samples
                 if s.name == "authsvc_refreshes_total"}
    assert refreshes == {"success": 1, "failed": 1}
    # /metrics itself is not counted as a request of any endpoint
    assert all(s.labels.get("endpoint") != "metrics" for s in families["authsvc_requests"].samples)


async def test_metrics_address_moves_metrics_off_the_main_port(fake_idp: FakeIdP) -> None:
    async with browser_on(fake_idp_settings(fake_idp, metrics_address="127.0.0.1:9191"), fake_idp) as browser:
        assert (await browser.client.get("/metrics")).status_code == 404


async def test_each_app_has_its_own_registry(fake_idp: FakeIdP) -> None:
    async with (
        browser_on(fake_idp_settings(fake_idp), fake_idp) as first,
        browser_on(fake_idp_settings(fake_idp), fake_idp) as second,
    ):
        await first.client.get("/oauth2/auth")
        assert requests(first, "auth", "unauthenticated") == 1
        assert requests(second, "auth", "unauthenticated") == 0
    assert prometheus_client.REGISTRY.get_sample_value(
        "authsvc_requests_total", {"endpoint": "auth", "outcome": "unauthenticated"}
    ) is None


async def test_no_label_lookup_per_request(browser: Browser, monkeypatch: pytest.MonkeyPatch) -> None:
    """Children are bound at start-up: serving /oauth2/auth never calls `.labels()`."""
    await browser.login(email="ada@example.com")

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("labels() called while serving a request")

    monkeypatch.setattr(prometheus_client.metrics.MetricWrapperBase, "labels", forbidden)
    assert (await browser.client.get("/oauth2/auth")).status_code == 202
    browser.client.cookies.clear()
    assert (await browser.client.get("/oauth2/auth")).status_code == 401


def test_cheaper_observer_fills_the_same_buckets_as_observe() -> None:
    """metrics.observer (bisection, no per-call checks) against Histogram.observe itself: the
    same exposition for amounts on, between and beyond every bound."""
    from authsvc.web.metrics import AUTH_BUCKETS, observer

    amounts = [0.0, 1e-6, *AUTH_BUCKETS, *(b * 0.999 for b in AUTH_BUCKETS),
               *(b * 1.001 for b in AUTH_BUCKETS), 3.0]

    def exposed(use_observer: bool) -> bytes:
        registry = prometheus_client.CollectorRegistry()
        histogram = prometheus_client.Histogram("h", "h", buckets=AUTH_BUCKETS, registry=registry)
        observe = observer(histogram) if use_observer else histogram.observe
        assert (observe != histogram.observe) == use_observer  # the cheap one is in use
        for amount in amounts:
            observe(amount)
        text = prometheus_client.generate_latest(registry)
        return b"\n".join(line for line in text.splitlines() if b"_created" not in line)

    assert exposed(True) == exposed(False)
    assert b'h_bucket{le="0.0005"} 4.0' in exposed(True)


def test_cheaper_incrementer_counts_as_inc() -> None:
    from authsvc.web.metrics import incrementer

    registry = prometheus_client.CollectorRegistry()
    counter = prometheus_client.Counter("c", "c", ["o"], registry=registry)
    inc = incrementer(counter.labels("a"))
    assert inc != counter.labels("a").inc
    for _ in range(3):
        inc()
    counter.labels("a").inc()
    assert registry.get_sample_value("c_total", {"o": "a"}) == 4.0  # 0, 1e-6, the bound and just below
