"""The benchmark (bench/, `python -m bench`) still runs: its few-second smoke mode, once.

The benchmark itself is not part of the suite; this only keeps the script working. A missing
`wrk` skips locally and fails under CI=true (.ci/run installs it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.tools import missing

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_bench_smoke_mode_runs_every_available_scenario(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        missing("wrk", "apt-get install wrk")
    report_path = tmp_path / "report.json"
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--json", str(report_path)],
        cwd=REPO, capture_output=True, text=True, timeout=240, check=False,
    )
    assert out.returncode == 0, f"stdout:\n{out.stdout}\nstderr:\n{out.stderr[-4000:]}"
    assert "req/s" in out.stdout and "p99 ms" in out.stdout
    report = json.loads(report_path.read_text())
    rows = {r["scenario"].split(" ")[0]: r for r in report["closed_loop"]}
    # the ceiling, a cookie session and the 401 always run; the others when their tools exist
    assert {"1", "2", "5"} <= set(rows)
    if shutil.which("redis-server"):
        assert "3" in rows
    if shutil.which("nginx") or Path("/usr/sbin/nginx").exists():
        assert {"6a", "6b"} <= set(rows)
    for row in rows.values():
        assert row["requests"] > 0 and row["errors"] == 0, row
        assert row["rps"] > 0 and row["cpu_us"] > 0
    assert rows["1"]["ratio"] == 1.0
    assert [r["errors"] for r in report["fixed_rate"]] == [0] * len(report["fixed_rate"])
    assert report["elapsed_s"] < 120


def test_the_uvicorn_only_rows_run_uvicorns_protocol() -> None:
    """Rows 2u and 6e are the before of web/lean.py: their server must not answer checks on
    CheckProtocol. (A partial with lean_check=False was overridden by serve's own
    lean_check=True, so until 2026-12-01 both rows measured the lean protocol.)"""
    from authsvc import cli
    from authsvc.web.lean import CheckProtocol
    from authsvc.web.protocol import LimitedHttpToolsProtocol
    from bench import uvicorn_only

    def protocol(options: dict[str, object]) -> object:
        return getattr(options["http"], "func", options["http"])

    assert protocol(cli.uvicorn_options(8192, 10.0, lean_check=True)) is CheckProtocol  # serve's
    assert protocol(uvicorn_only.uvicorn_options(8192, 10.0, lean_check=True)) is LimitedHttpToolsProtocol
