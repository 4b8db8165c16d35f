"""The Helm chart, linted and rendered by Helm's own SDK, checked against Kubernetes schemas.

For each value set: `helm lint --strict`, a render, schema validation of every manifest, the
kinds the set must produce, and authsvc's own settings loader on the rendered ConfigMap with
the environment the Deployment would give the container.
"""

from __future__ import annotations

import base64
import copy
import itertools
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from authsvc.config import Settings, load_settings
from tests.support.components import render_traefik_template
from tests.support.contract import IDENTITY
from tests.support.k8s import CHART, KUBE_VERSION, REPO, Manifest, documents, require_module, validate

COOKIE_SECRET = base64.urlsafe_b64encode(b"k" * 32).decode()
CLIENT_SECRET = "chart-client-secret-value"
REDIS_URL = "redis://:redis-url-password@redis.example.svc:6379/0"
REDIS_PASSWORD = "redis-password-value"
RELEASE, NAMESPACE = "auth", "identity"

BASE: dict[str, Any] = {
    "config": {
        "oidc_issuer_url": "https://idp.example.com/realms/main",
        "client_id": "authsvc",
        "redirect_url": "https://auth.example.com/oauth2/callback",
        "email_domains": ["example.com", "example.org"],
        "cookie_domains": [".example.com"],
        "whitelist_domains": [".example.com"],
        # the types Helm's float-only numbers and the TOML renderer must get right
        "auth_success_status": 200,
        "cookie_expire": "12h",
        "oidc_leeway": 1.5,
        "cookie_secure": True,
        "skip_provider_button": True,
    },
    "secrets": {"clientSecret": CLIENT_SECRET, "cookieSecret": COOKIE_SECRET},
}

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "redis": {"redis": {"enabled": True, "connectionUrl": REDIS_URL, "password": REDIS_PASSWORD}},
    "hpa-pdb": {
        "autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 12,
                        "targetMemoryUtilizationPercentage": 75},
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
    },
    "existing-secret": {
        "existingSecret": "authsvc-credentials",
        "secrets": {"clientSecret": "", "cookieSecret": ""},
        "redis": {"enabled": True},
    },
    "ingress-servicemonitor": {
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "hosts": ["auth.example.com"],
            "tls": [{"secretName": "auth-example-com-tls", "hosts": ["auth.example.com"]}],
        },
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    },
    "gateway-api-envoy": {
        "config": {"proxy_kind": "envoy"},
        "gatewayAPI": {"httpRoute": {"enabled": True, "hostnames": ["app.example.com"],
                                     "parentRefs": [{"name": "gateway", "namespace": "infra",
                                                     "sectionName": "https"}]}},
        "envoyGateway": {"securityPolicy": {"enabled": True, "targetRoutes": ["app", "admin"]}},
    },
    "traefik-crd": {
        "config": {"proxy_kind": "traefik", "cookie_name": "_auth"},
        "traefik": {"middleware": {"enabled": True}},
    },
}

EXPECTED_KINDS: dict[str, set[str]] = {
    "defaults": {"ServiceAccount", "ConfigMap", "Secret", "Service", "Deployment"},
    "redis": {"ServiceAccount", "ConfigMap", "Secret", "Service", "Deployment"},
    "hpa-pdb": {"ServiceAccount", "ConfigMap", "Secret", "Service", "Deployment",
                "HorizontalPodAutoscaler", "PodDisruptionBudget"},
    "existing-secret": {"ServiceAccount", "ConfigMap", "Service", "Deployment"},
    "ingress-servicemonitor": {"ServiceAccount", "ConfigMap", "Secret", "Service", "Deployment",
                               "Ingress", "ServiceMonitor"},
    "gateway-api-envoy": {"ServiceAccount", "ConfigMap", "Secret", "Service", "Deployment",
                          "HTTPRoute", "SecurityPolicy"},
    "traefik-crd": {"ServiceAccount", "ConfigMap", "Secret", "Service", "Deployment", "Middleware"},
}


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep merge, like Helm's -f layering (override wins)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def helm() -> ModuleType:
    """helm_python, or skip/fail with the hint to install helm-python-sdk."""
    return require_module("helm_python", "helm-python-sdk")


