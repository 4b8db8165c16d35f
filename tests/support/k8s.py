"""Helm and Kubernetes-schema helpers for the packaging tests.

`helm_python` (PyPI helm-python-sdk: Helm's Go SDK behind ctypes) lints and renders the chart
offline; `kubernetes_validate` checks each manifest against the bundled OpenAPI schemas of one
Kubernetes version. Both come with the `test` extra: a missing one skips locally and fails in CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from tests.support.tools import missing

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "authsvc"
SIDECAR = REPO / "examples" / "kubernetes-sidecar" / "sidecar.yaml"

#: the Kubernetes version whose schemas the manifests must satisfy (the chart's floor is 1.25)
KUBE_VERSION = "1.30.0"

Manifest = dict[str, Any]


def require_module(name: str, package: str) -> ModuleType:
    """Import `name` or skip (locally) / fail (CI) naming the PyPI package to install."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"Python package {package} ({exc})", f"pip install -e '.[test]' (needs {package})")


def documents(text: str) -> Iterator[Manifest]:
    """The non-empty YAML documents of a multi-document manifest."""
    for doc in yaml.safe_load_all(text):
        if doc:
            assert isinstance(doc, dict), f"a manifest must be a mapping, got {doc!r}"
            yield doc


def validate(doc: Manifest) -> None:
    """Raise when `doc` breaks the Kubernetes schema (strict: unknown fields are errors).

    ServiceMonitor is a Prometheus Operator CRD without a bundled schema: it gets a structural
    check of the fields the operator needs instead.
    """
    if doc.get("apiVersion") == "monitoring.coreos.com/v1" and doc.get("kind") == "ServiceMonitor":
        _check_service_monitor(doc)
        return
    kv = require_module("kubernetes_validate", "kubernetes-validate")
    kv.validate(doc, KUBE_VERSION, strict=True)


def _check_service_monitor(doc: Manifest) -> None:
    assert set(doc) <= {"apiVersion", "kind", "metadata", "spec"}, doc.keys()
    assert doc["metadata"]["name"]
    spec = doc["spec"]
    assert set(spec) <= {"selector", "namespaceSelector", "endpoints", "jobLabel"}, spec.keys()
    assert spec["selector"]["matchLabels"], "a ServiceMonitor must select the Service"
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme"}, endpoint
        assert endpoint["path"].startswith("/")
        for key in ("interval", "scrapeTimeout"):
            assert str(endpoint[key])[-1] in "smh", f"{key} must be a duration: {endpoint[key]!r}"
