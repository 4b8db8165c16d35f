"""Fixtures for the provider tests: respx fakes of each identity provider's documented API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx

from tests.support.fake_github import FakeGitHub


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """github.com and api.github.com on respx routes; any other host fails the test."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        github = FakeGitHub()
        github.mount(router)
        yield github
    assert not github.errors, f"FakeGitHub saw protocol violations: {github.errors}"
