"""examples/gateway-api and the chart's custom resources, against the CRDs' published schemas.

The schemas are copies (tests/packaging/crd_schemas/SOURCES.md says from where), checked
strictly: a field the CRD does not define is an error here, as with `kubectl --validate=strict`.
"""

from __future__ import annotations

import copy

import pytest

from tests.support.components import EXAMPLES
from tests.support.gateway_api import load, of_kind
from tests.support.k8s import CRD_SCHEMAS, CRDS, require_module, validate_custom

GATEWAY_API = EXAMPLES / "gateway-api"
#: NGF's ExternalAuth filter is GEP-1494's, in the Gateway API's experimental channel
CHANNELS = {"nginx-gateway-fabric.yaml": "experimental", "envoy-gateway.yaml": "standard"}


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_every_example_resource_matches_its_crd(name: str) -> None:
    docs = load(GATEWAY_API / name)
    assert docs
    for doc in docs:
        assert (doc["apiVersion"], doc["kind"]) in CRDS, doc["kind"]
        validate_custom(doc, CHANNELS[name])


def test_external_auth_needs_the_experimental_channel() -> None:
    jsonschema = require_module("jsonschema", "jsonschema")
    route = next(r for r in of_kind(load(GATEWAY_API / "nginx-gateway-fabric.yaml"), "HTTPRoute")
             if r["metadata"]["name"] == "app")
    with pytest.raises(jsonschema.ValidationError, match="ExternalAuth"):
        validate_custom(route, "standard")


@pytest.mark.parametrize(
    ("kind", "path", "bad"),
    [
        ("SecurityPolicy", ("spec", "extAuth", "http"), {"headersToBackends": ["x"]}),  # a typo
        ("HTTPRoute", ("spec",), {"rules": [{"matches": [{"path": {"type": "Prefix"}}]}]}),
        ("ClientTrafficPolicy", ("spec", "headers"), {"withUnderscoresAction": "Keep"}),
    ],
)
def test_a_broken_resource_is_refused(kind: str, path: tuple[str, ...], bad: dict[str, object]) -> None:
    """The check is strict enough to catch a typo or a wrong value."""
    jsonschema = require_module("jsonschema", "jsonschema")
    doc = copy.deepcopy(of_kind(load(GATEWAY_API / "envoy-gateway.yaml"), kind)[0])
    node = doc
    for key in path:
        node = node[key]
    node.update(bad)
    with pytest.raises(jsonschema.ValidationError):
        validate_custom(doc)


def test_every_schema_names_its_source() -> None:
    sources = (CRD_SCHEMAS / "SOURCES.md").read_text()
    for schema in CRD_SCHEMAS.glob("*.json"):
        assert f"`{schema.name}`" in sources
