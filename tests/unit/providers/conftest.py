"""Fixtures for the provider tests: respx fakes of each identity provider's documented API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
import respx

from tests.support.fake_bitbucket import FakeBitbucket
from tests.support.fake_github import FakeGitHub
from tests.support.fake_gitlab import FakeGitLabAPI
from tests.support.fake_graph import FakeGraph
from tests.support.fake_idp import FakeIdP


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The shared HTTP client a provider is built with (respx answers its requests)."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """github.com and api.github.com on respx routes; any other host fails the test."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        github = FakeGitHub()
        github.mount(router)
        yield github
    assert not github.errors, f"FakeGitHub saw protocol violations: {github.errors}"


@pytest.fixture
def fake_bitbucket() -> Iterator[FakeBitbucket]:
    """bitbucket.org and api.bitbucket.org on respx routes; any other host fails the test."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        bitbucket = FakeBitbucket()
        bitbucket.mount(router)
        yield bitbucket
    assert not bitbucket.errors, f"FakeBitbucket saw protocol violations: {bitbucket.errors}"


def _mounted_idp(issuer: str) -> Iterator[FakeIdP]:
    """A FakeIdP at `issuer` on its own respx router (loopback passes through)."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        router.route(host__in=("127.0.0.1", "localhost", "::1")).pass_through()
        idp = FakeIdP(issuer=issuer)
        idp.mount(router)
        yield idp
    assert not idp.errors, f"FakeIdP saw protocol violations: {idp.errors}"


@pytest.fixture
def fake_google() -> Iterator[FakeIdP]:
    """An OpenID Provider answering as https://accounts.google.com."""
    yield from _mounted_idp("https://accounts.google.com")


ENTRA_COMMON = "https://login.microsoftonline.com/common/v2.0"


@dataclass
class Entra:
    """A multi-tenant Entra ID authority (discovery issuer is the {tenantid} template) + Graph."""

    idp: FakeIdP
    graph: FakeGraph


@pytest.fixture
def fake_entra() -> Iterator[Entra]:
    """Entra ID's `common` authority and Microsoft Graph on one respx router."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        idp = FakeIdP(issuer=ENTRA_COMMON)
        idp.discovery_overrides["issuer"] = "https://login.microsoftonline.com/{tenantid}/v2.0"
        idp.mount(router)
        graph = FakeGraph(idp)
        graph.mount(router)
        yield Entra(idp, graph)
    assert not idp.errors and not graph.errors, (idp.errors, graph.errors)


@dataclass
class GitLab:
    """A self-hosted GitLab: its OIDC side (FakeIdP at the instance URL) and its REST API."""

    idp: FakeIdP
    api: FakeGitLabAPI


@pytest.fixture
def fake_gitlab() -> Iterator[GitLab]:
    """GitLab at https://gitlab.example.test on one respx router."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        idp = FakeIdP(issuer="https://gitlab.example.test")
        idp.mount(router)
        api = FakeGitLabAPI(idp)
        api.mount(router)
        yield GitLab(idp, api)
    assert not idp.errors and not api.errors, (idp.errors, api.errors)


@pytest.fixture
def fake_keycloak() -> Iterator[FakeIdP]:
    """A Keycloak realm's OpenID Provider (https://sso.example.test/realms/acme)."""
    yield from _mounted_idp("https://sso.example.test/realms/acme")
