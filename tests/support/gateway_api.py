"""The data plane two Gateway API controllers generate from examples/gateway-api, without a cluster.

Like tests/support/ingress_nginx.py for ingress-nginx: the tests reproduce, from each
controller's source, what it generates for the example manifests, and run that in the real
proxy. Only what the examples use is reproduced (one HTTP listener, PathPrefix matches, the
filters and policies named below); anything else in a manifest is an error, not ignored.
Kubernetes Services are resolved through `endpoints` ("name:port" -> "ip:port").

NGINX Gateway Fabric, read at nginx/nginx-gateway-fabric e55bfe33969f313b210d3497b3ae56b923175d69:
- internal/controller/nginx/config/servers_template.go: the server and location blocks; an
  ExternalAuth location gets `auth_request <internal path>` and, per allowedResponseHeaders
  entry, `auth_request_set $ext_auth_response_<h> $upstream_http_<h>` + `proxy_set_header`;
- servers.go extractExternalAuthInternalLocations: the internal location
  `/_ngf-internal-ext-auth-<ns>_<route>_rule<i>` (state/dataplane/convert.go
  generateExternalAuthInternalPath) with `proxy_pass http://<upstream><http.path>`, Host
  `$gw_api_compliant_host`, `Path $request_uri`, `Method $request_method`, Authorization,
  one `proxy_set_header H $http_h` per allowedHeaders entry, `proxy_pass_request_body off`,
  `proxy_pass_request_headers off`;
- servers.go createBaseProxySetHeaders / updateLocationProxySettings / generateProxySetHeaders:
  RequestHeaderModifier first (remove = an empty value), then Host, X-Forwarded-For,
  X-Real-IP, X-Forwarded-Proto, X-Forwarded-Host ($host), X-Forwarded-Port, Upgrade,
  Connection ($connection_upgrade: no upstream keepalive by default);
- base_http_config_template.go: the `$gw_api_compliant_host` and `$connection_upgrade` maps;
- upstreams_template.go / upstreams.go: `upstream <ns>_<svc>_<port> { random two least_conn;
  zone ... 512k; server ...; }` (state/graph/backend_refs.go BaseServicePortKey);
- internal/controller/nginx/conf/nginx.conf: the hash sizes of the http block;
- includes.go: SnippetsFilter snippets per context (http, http.server, http.server.location);
  policies/proxysettings/generator.go: ProxySettingsPolicy -> proxy_buffer_size/_buffers/...
One deliberate difference: NGF omits `proxy_http_version` because its nginx defaults to 1.1
(servers.go resolveProxyHTTPVersion); Debian's nginx 1.22 defaults to 1.0, so the rendering
writes the 1.1 that NGF relies on (websocket upgrades need it).

Envoy Gateway, read at envoyproxy/gateway d32f28294245e454d20f81d323d626a90e660c1e:
- internal/xds/translator/extauth.go: one `envoy.filters.http.ext_authz/<policy>` HTTP filter,
  `disabled: true` on the listener and enabled per route (patchRoute: ExtAuthzPerRoute with
  check_settings); transport v3, failure_mode_allow = failOpen, top-level allowed_headers =
  headersToExtAuth (exact, ignore case), http_service {path_prefix = http.path, server_uri
  (cluster, timeout 10 s), authorization_response.allowed_upstream_headers = headersToBackend};
- internal/xds/translator/listener.go: the HTTP connection manager: use_remote_address,
  normalize_path, merge_slashes (internal/gatewayapi/listener.go: true), escaped slashes
  UNESCAPE_AND_REDIRECT, headers_with_underscores_action (REJECT_REQUEST unless a
  ClientTrafficPolicy says otherwise), server_header_transformation PASS_THROUGH;
- internal/xds/translator/route.go: PathPrefix `/` -> prefix, any other -> path_separated_prefix
  without the trailing slash, websocket upgrade_configs on every route; RequestHeaderModifier
  remove -> request_headers_to_remove; translator.go: one virtual host per hostname.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .components import nginx_main
from .processes import HOST, Process, free_port
from .proxy_contract import NamedStack, tapped_by_name
from .tap import Tap

Doc = dict[str, Any]

#: render_nginx_gateway_fabric / render_envoy_gateway
Render = Callable[[Path, str, Mapping[str, str]], str]
#: start_nginx / start_envoy
Start = Callable[[Path, str, int], Process]


@contextmanager
def serving(
    manifest: Path, render: Render, start: Start, workdir: Path, authsvc_port: int, app_port: int
) -> Iterator[NamedStack]:
    """The proxy `start` running what `render` makes of `manifest`, its Services resolved to
    authsvc (through a tap) and the app, reached as the listener's host name on port 80."""

    def proxy(tap: Tap) -> Process:
        port = free_port()
        # what kube DNS and the Service endpoints give for the examples' two backends
        endpoints = {"authsvc:4180": f"{HOST}:{tap.port}", "app:8080": f"{HOST}:{app_port}"}
        return start(workdir, render(manifest, f"{HOST}:{port}", endpoints), port)

    base = f"http://{listener(load(manifest))['hostname']}"
    with tapped_by_name(authsvc_port, base, proxy) as stack:
        yield stack


