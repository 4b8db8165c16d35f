"""oauth2-proxy's official Helm chart with only the image swapped to authsvc's.

The chart (tests/fixtures/oauth2-proxy-manifests, unchanged) is rendered by Helm's SDK for the
value sets of its own `ci/` folder. The container is then run as Kubernetes would run it with
our image: the Dockerfile's ENTRYPOINT followed by the chart's `args`, the chart's `env` (secret
references resolved from the rendered Secrets) and its mounted ConfigMaps and Secrets written to
a temporary root. Only addresses change (free loopback ports instead of 0.0.0.0:4180/44180).
Each must answer /ping, and `--config-test` must show the settings oauth2-proxy would have used.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from authsvc.cli import config_input, main, parse
from authsvc.clock import system_clock
from authsvc.config.sources import check
from authsvc.errors import StoreUnavailable
from authsvc.sessions import create_store
from tests.support.k8s import Manifest, documents, require_module
from tests.support.processes import HOST, Process, free_port, http_ready, start_process
from tests.support.redis_servers import RedisServer, server_args
from tests.support.redis_servers import free_port as free_redis_port

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "tests" / "fixtures" / "oauth2-proxy-manifests" / "helm" / "oauth2-proxy"
RELEASE, NAMESPACE = "o2p", "identity"
#: the chart's defaults (values.yaml): client id, secret and a 16-byte cookie secret
CLIENT_ID, CLIENT_SECRET = "XXXXXXX", "XXXXXXXX"

#: value sets of the chart's ci/ folder without the redis-ha subchart, and what
#: oauth2-proxy would have used with each (besides the chart defaults checked for all)
EXPECTED: dict[str, dict[str, Any]] = {
    "default-values": {},
    "existing-configmap-values": {},
    "extra-args-as-dict-values": {"allowed_groups": [], "log_requests": True},
    "extra-args-as-list-values": {"allowed_groups": [], "log_requests": True},
    "extra-env-tpl-values": {},
    "horizontal-pod-autoscaling-values": {},
    "no-config-values": {},
    "pod-security-context-values": {},
    "servicemonitor-values": {},
    "tpl-values": {"cookie_name": RELEASE},
    "alphaconfig-1-legacy-true-values": {"client_id": "fake-client-id"},
    "alphaconfig-2-legacy-false-values": {"client_id": "fake-client-id"},
    "alphaconfig-3-custom-configfile-legacy-true-values": {"client_id": "fake-client-id",
                                                          "email_domains": ["example.com"]},
    "alphaconfig-4-custom-configfile-legacy-false-values": {"client_id": "fake-client-id"},
    "alphaconfig-5-existing-configmap-legacy-false-values": {"client_id": "fake-client-id"},
    "alphaconfig-6-existing-configmap-legacy-true-values": {"client_id": "fake-client-id",
                                                           "email_domains": ["legacy.example.com"]},
    # its own alpha file has no metricsServer: oauth2-proxy serves no metrics then
    "alphaconfig-7-existing-secret-values": {"client_id": "fake-client-id", "metrics_address": "-"},
    # these change what Kubernetes runs around the container (init containers, routes, a PDB,
    # ingress paths), not the container: oauth2-proxy's defaults, as for default-values
    "extra-init-container": {},
    "gateway-api": {},
    "gateway-api-minimal": {},
    "gateway-api-name": {},
    "ingress-extra-paths-values": {},
    "pdb-values": {},
}
#: the value sets that deploy the redis-ha subchart beside oauth2-proxy (rendered with a stand-in
#: for it, REDIS_HA_STUB), and the Redis settings oauth2-proxy would have used with each
REDIS_EXPECTED: dict[str, dict[str, Any]] = {
    "redis-standalone-values": {"session_store_type": "redis",
                                "redis_connection_url": f"redis://{RELEASE}-redis-ha:6379",
                                "redis_use_sentinel": False, "redis_password": "****"},
    "redis-sentinel-array-values": {
        "session_store_type": "redis", "redis_use_sentinel": True,
        "redis_sentinel_master_name": "mymaster", "redis_sentinel_password": "****",
        "redis_sentinel_connection_urls": ["redis://oauth2-proxy-redis-announce-0:26379",
                                           "redis://oauth2-proxy-redis-announce-1:26379"]},
}
REDIS_EXPECTED["redis-sentinel-comma-values"] = REDIS_EXPECTED["redis-sentinel-array-values"]
#: started as a real process (the rest: --config-test in-process, which reads the same input)
SERVED = ("default-values", "extra-args-as-list-values", "no-config-values", "tpl-values",
          "alphaconfig-1-legacy-true-values", "alphaconfig-7-existing-secret-values")


def entrypoint() -> list[str]:
    """The Dockerfile's ENTRYPOINT, with `authsvc` run from this checkout's interpreter."""
    line = next(x for x in (REPO / "Dockerfile").read_text().splitlines() if x.startswith("ENTRYPOINT"))
    argv: list[str] = json.loads(line.removeprefix("ENTRYPOINT").strip())
    assert argv[0] == "authsvc"
    return [sys.executable, "-m", "authsvc", *argv[1:]]


#: A stand-in for the redis-ha subchart (dandydeveloper/charts, which the chart pulls from its
#: own Helm repository, out of reach here): only what oauth2-proxy's templates read from it, the
#: `redis-ha.fullname` template (Helm's usual naming) and `redis.port`. It deploys nothing; the
#: tests run a real redis-server (and sentinel) in its place.
REDIS_HA_STUB = {
    "Chart.yaml": "apiVersion: v2\nname: redis-ha\nversion: 4.35.10\n",
    "values.yaml": "redis:\n  port: 6379\nauth: false\n",
    "templates/_helpers.tpl": (
        '{{- define "redis-ha.fullname" -}}\n'
        "{{- if .Values.fullnameOverride -}}{{- .Values.fullnameOverride | trunc 63 | trimSuffix \"-\" -}}\n"
        '{{- else -}}{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}\n'
        "{{- end -}}\n{{- end -}}\n"
    ),
}


@cache
def rendered(name: str) -> tuple[Manifest, ...]:
    helm = require_module("helm_python", "helm-python-sdk")
    values = yaml.safe_load((CHART / "ci" / f"{name}.yaml").read_text()) or {}
    with tempfile.TemporaryDirectory() as tmp:
        chart_dir = CHART
        if (values.get("redis-ha") or {}).get("enabled"):
            chart_dir = Path(tmp) / "oauth2-proxy"  # the chart unchanged, beside the stand-in
            shutil.copytree(CHART, chart_dir)
            for rel, text in REDIS_HA_STUB.items():
                (chart_dir / "charts" / "redis-ha" / rel).parent.mkdir(parents=True, exist_ok=True)
                (chart_dir / "charts" / "redis-ha" / rel).write_text(text)
        with helm.Chart.load(chart_dir) as chart:
            out: dict[str, str] = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    return tuple(doc for path, text in sorted(out.items()) if path.endswith((".yaml", ".yml"))
                 for doc in documents(text))


def _data(doc: Manifest) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()} \
        if doc["kind"] == "Secret" else dict(doc.get("data") or {})
    data.update(doc.get("stringData") or {})
    return data


@dataclass
class Pod:
    """The oauth2-proxy container as the chart renders it."""

    args: list[str]
    env: dict[str, str]
    #: absolute path in the container -> content
    files: dict[str, str]


def pod(docs: tuple[Manifest, ...]) -> Pod:
    objects = {(d["kind"], d["metadata"]["name"]): d for d in docs if d["kind"] in ("Secret", "ConfigMap")}
    spec = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    container = next(c for c in spec["containers"] if c["name"] == "oauth2-proxy")
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = item["valueFrom"].get("secretKeyRef") or item["valueFrom"]["configMapKeyRef"]
        kind = "Secret" if "secretKeyRef" in item["valueFrom"] else "ConfigMap"
        env[item["name"]] = _data(objects[(kind, ref["name"])])[ref["key"]]
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    files: dict[str, str] = {}
    for mount in container.get("volumeMounts") or []:
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            source, kind = volume["configMap"], "ConfigMap"
            name = source["name"].strip()
        elif "secret" in volume:
            source, kind = volume["secret"], "Secret"
            name = source["secretName"].strip()
        else:
            continue
        data = _data(objects[(kind, name)])
        if "subPath" in mount:
            files[mount["mountPath"]] = data[mount["subPath"]]
            continue
        items = source.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            files[f"{mount['mountPath'].rstrip('/')}/{item['path']}"] = data[item["key"]]
    return Pod(list(container["args"]), env, files)


@dataclass
class Materialised:
    argv: list[str]
    env: dict[str, str]
    port: int
    metrics_port: int


def materialise(p: Pod, root: Path) -> Materialised:
    """Files under `root`, their paths and the chart's fixed addresses rewritten in args and files."""
    port, metrics_port, https_port = free_port(), free_port(), free_port()
    addresses = {"0.0.0.0:4180": f"{HOST}:{port}", "0.0.0.0:44180": f"{HOST}:{metrics_port}",
                 "0.0.0.0:4443": f"{HOST}:{https_port}"}

    def rewrite(text: str) -> str:
        for old, new in addresses.items():
            text = text.replace(old, new)
        for path in sorted({f for f in p.files} | {str(Path(f).parent) for f in p.files}, key=len,
                           reverse=True):
            text = re.sub(rf"(?<![\w/]){re.escape(path)}", str(root) + path, text)
        return text

    for path, content in p.files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(rewrite(content))
    return Materialised([*entrypoint(), *(rewrite(a) for a in p.args)], p.env, port, metrics_port)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for key in list(os.environ):
        if key.startswith(("AUTHSVC_", "OAUTH2_PROXY_")):
            monkeypatch.delenv(key)
    yield monkeypatch


