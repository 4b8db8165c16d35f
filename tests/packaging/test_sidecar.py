"""examples/kubernetes-sidecar: valid Kubernetes, loopback-only app, a working nginx config."""

from __future__ import annotations

import base64
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from authsvc.config import load_settings
from tests.support.k8s import SIDECAR, Manifest, documents, validate
from tests.support.tools import require_tool


@pytest.fixture(scope="module")
def docs() -> list[Manifest]:
    return list(documents(SIDECAR.read_text()))


def one(docs: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {len(found)}"
    return found[0]


def containers(docs: list[Manifest]) -> dict[str, Any]:
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    return {c["name"]: c for c in pod["containers"]}


def test_manifests_match_kubernetes_schemas(docs: list[Manifest]) -> None:
    assert sorted(d["kind"] for d in docs) == ["ConfigMap", "ConfigMap", "Deployment", "Service"]
    for doc in docs:
        validate(doc)


def test_only_nginx_is_reachable(docs: list[Manifest]) -> None:
    by_name = containers(docs)
    assert set(by_name) == {"app", "nginx", "authsvc"}
    # only nginx declares a port, and the Service targets it
    assert [c for c in by_name.values() if c.get("ports")] == [by_name["nginx"]]
    service_port = one(docs, "Service")["spec"]["ports"][0]["targetPort"]
    assert service_port in {p["name"] for p in by_name["nginx"]["ports"]}
    assert any(a.startswith("-listen=127.0.0.1:") for a in by_name["app"]["args"])
    nginx_conf = one(docs, "ConfigMap", "whoami-nginx")["data"]["nginx.conf"]
    app_port = next(a for a in by_name["app"]["args"] if a.startswith("-listen=")).rsplit(":")[1]
    assert f"proxy_pass http://127.0.0.1:{app_port};" in nginx_conf


def test_every_container_is_hardened(docs: list[Manifest]) -> None:
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    for c in pod["containers"]:
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True, c["name"]
        assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
        assert c["resources"]["limits"]["memory"], c["name"]


def test_authsvc_settings_are_accepted(
    docs: list[Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("AUTHSVC_")]:
        monkeypatch.delenv(key)
    toml_file = tmp_path / "authsvc.toml"
    toml_file.write_text(one(docs, "ConfigMap", "whoami-authsvc")["data"]["authsvc.toml"])
    env_names = {e["name"] for e in containers(docs)["authsvc"]["env"]}
    assert env_names == {"AUTHSVC_CLIENT_SECRET", "AUTHSVC_COOKIE_SECRET"}
    monkeypatch.setenv("AUTHSVC_CLIENT_SECRET", "s")
    monkeypatch.setenv("AUTHSVC_COOKIE_SECRET", base64.urlsafe_b64encode(b"x" * 32).decode())
    settings = load_settings(toml_file)
    assert settings.http_address == "127.0.0.1:4180", "authsvc must listen on loopback only"
    assert settings.proxy_kind == "nginx"


def test_nginx_accepts_the_config(
    docs: list[Manifest], tmp_path: Path
) -> None:
    nginx = require_tool("nginx")
    conf = tmp_path / "nginx.conf"
    conf.write_text(one(docs, "ConfigMap", "whoami-nginx")["data"]["nginx.conf"])
    proc = subprocess.run([nginx, "-t", "-q", "-e", "stderr", "-p", str(tmp_path), "-c", str(conf)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    text = conf.read_text()
    # the contract with authsvc: an internal auth location without the body, the original URI
    auth = re.search(r"location = /oauth2/auth \{(.*?)\}", text, re.S)
    assert auth is not None
    # proxy_kind = "nginx": what the auth location must set and blank (docs/security.md)
    for directive in ("internal;", "proxy_pass_request_body off;",
                      'proxy_set_header Content-Length "";',
                      "proxy_set_header X-Original-URI $request_uri;",
                      "proxy_set_header X-Original-Method $request_method;",
                      'proxy_set_header X-Original-URL "";',
                      'proxy_set_header X-Forwarded-Uri "";',
                      'proxy_set_header X-Forwarded-Method "";'):
        assert directive in auth.group(1), directive
    assert "error_page 401 = @signin;" in text
    for header in ("User", "Email", "Preferred-Username", "Groups"):
        assert f"proxy_set_header X-Auth-Request-{header} " in text
