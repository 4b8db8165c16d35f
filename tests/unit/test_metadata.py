"""Discovery and JWKS cache: lazy, fetched once, TTL, issuer check, outage tolerance."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from authsvc.config import load_settings
from authsvc.errors import ProviderUnavailable
from authsvc.providers.metadata import RETRY_AFTER, MetadataCache, ProviderMetadata
from tests.support.fake_idp import FakeIdP, ManualClock

pytestmark = pytest.mark.anyio

TTL = 3600.0


@dataclass
class Env:
    idp: FakeIdP
    clock: ManualClock
    cache: MetadataCache


@pytest.fixture
async def env(fake_idp: FakeIdP) -> AsyncIterator[Env]:
    clock = ManualClock()
    fake_idp.clock = clock
    s = load_settings(
        cookie_secret="a" * 32, client_id="client", client_secret="secret",
        oidc_issuer_url=fake_idp.issuer, email_domains=["*"], oidc_metadata_ttl=TTL,
    )
    async with httpx.AsyncClient() as http:
        yield Env(fake_idp, clock, MetadataCache(s, http, clock))


async def test_lazy_and_fetched_once_by_concurrent_callers(env: Env) -> None:
    assert sum(env.idp.calls.values()) == 0
    results = await asyncio.gather(*(env.cache.metadata() for _ in range(20)),
                                   *(env.cache.jwks() for _ in range(20)))
    assert (env.idp.calls["discovery"], env.idp.calls["jwks"]) == (1, 1)
    assert isinstance(results[0], ProviderMetadata)
    assert results[0].token_endpoint == env.idp.url("token")


async def test_cached_for_the_ttl_then_refetched(env: Env) -> None:
    await env.cache.metadata()
    env.clock.advance(TTL - 1)
    await env.cache.metadata()
    assert env.idp.calls["discovery"] == 1
    env.clock.advance(2)
    await env.cache.metadata()
    assert env.idp.calls["discovery"] == 2


@pytest.mark.parametrize(
    "issuer",
    ["https://idp.example.test/", "https://IDP.example.test", "https://evil.example.test", None],
)
async def test_discovery_issuer_must_match_exactly(env: Env, issuer: str | None) -> None:
    env.idp.discovery_overrides["issuer"] = issuer
    with pytest.raises(ProviderUnavailable, match="issuer"):
        await env.cache.metadata()


@pytest.mark.parametrize(
    "overrides",
    [{"token_endpoint": None}, {"jwks_uri": None}, {"authorization_endpoint": 42}],
)
async def test_discovery_without_required_fields(env: Env, overrides: dict[str, Any]) -> None:
    env.idp.discovery_overrides.update(overrides)
    with pytest.raises(ProviderUnavailable, match="lacks"):
        await env.cache.metadata()


@pytest.mark.parametrize("status", [503, 404, 0], ids=["503", "404", "connect-error"])
async def test_never_loaded_is_provider_unavailable_then_recovers(env: Env, status: int) -> None:
    env.idp.fail_next(1, status=status, endpoint="discovery")
    with pytest.raises(ProviderUnavailable):
        await env.cache.metadata()
    assert (await env.cache.metadata()).issuer == env.idp.issuer


async def test_jwks_failure_before_first_load(env: Env) -> None:
    env.idp.fail_next(1, status=503, endpoint="jwks")
    with pytest.raises(ProviderUnavailable, match="JWKS"):
        await env.cache.jwks()


async def test_outage_after_a_load_serves_the_cached_copy(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    meta, keys = await env.cache.metadata(), await env.cache.jwks()
    env.clock.advance(TTL + 1)
    env.idp.fail_next(100, status=503)
    with caplog.at_level(logging.WARNING, logger="authsvc.providers.metadata"):
        assert await env.cache.metadata() is meta
        assert await env.cache.jwks() is keys
    assert "serving the cached copy" in caplog.text
    calls = sum(env.idp.calls.values())
    # no hammering: within the retry delay the stale copy is served without asking
    env.clock.advance(RETRY_AFTER - 1)
    await env.cache.metadata()
    await env.cache.jwks()
    assert sum(env.idp.calls.values()) == calls
    # the IdP is back: the next try after the delay refreshes
    env.idp.recover()
    env.clock.advance(2)
    assert await env.cache.metadata() is not meta
    assert await env.cache.signing_key(env.idp.kid, "RS256") is not None


async def test_signing_key_refetches_once_per_interval(env: Env) -> None:
    assert await env.cache.signing_key(env.idp.kid, "RS256") is not None
    assert await env.cache.signing_key("forged-1", "RS256") is None
    assert await env.cache.signing_key("forged-2", "RS256") is None
    assert env.idp.calls["jwks"] == 2


async def test_keys_for_encryption_are_ignored(env: Env) -> None:
    env.idp.jwk_overrides["use"] = "enc"
    with pytest.raises(ProviderUnavailable, match="JWKS"):
        await env.cache.jwks()