def load(manifest: Path) -> list[Doc]:
    """Every document of a multi-document manifest."""
    return [d for d in yaml.safe_load_all(manifest.read_text()) if d]


def of_kind(docs: Iterable[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d.get("kind") == kind]


def named(docs: Iterable[Doc], kind: str, name: str) -> Doc:
    (doc,) = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    return doc


def namespace(doc: Doc) -> str:
    return str(doc["metadata"].get("namespace", "default"))


@dataclass
class Rule:
    """One HTTPRoute rule with one PathPrefix match."""

    route: str
    namespace: str
    index: int
    prefix: str
    backend: tuple[str, int]
    filters: list[Doc] = field(default_factory=list)

    def filter(self, kind: str) -> Doc | None:
        found = [f for f in self.filters if f["type"] == kind]
        assert len(found) <= 1, found
        return found[0] if found else None


def rules(docs: list[Doc], hostname: str) -> list[Rule]:
    """The rules of every HTTPRoute for `hostname`, longest prefix first (as both route)."""
    out: list[Rule] = []
    for route in of_kind(docs, "HTTPRoute"):
        assert hostname in route["spec"].get("hostnames", [hostname]), route["metadata"]
        for i, rule in enumerate(route["spec"]["rules"]):
            (match,) = rule["matches"]
            assert set(match) == {"path"} and match["path"]["type"] == "PathPrefix", match
            (ref,) = rule["backendRefs"]
            known = {"ExternalAuth", "ExtensionRef", "RequestHeaderModifier"}
            for f in rule.get("filters", []):
                assert f["type"] in known, f"filter not reproduced: {f['type']}"
            out.append(
                Rule(
                    route["metadata"]["name"], namespace(route), i, match["path"]["value"],
                    (ref["name"], int(ref["port"])), list(rule.get("filters", [])),
                )
            )
    return sorted(out, key=lambda r: -len(r.prefix))


def listener(docs: list[Doc]) -> Doc:
    """The Gateway's one HTTP listener."""
    (gateway,) = of_kind(docs, "Gateway")
    (one,) = gateway["spec"]["listeners"]
    assert one["protocol"] == "HTTP", one
    listener: Doc = one
    return listener


def removed_headers(rule: Rule) -> list[str]:
    modifier = rule.filter("RequestHeaderModifier")
    if modifier is None:
        return []
    spec = modifier["requestHeaderModifier"]
    assert set(spec) == {"remove"}, f"only remove is reproduced: {spec}"
    return list(spec["remove"])


# --- NGINX Gateway Fabric -----------------------------------------------------------------------
def _nginx_var(header: str) -> str:
    """servers.go headerToNginxVar."""
    return header.lower().replace("-", "_")


def _upstream(ns: str, service: str, port: int) -> str:
    return f"{ns}_{service}_{port}"


def _snippets(docs: list[Doc], rule: Rule, context: str) -> list[str]:
    out: list[str] = []
    for f in rule.filters:
        if f["type"] != "ExtensionRef":
            continue
        ref = f["extensionRef"]
        assert (ref["group"], ref["kind"]) == ("gateway.nginx.org", "SnippetsFilter"), ref
        sf = named(docs, "SnippetsFilter", ref["name"])
        out += [s["value"] for s in sf["spec"]["snippets"] if s["context"] == context]
    return out


def _proxy_settings(docs: list[Doc]) -> list[str]:
    """policies/proxysettings/generator.go, for a ProxySettingsPolicy attached to the Gateway."""
    lines: list[str] = []
    for policy in of_kind(docs, "ProxySettingsPolicy"):
        assert [t["kind"] for t in policy["spec"]["targetRefs"]] == ["Gateway"], policy
        buffering = policy["spec"].get("buffering") or {}
        if "bufferSize" in buffering:
            lines.append(f"proxy_buffer_size {buffering['bufferSize']};")
        if "buffers" in buffering:
            lines.append(f"proxy_buffers {buffering['buffers']['number']} {buffering['buffers']['size']};")
        if "busyBuffersSize" in buffering:
            lines.append(f"proxy_busy_buffers_size {buffering['busyBuffersSize']};")
    return lines


def render_nginx_gateway_fabric(manifest: Path, listen: str, endpoints: Mapping[str, str]) -> str:
    """The whole nginx.conf NGF would run for `manifest`, listening on `listen` (host:port)."""
    docs = load(manifest)
    host = listener(docs)["hostname"]
    all_rules = rules(docs, host)
    upstreams: dict[str, str] = {}
    http: list[str] = [
        # internal/controller/nginx/conf/nginx.conf (the long $ext_auth_response_* names need it)
        "proxy_headers_hash_bucket_size 512; proxy_headers_hash_max_size 1024;",
        "server_names_hash_bucket_size 512; server_names_hash_max_size 1024;",
        "variables_hash_bucket_size 512; variables_hash_max_size 1024;",
        "map_hash_bucket_size 512; map_hash_max_size 2048;",
        "access_log off;",
        "client_body_temp_path tmp/client_body; proxy_temp_path tmp/proxy;",
        "fastcgi_temp_path tmp/fastcgi; uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;",
        "map $http_host $gw_api_compliant_host { '' $host; default $http_host; }",
        "map $http_upgrade $connection_upgrade { default upgrade; '' close; }",
        *_proxy_settings(docs),
    ]
    server_snippets: list[str] = []
    locations: list[str] = []
    internal: list[str] = []
    for rule in all_rules:
        for snippet in _snippets(docs, rule, "http"):
            if snippet not in http:
                http.append(snippet)
        for snippet in _snippets(docs, rule, "http.server"):
            if snippet not in server_snippets:
                server_snippets.append(snippet)
        name = _upstream(rule.namespace, *rule.backend)
        upstreams[name] = endpoints[f"{rule.backend[0]}:{rule.backend[1]}"]
        body: list[str] = list(_snippets(docs, rule, "http.server.location"))
        auth = rule.filter("ExternalAuth")
        if auth is not None:
            spec = auth["externalAuth"]
            assert spec["protocol"] == "HTTP" and "forwardBody" not in spec, spec
            ref = spec["backendRef"]
            auth_upstream = _upstream(rule.namespace, ref["name"], int(ref["port"]))
            upstreams[auth_upstream] = endpoints[f"{ref['name']}:{ref['port']}"]
            cfg = spec.get("http") or {}
            path = f"/_ngf-internal-ext-auth-{rule.namespace}_{rule.route}_rule{rule.index}"
            body.append(f"auth_request {path};")
            for h in cfg.get("allowedResponseHeaders", []):
                var = f"$ext_auth_response_{_nginx_var(h)}"
                body.append(f"auth_request_set {var} $upstream_http_{_nginx_var(h)};")
                body.append(f"proxy_set_header {h} {var};")
            headers = [
                ("Host", "$gw_api_compliant_host"),
                ("Path", "$request_uri"),
                ("Method", "$request_method"),
                ("Authorization", "$http_authorization"),
                *[(h, f"$http_{_nginx_var(h)}") for h in cfg.get("allowedHeaders", [])],
            ]
            internal.append(
                f"location {path} {{\n    internal;\n"
                + "".join(f'    proxy_set_header {k} "{v}";\n' for k, v in headers)
                + f"    proxy_pass http://{auth_upstream}{cfg.get('path', '')};\n"
                "    proxy_pass_request_body off;\n    proxy_set_header Content-Length \"\";\n"
                "    proxy_pass_request_headers off;\n}"
            )
        body.append("proxy_http_version 1.1;  # NGF's nginx default; Debian's is 1.0")
        proxy_headers = [(h, "") for h in removed_headers(rule)] + [
            ("Host", "$gw_api_compliant_host"),
            ("X-Forwarded-For", "$proxy_add_x_forwarded_for"),
            ("X-Real-IP", "$remote_addr"),
            ("X-Forwarded-Proto", "$scheme"),
            ("X-Forwarded-Host", "$host"),
            ("X-Forwarded-Port", "$server_port"),
            ("Upgrade", "$http_upgrade"),
            ("Connection", "$connection_upgrade"),
        ]
        body += [f'proxy_set_header {k} "{v}";' for k, v in proxy_headers]
        body.append(f"proxy_pass http://{name};")
        locations.append(f"location {rule.prefix} {{\n" + _indent("\n".join(body)) + "\n}")
    if not any(r.prefix == "/" for r in all_rules):
        locations.append("location = / {\n    return 404;\n}")  # createDefaultRootLocation
    for name, address in upstreams.items():
        http.append(
            f"upstream {name} {{\n    random two least_conn;\n    zone {name} 512k;\n"
            f"    server {address};\n}}"
        )
    server = [f"listen {listen};", f"server_name {host};", *server_snippets, *locations, *internal]
    http.append(  # the default server for the listener port: unknown hosts get a 404
        f"server {{\n    listen {listen} default_server;\n    default_type text/html;\n"
        "    return 404;\n}"
    )
    http.append("server {\n" + _indent("\n".join(server)) + "\n}")
    return nginx_main("\n".join(http))


def _indent(text: str) -> str:
    return "\n".join(("    " + line) if line else line for line in text.splitlines())


# --- Envoy Gateway ----------------------------------------------------------------------------
_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_EXT_AUTHZ = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"
_EXT_AUTHZ_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute"
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_UNDERSCORES = {"Allow": "ALLOW", "RejectRequest": "REJECT_REQUEST", "DropHeader": "DROP_HEADER"}


def _ignore_case(names: Iterable[str]) -> dict[str, Any]:
    return {"patterns": [{"exact": n, "ignore_case": True} for n in names]}


def _cluster(name: str, address: str) -> Doc:
    host, port = address.rsplit(":", 1)
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "10s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                "socket_address": {"address": host, "port_value": int(port)}}}}]}],
        },
    }


