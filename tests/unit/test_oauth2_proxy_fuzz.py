"""Hostile oauth2-proxy configuration never crashes the loader: only ConfigError, with no value
of a secret in it."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from authsvc.config import oauth2_proxy as o2p
from authsvc.config.sources import ConfigInput, load
from authsvc.errors import ConfigError

SECTIONS = ["server", "metricsServer", "providers", "injectResponseHeaders", "injectRequestHeaders",
            "upstreamConfig", "Server"]
KEYS = ["bindAddress", "secureBindAddress", "tls", "cert", "key", "fromFile", "value", "clientID",
        "provider", "oidcConfig", "issuerURL", "loginURLParameters", "name", "default", "allow",
        "pattern", "values", "claimSource", "claim", "prefix", "basicAuthPassword", "keycloakConfig"]
leaves = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=8),
                   st.sampled_from(["${X}", "0.0.0.0:4180", "Basic ", "user"]))
nodes = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)), max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(SECTIONS), nodes, max_size=4))
def test_alpha_yaml_of_any_shape(doc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "alpha.yaml"
        path.write_text(yaml.safe_dump(doc))
        with contextlib.suppress(ConfigError):
            load(ConfigInput(alpha_config=str(path)), environ={})


cfg_values = st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10),
                       st.lists(st.one_of(st.text(max_size=5), st.integers()), max_size=3),
                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([o.key for o in o2p.OPTIONS] + ["typo_key"]), cfg_values,
                       max_size=6))
def test_cfg_of_any_values(cfg: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.cfg"
        path.write_text("".join(f"{k} = {json.dumps(v)}\n" if not isinstance(v, dict) else
                                f"{k} = {{ {', '.join(f'{json.dumps(a)} = {b}' for a, b in v.items())} }}\n"
                                for k, v in cfg.items()))
        try:
            load(ConfigInput(str(path)), environ={"OAUTH2_PROXY_CLIENT_SECRET": "hunter2hunter2"})
        except ConfigError as exc:
            assert "hunter2hunter2" not in str(exc)
