"""The import layering (pyproject.toml [tool.importlinter]) holds, so a local pytest catches an
arrow that points up (config importing runtime code, the check importing the login flow)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

from tests.support.tools import missing

ROOT = Path(__file__).resolve().parents[2]

LINT = (
    "import sys; from importlinter.cli import lint_imports; "
    "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"
)


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    if find_spec("importlinter") is None:
        missing("import-linter", "pip install -e '.[test]'")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-c", LINT], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def test_every_layering_contract_is_kept() -> None:
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_an_upward_import_breaks_a_contract(tmp_path: Path) -> None:
    """The contracts really bind: config importing the check path is reported."""
    copy = tmp_path / "repo"
    (copy / "authsvc").mkdir(parents=True)
    (copy / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    for path in (ROOT / "authsvc").rglob("*.py"):
        target = copy / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    access = copy / "authsvc" / "config" / "access.py"
    access.write_text(access.read_text() + "\nfrom ..check import paths  # noqa\n")
    done = _lint(copy)
    assert done.returncode != 0
    assert "config imports no flow and no runtime code BROKEN" in done.stdout
