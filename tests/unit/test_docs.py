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


def _reference_table() -> dict[str, tuple[str, str]]:
    section = README.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): (m.group(2), m.group(3))
            for m in re.finditer(r"^\| `([a-z0-9_]+)` \| (.*?) \| (.*) \|$", section, re.M)}


def test_the_reference_table_is_what_the_settings_model_says() -> None:
    """Each row's default and meaning are the field's default (with its default_note) and its
    description: `serve --help` shows the model, so README cannot say something else."""
    from authsvc.config.reference import rows

    table, model = _reference_table(), rows()
    drift = {name: {"README": table.get(name), "model": model[name]}
             for name in model if table.get(name) != model[name]}
    assert not drift, (
        "README's configuration reference and the settings model differ (a field's description= is "
        f"its meaning, json_schema_extra default_note what the default column adds): {drift}")


def test_a_default_note_never_contradicts_the_default() -> None:
    """A note that replaces the default ("— (required)") stands only for an empty default."""
    from authsvc.config.reference import default_cell, default_value

    prose = {"trusted_proxy_ips", "redirect_browsers"}  # README names their defaults in words
    for name, field in Settings.model_fields.items():
        cell = default_cell(field)
        if cell.startswith("`"):
            assert cell.startswith(f"`{default_value(field)}`"), name
        elif name not in prose:
            assert cell.startswith("— (required") and default_value(field) in ('""', "[]"), name


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
    # oauth2-proxy's own flags (main.go), --convert-config-to-alpha among them: all supported
    flags = ", ".join(f"`--{flag}`" for flag in o2p.CLI_FLAGS)
    assert f"| command-line flags ({flags}) | {len(o2p.CLI_FLAGS)} |" in guide
    supported = counts["same"] + counts["renamed"] - 1 + counts["built in"] + len(o2p.CLI_FLAGS)
    assert f"| **supported** | **{supported} (" in guide  # google_group counted once, as google_groups
    assert "| not supported | 0 |" in guide
    assert "README" in guide and "docs/migrating-from-oauth2-proxy.md" in README


_FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def _anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to `-`, `-1` on repeats."""
    anchors: set[str] = set()
    for heading in re.findall(r"^#+ (.*)$", _FENCE.sub("", text), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        n, anchor = 0, slug
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


def test_every_relative_link_in_the_docs_resolves() -> None:
    """A link in README, docs/ or an example's README to a file or a heading that is gone is a
    dead end for the reader (the restructure into folders and the merged docs moved both)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / "examples").glob("*/README.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", _FENCE.sub("", page.read_text())):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue  # https:, mailto: ...
            path, _, fragment = target.partition("#")
            dest = (page.parent / path) if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif fragment and dest.suffix == ".md" and fragment not in _anchors(dest.read_text()):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, broken
