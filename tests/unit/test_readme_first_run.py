"""README's "Running it for real" snippet runs as written: it makes its own cookie secret, takes
the client secret from the terminal, and `check-config` accepts what it wrote."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def snippet() -> str:
    section = README.split("## Running it for real", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "no sh block in 'Running it for real'"
    return match.group(1)


def test_the_snippet_writes_a_config_check_config_accepts(tmp_path: Path) -> None:
    script = snippet()
    assert "<output of generate-secret>" not in script and '"..."' not in script  # no placeholders
    serve = "authsvc serve --config authsvc.toml\n"
    assert script.endswith(serve)
    shim = tmp_path / "bin" / "authsvc"  # the console script, pointing at this checkout
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m authsvc "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{shim.parent}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    env.pop("AUTHSVC_CLIENT_SECRET", None)
    run = subprocess.run(
        ["bash", "-e", "-c", script.removesuffix(serve)], input="the-client-secret\n", text=True,
        capture_output=True, cwd=tmp_path, env=env, timeout=60, check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "configuration OK" in run.stderr
    written = (tmp_path / "authsvc.toml").read_text()
    assert re.search(r'cookie_secret   = \["[A-Za-z0-9_-]{43}="\]', written), written
    assert "the-client-secret" not in written
    assert (tmp_path / "authsvc.toml").stat().st_mode & 0o077 == 0