@pytest.mark.parametrize("name", [*EXPECTED, *REDIS_EXPECTED])
def test_config_test_shows_what_oauth2_proxy_would_use(
    name: str, tmp_path: Path, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = materialise(pod(rendered(name)), tmp_path)
    for key, value in run.env.items():
        clean_env.setenv(key, value)
    assert run.argv[:3] == [sys.executable, "-m", "authsvc"]
    assert main([*run.argv[3:], "--config-test"]) == 0
    out, err = capsys.readouterr()
    settings = json.loads(out)
    want = {
        "provider": "google", "oidc_issuer_url": "https://accounts.google.com",  # oauth2-proxy's default
        "client_id": CLIENT_ID, "cookie_name": "_oauth2_proxy", "email_domains": ["*"],
        "http_address": f"{HOST}:{run.port}", "metrics_address": f"{HOST}:{run.metrics_port}",
        "set_xauthrequest": False, "reverse_proxy": False, "session_store_type": "cookie",
        **(EXPECTED[name] if name in EXPECTED else REDIS_EXPECTED[name]),
    }
    for key, value in want.items():
        assert settings[key] == value, f"{name}: {key}"
    assert settings["cookie_secret"] == ["**** (16 bytes)"]
    for secret in (CLIENT_SECRET, "fake-client-secret", "XXXXXXXXXXXXXXXX", '"foo"'):
        assert secret not in out + err
    assert "configuration OK" in err


@pytest.mark.parametrize("name", SERVED)
def test_the_rendered_pod_runs_and_answers_ping(name: str, tmp_path: Path) -> None:
    run = materialise(pod(rendered(name)), tmp_path / "root")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSVC_", "OAUTH2_PROXY_"))}
    proc: Process = start_process(f"authsvc-{name}", run.argv, port=run.port, log_dir=tmp_path,
                                  env={**env, **run.env}, cwd=REPO, ready=http_ready("/ping", 200))
    try:
        assert httpx.get(f"{proc.url}/ping").text == "OK"
        if EXPECTED[name].get("metrics_address") != "-":
            metrics = httpx.get(f"http://{HOST}:{run.metrics_port}/metrics")
            assert metrics.status_code == 200 and "authsvc_" in metrics.text
        assert httpx.get(f"{proc.url}/metrics").status_code == 404  # not on the main port
        log = proc.log(1_000_000)
        assert "settings from" in log and "OAUTH2_PROXY_" in log  # where values came from
        assert CLIENT_SECRET not in log and "fake-client-secret" not in log
    finally:
        proc.stop()


def test_extra_args_roles_are_ignored_with_a_warning_for_google(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = materialise(pod(rendered("extra-args-as-list-values")), tmp_path)
    for key, value in run.env.items():
        clean_env.setenv(key, value)
    assert main([*run.argv[3:], "--config-test"]) == 0
    err = capsys.readouterr().err
    assert "allowed_roles (flag --allowed-role): ignored: roles are read for provider keycloak-oidc" in err
    assert "pass_authorization_header (flag --pass-authorization-header): ignored: proxy mode" in err


def _redis_store_answers(argv: list[str], env: dict[str, str]) -> bool:
    """Whether the session store authsvc builds from this command line and environment answers
    PING (a StoreUnavailable is the answer "no")."""
    checked = check(config_input(parse(argv)), environ=env)
    assert checked.report is not None, checked.errors
    store = create_store(checked.report.settings, system_clock)

    async def ping() -> bool:
        try:
            await store.ping()
        except StoreUnavailable:
            return False
        finally:
            await store.close()
        return True

    return asyncio.run(ping())


@pytest.mark.parametrize("name", list(REDIS_EXPECTED))
def test_the_redis_value_sets_reach_a_real_redis(name: str, tmp_path: Path) -> None:
    """The chart's Redis variables (URL, password; sentinel master name, sentinel addresses and
    password) reach a real Redis: with them the store answers, with the password changed it does
    not. redis-server stands where the chart's redis-ha subchart would run; only host names change
    (the chart's service names to loopback ports)."""
    run = materialise(pod(rendered(name)), tmp_path / "root")
    env = dict(run.env)
    servers: list[RedisServer] = []
    try:
        if "sentinel" in name:  # the sentinels hold the password; the master has none
            master = RedisServer(tmp_path / "master", free_redis_port(), server_args(False)).start()
            servers.append(master)
            sentinel_dir = tmp_path / "sentinel"
            sentinel_dir.mkdir()
            conf = sentinel_dir / "sentinel.conf"
            conf.write_text(f"sentinel monitor mymaster {HOST} {master.port} 1\nrequirepass foo\n")
            sentinel = RedisServer(sentinel_dir, free_redis_port(), [str(conf), "--sentinel"])
            sentinel.start()
            servers.append(sentinel)
            # the first announce address is the live sentinel, the second one nobody answers at
            urls = env["OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS"]
            urls = urls.replace("oauth2-proxy-redis-announce-0:26379", f"{HOST}:{sentinel.port}")
            env["OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS"] = urls.replace(
                "oauth2-proxy-redis-announce-1:26379", f"{HOST}:{free_redis_port()}")
            secret = "OAUTH2_PROXY_REDIS_SENTINEL_PASSWORD"
        else:
            server = RedisServer(tmp_path / "redis", free_redis_port(),
                                 [*server_args(False), "--requirepass", "foo"]).start()
            servers.append(server)
            env["OAUTH2_PROXY_REDIS_CONNECTION_URL"] = env["OAUTH2_PROXY_REDIS_CONNECTION_URL"].replace(
                f"{RELEASE}-redis-ha:6379", f"{HOST}:{server.port}")
            secret = "OAUTH2_PROXY_REDIS_PASSWORD"
        argv = run.argv[3:]
        assert env[secret] == "foo"
        assert _redis_store_answers(argv, env)
        assert not _redis_store_answers(argv, {**env, secret: "not-foo"})
    finally:
        for each in reversed(servers):
            each.stop()
