"""Docs are part of the product: the README must describe every option and the real commands."""

from __future__ import annotations

import re
from pathlib import Path

from authsvc.config import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _reference_rows() -> set[str]:
    section = README.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, re.M))


def test_every_option_is_in_the_configuration_reference() -> None:
    missing = sorted(set(Settings.model_fields) - _reference_rows())
    assert not missing, f"options missing from README's configuration reference: {missing}"


def test_reference_lists_no_option_that_does_not_exist() -> None:
    stale = sorted(_reference_rows() - set(Settings.model_fields))
    assert not stale, f"README documents options authsvc does not have: {stale}"


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one() -> None:
    assert "pip install . && authsvc demo" in README
    test_command = "pip install -e '.[test]' && pytest"
    assert test_command in README
    assert "python3 -m pytest" in (ROOT / ".ci" / "run").read_text()