def render(values: dict[str, Any]) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` would produce them."""
    with helm().Chart.load(CHART) as chart:
        out: dict[str, str] = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    return out


@cache
def rendered_set(name: str) -> tuple[Manifest, ...]:
    """Every manifest of one value set (cached: rendering is the slow part)."""
    out = render(merge(BASE, VALUE_SETS[name]))
    return tuple(
        doc
        for path, text in sorted(out.items())
        if path.endswith((".yaml", ".yml"))
        for doc in documents(text)
    )


def one(docs: tuple[Manifest, ...], kind: str) -> Manifest:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def container(docs: tuple[Manifest, ...]) -> Manifest:
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    containers: list[Manifest] = pod["containers"]
    return next(c for c in containers if c["name"] == "authsvc")


def container_env(docs: tuple[Manifest, ...]) -> dict[str, str]:
    """The environment the authsvc container would get, secretKeyRefs resolved.

    Values from a chart-made Secret come from the rendered Secret; an existingSecret is not
    rendered, so its keys get stand-in values of the same shape. An optional key that the
    Secret lacks sets nothing, as in Kubernetes.
    """
    secrets = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "Secret"}
    stand_in = {"client-secret": CLIENT_SECRET, "cookie-secret": COOKIE_SECRET,
                "redis-connection-url": REDIS_URL}
    env: dict[str, str] = {}
    for item in container(docs)["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        if ref.get("optional") and ref["key"] not in secrets.get(ref["name"], stand_in):
            continue
        if ref["name"] in secrets:
            env[item["name"]] = base64.b64decode(secrets[ref["name"]][ref["key"]]).decode()
        else:
            env[item["name"]] = stand_in[ref["key"]]
    return env


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No AUTHSVC_* from the developer's shell may leak into a settings check."""
    for key in list(os.environ):
        if key.startswith("AUTHSVC_"):
            monkeypatch.delenv(key)
    yield monkeypatch


def load_rendered_settings(
    docs: tuple[Manifest, ...], tmp_path: Path, env: pytest.MonkeyPatch
) -> Settings:
    """Settings from the rendered ConfigMap + Deployment env, read the way the pod reads them."""
    cm = one(docs, "ConfigMap")
    args = container(docs)["args"]
    config_path = args[args.index("--config") + 1]
    mount = next(m for m in container(docs)["volumeMounts"] if m["name"] == "config")
    key = config_path.removeprefix(mount["mountPath"]).lstrip("/")
    toml_file = tmp_path / key
    toml_file.write_text(cm["data"][key])
    for name, value in container_env(docs).items():
        env.setenv(name, value)
    return load_settings(toml_file)


# --- lint and render ----------------------------------------------------------------------


def test_sdk_is_helm_itself() -> None:
    """The SDK binds Helm's Go library (no helm binary, no reimplementation)."""
    h = helm()
    assert h.helm_sdk_version().startswith(("v3.", "v4."))


@pytest.mark.parametrize("name", VALUE_SETS)
def test_lint_strict(name: str) -> None:
    report = helm().lint(CHART, merge(BASE, VALUE_SETS[name]), strict=True,
                         kube_version=f"v{KUBE_VERSION}", namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, report


@pytest.mark.parametrize("name", VALUE_SETS)
def test_rendered_manifests_match_kubernetes_schemas(name: str) -> None:
    docs = rendered_set(name)
    assert {d["kind"] for d in docs} == EXPECTED_KINDS[name]
    for doc in docs:
        validate(doc)
        assert doc["metadata"].get("namespace", NAMESPACE) == NAMESPACE
    require_module("kubernetes_validate", "kubernetes-validate")


@pytest.mark.parametrize("name", VALUE_SETS)
def test_rendered_configmap_is_accepted_by_authsvc(
    name: str, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    docs = rendered_set(name)
    settings = load_rendered_settings(docs, tmp_path, clean_env)
    assert settings.client_id == "authsvc"
    assert settings.client_secret.get_secret_value() == CLIENT_SECRET
    assert settings.secret_keys == [b"k" * 32]
    assert settings.http_address == "0.0.0.0:4180"
    assert settings.auth_success_status == 200
    assert settings.cookie_expire == 12 * 3600
    assert settings.oidc_leeway == 1.5
    assert settings.email_domains == ["example.com", "example.org"]
    assert settings.proxy_kind == VALUE_SETS[name].get("config", {}).get("proxy_kind", "ingress-nginx")
    want_store = "redis" if VALUE_SETS[name].get("redis", {}).get("enabled") else "cookie"
    assert settings.session_store_type == want_store
    if want_store == "redis" and "redis_connection_url" in Settings.model_fields:
        assert getattr(settings, "redis_connection_url") == REDIS_URL  # noqa: B009
    if name == "redis" and "redis_password" in Settings.model_fields:
        assert getattr(settings, "redis_password").get_secret_value() == REDIS_PASSWORD  # noqa: B009


def test_check_config_accepts_rendered_configmap(tmp_path: Path) -> None:
    """The real command line, in a child process, as the container would run it."""
    docs = rendered_set("redis")
    toml_file = tmp_path / "authsvc.toml"
    toml_file.write_text(one(docs, "ConfigMap")["data"]["authsvc.toml"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
    env.update(container_env(docs))
    proc = subprocess.run(
        [sys.executable, "-m", "authsvc", "check-config", "--config", str(toml_file)],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"session_store_type": "redis"' in proc.stdout
    for secret in (CLIENT_SECRET, COOKIE_SECRET, "redis-url-password", REDIS_PASSWORD):
        assert secret not in proc.stdout + proc.stderr


# --- what each value set must produce -----------------------------------------------------


def test_deployment_is_hardened_and_probed() -> None:
    docs = rendered_set("defaults")
    deployment = one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    c = container(docs)
    assert deployment["spec"]["replicas"] == 2
    assert c["livenessProbe"]["httpGet"] == {"path": "/ping", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert c["ports"] == [{"name": "http", "containerPort": 4180, "protocol": "TCP"}]
    assert c["resources"]["requests"] and c["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert c["args"][:2] == ["serve", "--config"]
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/etc/authsvc", "/tmp"}
    preferred = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    selector = preferred[0]["podAffinityTerm"]["labelSelector"]["matchLabels"]
    assert selector == deployment["spec"]["selector"]["matchLabels"]
    service = one(docs, "Service")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_secrets_stay_out_of_the_configmap() -> None:
    for name in VALUE_SETS:
        text = yaml.safe_dump(one(rendered_set(name), "ConfigMap"))
        for secret in (CLIENT_SECRET, COOKIE_SECRET, REDIS_URL, "redis-url-password",
                       REDIS_PASSWORD):
            assert secret not in text, f"{name}: a secret leaked into the ConfigMap"


@pytest.mark.parametrize(
    "key",
    ["client_secret", "cookie_secret", "redis_connection_url", "redis_password",
     "redis_sentinel_password"],
)
def test_a_secret_under_config_is_refused(key: str) -> None:
    h = helm()
    with pytest.raises(h.HelmError, match=f"config.{key}: put secrets under .Values.secrets"):
        render(merge(BASE, {"config": {key: "oops"}}))


def test_redis_url_comes_from_the_secret() -> None:
    docs = rendered_set("redis")
    env = container_env(docs)
    assert env["AUTHSVC_REDIS_CONNECTION_URL"] == REDIS_URL
    assert env["AUTHSVC_REDIS_PASSWORD"] == REDIS_PASSWORD
    assert "AUTHSVC_REDIS_PASSWORD" not in container_env(rendered_set("existing-secret"))
    cm = one(docs, "ConfigMap")["data"]["authsvc.toml"]
    assert 'session_store_type = "redis"' in cm


def test_existing_secret_is_referenced_not_created() -> None:
    docs = rendered_set("existing-secret")
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in container(docs)["env"]
            if "valueFrom" in e}
    assert refs == {"authsvc-credentials"}
    annotations = one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/secret" not in annotations


def test_hpa_and_pdb() -> None:
    docs = rendered_set("hpa-pdb")
    assert "replicas" not in one(docs, "Deployment")["spec"], "the HPA owns the replica count"
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}
    pdb = one(docs, "PodDisruptionBudget")["spec"]
    assert pdb["maxUnavailable"] == 1 and "minAvailable" not in pdb


def test_ingress_and_service_monitor() -> None:
    docs = rendered_set("ingress-servicemonitor")
    ingress = one(docs, "Ingress")["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["tls"][0]["secretName"] == "auth-example-com-tls"
    (rule,) = ingress["rules"]
    assert rule["host"] == "auth.example.com"
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/oauth2", "Prefix")
    assert path["backend"]["service"]["name"] == one(docs, "Service")["metadata"]["name"]
    monitor = one(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["selector"]["matchLabels"] == one(docs, "Service")["spec"]["selector"]
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_changed_config_or_secret_rolls_the_pods() -> None:
    def checksums(values: dict[str, Any]) -> dict[str, str]:
        out = render(values)
        deployment = next(documents(out["authsvc/templates/deployment.yaml"]))
        annotations: dict[str, str] = deployment["spec"]["template"]["metadata"]["annotations"]
        return annotations

    before = checksums(BASE)
    assert before == checksums(BASE), "rendering must be deterministic"
    config_changed = checksums(merge(BASE, {"config": {"cookie_expire": "24h"}}))
    assert config_changed["checksum/config"] != before["checksum/config"]
    assert config_changed["checksum/secret"] == before["checksum/secret"]
    secret_changed = checksums(merge(BASE, {"secrets": {"clientSecret": "rotated"}}))
    assert secret_changed["checksum/secret"] != before["checksum/secret"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"config": {"client_id": ""}}, "config.client_id is required"),
        ({"config": {"oidc_issuer_url": ""}}, "oidc_issuer_url is required"),
        ({"secrets": {"cookieSecret": ""}}, "secrets.cookieSecret is required"),
        ({"redis": {"enabled": True}}, "redis.connectionUrl is required"),
        ({"ingress": {"enabled": True}}, "ingress.hosts"),
        ({"config": {"http_address": "0.0.0.0:80"}}, "containerPort"),
        ({"gatewayAPI": {"httpRoute": {"enabled": True}}}, "gatewayAPI.httpRoute.parentRefs"),
        ({"config": {"proxy_kind": "envoy"}, "envoyGateway": {"securityPolicy": {"enabled": True}}},
         "securityPolicy.targetRoutes"),
        # Envoy denies a 202, and another proxy_kind would misread the check
        ({"envoyGateway": {"securityPolicy": {"enabled": True, "targetRoutes": ["app"]}}},
         "config.proxy_kind=envoy and config.auth_success_status=200"),
        ({"config": {"proxy_kind": "envoy", "auth_success_status": 202},
          "envoyGateway": {"securityPolicy": {"enabled": True, "targetRoutes": ["app"]}}},
         "config.auth_success_status=200"),
        ({"traefik": {"middleware": {"enabled": True}}}, "traefik.middleware: set config.proxy_kind=traefik"),
    ],
)
def test_missing_or_misplaced_values_fail_with_a_message(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm().HelmError) as info:
        render(merge(BASE, values))
    assert message in str(info.value)


@pytest.mark.parametrize(
    "values",
    [
        {"replicaCount": "two"},
        {"image": {"pullPolicy": "Sometimes"}},
        {"config": {"proxy_kind": "haproxy"}},
        {"redis": {"connectionUrl": "http://not-redis"}},
        {"unknownTopLevel": 1},
    ],
)
def test_values_schema_rejects_bad_values(values: dict[str, Any]) -> None:
    h = helm()
    with h.Chart.load(CHART) as chart, pytest.raises(h.HelmValuesError):
        chart.validate_schema(merge(BASE, values))


def test_gateway_api_route_and_envoy_gateway_policy() -> None:
    """The HTTPRoute sends /oauth2/ to the Service, unguarded; the SecurityPolicy guards the
    apps' routes with ext_authz to <prefix>/auth, the session cookie and the identity headers."""
    docs = rendered_set("gateway-api-envoy")
    service = one(docs, "Service")
    route = one(docs, "HTTPRoute")["spec"]
    assert route["parentRefs"] == [{"name": "gateway", "namespace": "infra", "sectionName": "https"}]
    assert route["hostnames"] == ["app.example.com"]
    (rule,) = route["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/oauth2/"}}]
    assert "filters" not in rule
    assert rule["backendRefs"] == [{"name": service["metadata"]["name"], "port": 4180}]
    policy = one(docs, "SecurityPolicy")["spec"]
    assert [t["name"] for t in policy["targetRefs"]] == ["app", "admin"]
    ext = policy["extAuth"]
    assert ext["failOpen"] is False and "cookie" in ext["headersToExtAuth"]
    assert ext["http"]["path"] == "/oauth2/auth"
    assert ext["http"]["backendRefs"] == [{"name": service["metadata"]["name"], "port": 4180}]
    assert {h.lower() for h in IDENTITY} == set(ext["http"]["headersToBackend"])
    # the policy the chart makes is the one examples/gateway-api/envoy-gateway.yaml runs
    example = next(d for d in documents((REPO / "examples/gateway-api/envoy-gateway.yaml").read_text())
               if d["kind"] == "SecurityPolicy")["spec"]["extAuth"]
    assert ext["headersToExtAuth"] == example["headersToExtAuth"]
    assert ext["http"]["headersToBackend"] == example["http"]["headersToBackend"]


def test_traefik_middleware_crd() -> None:
    docs = rendered_set("traefik-crd")
    middleware = one(docs, "Middleware")
    forward = middleware["spec"]["forwardAuth"]
    assert forward["address"] == f"http://{RELEASE}-authsvc.{NAMESPACE}.svc.cluster.local:4180/oauth2/auth"
    assert forward["trustForwardHeader"] is False
    assert forward["authResponseHeaders"] == [*IDENTITY, "X-Auth-Request-Access-Token"]
    assert forward["addAuthCookiesToResponse"] == ["_auth"]  # config.cookie_name
    # the same forwardAuth as examples/traefik, which tests/integration/test_traefik.py runs
    dynamic = render_traefik_template((REPO / "examples/traefik/dynamic.yml").read_text(), {})
    example = yaml.safe_load(dynamic)["http"]["middlewares"]["authsvc"]["forwardAuth"]
    for key in ("trustForwardHeader", "authResponseHeaders"):
        assert forward[key] == example[key], key


def test_notes_print_ingress_nginx_annotations_and_traefik_middleware() -> None:
    notes = render(merge(BASE, VALUE_SETS["ingress-servicemonitor"]))["authsvc/templates/NOTES.txt"]
    auth_url = f"http://{RELEASE}-authsvc.{NAMESPACE}.svc.cluster.local:4180/oauth2/auth"
    assert f'nginx.ingress.kubernetes.io/auth-url: "{auth_url}"' in notes
    assert 'nginx.ingress.kubernetes.io/auth-signin: "https://auth.example.com/oauth2/start"' in notes
    assert "nginx.ingress.kubernetes.io/auth-response-headers: \"X-Auth-Request-User," in notes
    # the Middleware block must be valid YAML to copy as is
    lines = notes[notes.index("  apiVersion: traefik.io/v1alpha1"):].splitlines()
    block = list(itertools.takewhile(lambda line: line.startswith("  ") or not line, lines))
    middleware = yaml.safe_load(textwrap.dedent("\n".join(block)))
    assert middleware["kind"] == "Middleware"
    forward = middleware["spec"]["forwardAuth"]
    assert forward["address"] == auth_url
    assert "X-Auth-Request-Email" in forward["authResponseHeaders"]


def test_chart_readme_documents_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def keys(tree: dict[str, Any], prefix: str = "") -> Iterator[str]:
        for key, value in tree.items():
            path = f"{prefix}{key}"
            # a documented map (config, resources, probes...) is passed on whole
            if isinstance(value, dict) and value and f"`{path}`" not in readme:
                yield from keys(value, f"{path}.")
            else:
                yield path

    undocumented = [k for k in keys(values) if f"`{k}`" not in readme]
    assert not undocumented, f"chart README.md lacks: {undocumented}"