def _ext_authz(policy: Doc, cluster: str) -> tuple[str, Doc]:
    """extauth.go buildHCMExtAuthFilter / extAuthConfig / httpService, for `policy`."""
    spec = policy["spec"]["extAuth"]
    http = spec["http"]
    assert set(spec) <= {"http", "headersToExtAuth", "failOpen"}, spec
    assert set(http) <= {"backendRefs", "path", "headersToBackend"}, http
    name = f"envoy.filters.http.ext_authz/securitypolicy/{namespace(policy)}/{policy['metadata']['name']}"
    (ref,) = http["backendRefs"]
    authority = f"{ref['name']}.{namespace(policy)}:{ref['port']}"
    config: Doc = {
        "@type": _EXT_AUTHZ,
        "transport_api_version": "V3",
        "failure_mode_allow": bool(spec.get("failOpen", False)),
        "http_service": {
            "path_prefix": http.get("path", ""),
            "server_uri": {"uri": f"http://{authority}{http.get('path', '')}", "cluster": cluster,
                           "timeout": "10s"},
        },
    }
    if spec.get("headersToExtAuth"):
        config["allowed_headers"] = _ignore_case(spec["headersToExtAuth"])
    if http.get("headersToBackend"):
        config["http_service"]["authorization_response"] = {
            "allowed_upstream_headers": _ignore_case(http["headersToBackend"])
        }
    return name, {"name": name, "disabled": True, "typed_config": config}


