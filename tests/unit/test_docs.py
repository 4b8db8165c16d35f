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


def test_migration_guide_lists_every_oauth2_proxy_option_as_the_code_treats_it() -> None:
    from authsvc.config import oauth2_proxy as o2p

    guide = (ROOT / "docs" / "migrating-from-oauth2-proxy.md").read_text()
    listed = {m.group(1): m.group(2).strip()
              for m in re.finditer(r"^\| `([a-z0-9_]+)` \| `--[a-z0-9-]+` \| ([a-z ]+) \|", guide, re.M)}
    rows = {key: status for key, _, status, _ in o2p.inventory_rows(Settings.model_fields)}
    # after adding an option: python -m authsvc.config.oauth2_proxy prints the table anew
    assert listed == rows, "docs/migrating-from-oauth2-proxy.md's option table is out of date"
    counts = {s: list(rows.values()).count(s) for s in set(rows.values())}
    assert f"| same name and meaning | {counts['same']} |" in guide
    built_in = "| built in (fixed behaviour; a value asking for it is accepted) |"
    assert f"{built_in} {counts['built in']} |" in guide
    assert "README" in guide and "docs/migrating-from-oauth2-proxy.md" in README
