"""Helm and Kubernetes-schema helpers for the packaging tests.

`helm_python` (PyPI helm-python-sdk: Helm's Go SDK behind ctypes) lints and renders the chart
offline; `kubernetes_validate` checks each manifest against the bundled OpenAPI schemas of one
Kubernetes version. Both come with the `test` extra: a missing one skips locally and fails in CI.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
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

#: copies of the CRDs' published schemas (sources in SOURCES.md beside them)
CRD_SCHEMAS = REPO / "tests" / "packaging" / "crd_schemas"
#: (apiVersion, kind) -> schema file; Gateway API kinds per release channel
CRDS: dict[tuple[str, str], str] = {
    ("gateway.networking.k8s.io/v1", "Gateway"): "gateway-standard",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "httproute-{channel}",
    ("gateway.envoyproxy.io/v1alpha1", "SecurityPolicy"): "securitypolicy",
    ("gateway.envoyproxy.io/v1alpha1", "ClientTrafficPolicy"): "clienttrafficpolicy",
    ("traefik.io/v1alpha1", "Middleware"): "middleware",
    ("gateway.nginx.org/v1alpha1", "SnippetsFilter"): "snippetsfilter",
    ("gateway.nginx.org/v1alpha1", "ProxySettingsPolicy"): "proxysettingspolicy",
}

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
    if (doc.get("apiVersion"), doc.get("kind")) in CRDS:
        validate_custom(doc)
        return
    kv = require_module("kubernetes_validate", "kubernetes-validate")
    kv.validate(doc, KUBE_VERSION, strict=True)


def validate_custom(doc: Manifest, channel: str = "standard") -> None:
    """Raise when `doc` breaks its CRD's schema (Gateway API kinds: of release `channel`).

    Strict like `kubectl --validate=strict`: a field the schema does not know is an error (the
    API server would drop it silently). CEL rules (x-kubernetes-validations) are not checked.
    """
    jsonschema = require_module("jsonschema", "jsonschema")
    name = CRDS[(doc["apiVersion"], doc["kind"])].format(channel=channel)
    jsonschema.Draft7Validator(_strict_schema(name)).validate(doc)


@cache
def _strict_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((CRD_SCHEMAS / f"{name}.json").read_text())

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node and not node.get(
                "x-kubernetes-preserve-unknown-fields"
            ):
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    schema["properties"]["metadata"] = {  # the CRD says only "object": what a manifest needs
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1}},
    }
    return schema


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
