"""`authsvc migrate` for the provider and logging options of issue 12's last rows: each one's line
in the report and its value in the TOML written."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from authsvc.cli import main

BASE = ('client_id = "c"\nclient_secret = "s"\n'
        'cookie_secret = "OQINaROshtE9TcZkNAm-5Zs2Pv3xaWytBmc5W7sPX7w="\n')
TENANT = "11111111-2222-3333-4444-555555555555"

CASES: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    # name: (cfg lines, option reported, status, what the TOML says)
    "graph group field (azure)": (
        f'provider = "azure"\nazure_tenant = "{TENANT}"\nazure_graph_group_field = "displayName"\n',
        "azure_graph_group_field", "renamed", {"entra_id_graph_group_field": "displayName"}),
    "graph group field (entra-id ignores it)": (
        f'provider = "entra-id"\nazure_tenant = "{TENANT}"\nazure_graph_group_field = "displayName"\n',
        "azure_graph_group_field", "ignored", {"entra_id_graph_group_field": None}),
    "google organization id": (
        'provider = "google"\ngoogle_admin_email = "admin@x.com"\n'
        'google_use_application_default_credentials = true\ngoogle_use_organization_id = true\n'
        'google_admin_api_user_scope = "user"\n',
        "google_use_organization_id", "same",
        {"google_use_organization_id": True, "google_admin_api_user_scope": "user"}),
    "request_id_header": (
        'provider = "oidc"\noidc_issuer_url = "https://idp.example"\nrequest_id_header = "X-Trace-Id"\n',
        "request_id_header", "same", {"request_id_header": "X-Trace-Id"}),
}


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("AUTHSVC_", "OAUTH2_PROXY_")):
            monkeypatch.delenv(key)


@pytest.mark.parametrize("case", sorted(CASES))
def test_migrate_maps_the_option(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines, key, status, want = CASES[case]
    cfg, out = tmp_path / "oauth2-proxy.cfg", tmp_path / "authsvc.toml"
    cfg.write_text(BASE + lines)
    assert main(["migrate", "--config", str(cfg), "--output", str(out)]) == 0
    report = {line.split()[0]: line for line in capsys.readouterr().err.splitlines() if line.strip()}
    assert report[key].split()[1] == status, report[key]
    toml = tomllib.loads(out.read_text())
    for option, value in want.items():
        assert toml.get(option) == value, (option, toml)