def render_envoy_gateway(manifest: Path, listen: str, endpoints: Mapping[str, str]) -> str:
    """The Envoy bootstrap (static resources) for what Envoy Gateway sends over xDS."""
    docs = load(manifest)
    host = listener(docs)["hostname"]
    underscores = "REJECT_REQUEST"  # listener.go buildHeadersWithUnderscoresAction
    for ctp in of_kind(docs, "ClientTrafficPolicy"):
        assert [t["kind"] for t in ctp["spec"]["targetRefs"]] == ["Gateway"], ctp
        assert set(ctp["spec"]) == {"targetRefs", "headers"}, ctp["spec"]
        underscores = _UNDERSCORES[ctp["spec"]["headers"]["withUnderscoresAction"]]
    policies = {t["name"]: p for p in of_kind(docs, "SecurityPolicy") for t in p["spec"]["targetRefs"]}
    for target in policies.values():
        assert [t["kind"] for t in target["spec"]["targetRefs"]] == ["HTTPRoute"], target
    clusters: dict[str, Doc] = {}
    filters: list[Doc] = []
    routes: list[Doc] = []
    for rule in rules(docs, host):
        cluster = f"httproute/{rule.namespace}/{rule.route}/rule/{rule.index}"
        clusters[cluster] = _cluster(cluster, endpoints[f"{rule.backend[0]}:{rule.backend[1]}"])
        prefix = rule.prefix
        match = {"prefix": "/"} if prefix == "/" else {"path_separated_prefix": prefix.rstrip("/")}
        route: Doc = {
            "name": f"httproute/{rule.namespace}/{rule.route}/rule/{rule.index}/match/0/{host}",
            "match": match,
            "route": {"cluster": cluster, "upgrade_configs": [{"upgrade_type": "websocket"}]},
        }
        if removed_headers(rule):
            route["request_headers_to_remove"] = removed_headers(rule)
        policy = policies.get(rule.route)
        if policy is not None:
            (ref,) = policy["spec"]["extAuth"]["http"]["backendRefs"]
            auth_cluster = f"securitypolicy/{namespace(policy)}/{policy['metadata']['name']}/extauth/0"
            clusters[auth_cluster] = _cluster(auth_cluster, endpoints[f"{ref['name']}:{ref['port']}"])
            name, http_filter = _ext_authz(policy, auth_cluster)
            if all(f["name"] != name for f in filters):
                filters.append(http_filter)
            route["typed_per_filter_config"] = {
                name: {"@type": _EXT_AUTHZ_PER_ROUTE, "check_settings": {}}
            }
        routes.append(route)
    address, port = listen.rsplit(":", 1)
    hcm: Doc = {
        "@type": _HCM,
        "stat_prefix": "http-80",
        "codec_type": "AUTO",
        "use_remote_address": True,
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "UNESCAPE_AND_REDIRECT",
        "server_header_transformation": "PASS_THROUGH",
        "common_http_protocol_options": {"headers_with_underscores_action": underscores},
        "http2_protocol_options": {},
        "route_config": {
            "name": "default/gateway/http",
            "virtual_hosts": [{"name": f"default/gateway/http/{host}", "domains": [host],
                               "routes": routes}],
        },
        "http_filters": [*filters, {"name": "envoy.filters.http.router",
                                    "typed_config": {"@type": _ROUTER}}],
    }
    bootstrap = {
        "static_resources": {
            "listeners": [{
                "name": "default/gateway/http",
                "address": {"socket_address": {"address": address, "port_value": int(port)}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}],
            }],
            "clusters": list(clusters.values()),
        }
    }
    return yaml.safe_dump(bootstrap, sort_keys=False)
