"""`--convert-config-to-alpha` on what oauth2-proxy's Helm chart runs (its args, env and files,
rendered as in test_oauth2_proxy_chart.py): the printed YAML, given back with `--alpha-config`
in place of the options it carries, gives the settings `--config-test` showed before. The value
sets that already pass `--alpha-config` fail as oauth2-proxy fails with both flags."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from authsvc.cli import main
from authsvc.config import oauth2_proxy as o2p
from authsvc.config.to_alpha import LEGACY_KEYS
from tests.packaging.test_oauth2_proxy_chart import EXPECTED, REDIS_EXPECTED, materialise, pod, rendered

NAMES = [*EXPECTED, *REDIS_EXPECTED]


def _legacy_flag(arg: str) -> bool:
    name = arg.partition("=")[0].removeprefix("--")
    return any(key in LEGACY_KEYS for key in o2p.BY_FLAG.get(name, ()))


def _config_test(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main([*argv, "--config-test"]) == 0, capsys.readouterr().err
    settings: dict[str, Any] = json.loads(capsys.readouterr().out)
    return settings


@pytest.mark.parametrize("name", NAMES)
def test_chart_args_round_trip_through_the_alpha_yaml(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = materialise(pod(rendered(name)), tmp_path / "root")
    argv = run.argv[3:]
    assert all("=" in a for a in argv)  # the chart writes --flag=value only
    for key in [k for k in os.environ if k.startswith(("AUTHSVC_", "OAUTH2_PROXY_"))]:
        monkeypatch.delenv(key)
    for key, value in run.env.items():
        monkeypatch.setenv(key, value)
    if any(a.startswith("--alpha-config=") for a in argv):
        with pytest.raises(SystemExit) as stop:
            main([*argv, "--convert-config-to-alpha"])
        assert stop.value.code == 1
        assert "cannot use alpha-config and convert-config-to-alpha together" in capsys.readouterr().err
        return
    before = _config_test(argv, capsys)
    assert main([*argv, "--convert-config-to-alpha"]) == 0
    alpha = tmp_path / "converted.yaml"
    alpha.write_text(capsys.readouterr().out)
    # oauth2-proxy with --alpha-config reads none of the converted options from cfg, env or flags
    rest = []
    for arg in argv:
        if arg.startswith("--config="):
            cfg = Path(arg.partition("=")[2])
            kept = {k: v for k, v in tomllib.loads(cfg.read_text()).items() if k not in LEGACY_KEYS}
            stripped = tmp_path / "rest.cfg"
            stripped.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in kept.items()))
            rest.append(f"--config={stripped}")
        elif not _legacy_flag(arg):
            rest.append(arg)
    for key in run.env:
        if key.removeprefix("OAUTH2_PROXY_").lower() in LEGACY_KEYS:
            monkeypatch.delenv(key)
    after = _config_test([*rest, f"--alpha-config={alpha}"], capsys)
    # the chart's --https-address without a certificate serves nothing, in oauth2-proxy as here:
    # its conversion drops it (legacy_options.go: "Disable the HTTPS server if there's no
    # certificates"), so only that inert value differs
    assert before["tls_cert_file"] == after["tls_cert_file"] == ""
    assert before.pop("https_address") != after.pop("https_address") == ":443"
    assert after == before
