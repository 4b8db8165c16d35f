"""Fixtures for the provider tests: respx fakes of each identity provider's documented API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx

from tests.support.fake_github import FakeGitHub
from tests.support.fake_idp import FakeIdP


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """github.com and api.github.com on respx routes; any other host fails the test."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        github = FakeGitHub()
        github.mount(router)
        yield github
    assert not github.errors, f"FakeGitHub saw protocol violations: {github.errors}"


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
