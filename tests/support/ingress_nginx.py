"""Render Ingress manifests into the nginx config ingress-nginx's template would generate.

ingress-nginx needs Kubernetes and OpenResty, so the tests reproduce what `nginx.tmpl` emits for
the `auth-*` annotations (proxy-contracts.md §2 and §7) and run it in stock nginx:

- the internal auth location `/_external-auth-<base64url(path)>-<pathType>`: no body, blank
  `X-Forwarded-Proto`, `Host` = the auth URL's host name, `X-Original-URL`, `X-Original-Method`,
  `X-Sent-From`, `X-Real-IP`, `X-Forwarded-For`, `X-Auth-Request-Redirect`, and the location's
  proxy buffer size;
- the protected location: `auth_request`, `$auth_cookie` + `add_header Set-Cookie`, one
  `auth_request_set $authHeaderN` / `proxy_set_header` pair per `auth-response-headers` entry,
  `set_escape_uri $escaped_request_uri $request_uri`, `error_page 401 = @<sha1>`;
- the sign-in location: `302 <auth-signin>?rd=$pass_access_scheme://$http_host$escaped_request_uri`
  (buildAuthSignURL), or the URL as given when it already carries `rd`.

Not reproduced: the Lua keepalive mode, `$req_id` (nginx's `$request_id` stands in), auth caching.
Kubernetes names are resolved through `endpoints` ("service:port" or "host:port" -> "ip:port").
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from .components import nginx_main

PREFIX = "nginx.ingress.kubernetes.io/"
DEFAULT_BUFFER_SIZE = "4k"  # config.go: proxy-buffer-size
DEFAULT_HEADER_BUFFERS = "4 8k"  # config.go: large-client-header-buffers


@dataclass(frozen=True)
class IngressPath:
    """One path of one Ingress rule, with its Ingress's annotations."""

    host: str
    path: str
    path_type: str
    service: str
    port: int
    annotations: Mapping[str, str]

    def annotation(self, name: str, default: str = "") -> str:
        return str(self.annotations.get(PREFIX + name, default))


def load_paths(manifest: Path) -> list[IngressPath]:
    """Every (host, path) of every Ingress in the manifest file."""
    out: list[IngressPath] = []
    for doc in yaml.safe_load_all(manifest.read_text()):
        if not doc or doc.get("kind") != "Ingress":
            continue
        annotations = (doc.get("metadata") or {}).get("annotations") or {}
        for rule in doc["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                svc = p["backend"]["service"]
                out.append(
                    IngressPath(
                        rule["host"], p["path"], p.get("pathType", "Prefix"),
                        svc["name"], int(svc["port"]["number"]), annotations,
                    )
                )
    return out


def load_configmap(manifest: Path) -> dict[str, str]:
    """The `data` of the (first) ConfigMap in the file: the controller's global settings."""
    for doc in yaml.safe_load_all(manifest.read_text()):
        if doc and doc.get("kind") == "ConfigMap":
            return {str(k): str(v) for k, v in (doc.get("data") or {}).items()}
    return {}


def auth_location_name(path: str, path_type: str) -> str:
    """buildAuthLocation: `/_external-auth-<base64url(path), unpadded>-<pathType>`."""
    encoded = base64.urlsafe_b64encode(path.encode()).decode().rstrip("=")
    return f"/_external-auth-{encoded}-{path_type}"


def signin_location_name(path: str, signin: str) -> str:
    """buildAuthSignURLLocation: `@` + sha1(location path + sign-in URL)."""
    return "@" + hashlib.sha1((path + signin).encode(), usedforsecurity=False).hexdigest()


def build_signin_url(signin: str, param: str = "rd") -> str:
    """buildAuthSignURL: append `<param>=$pass_access_scheme://$http_host$escaped_request_uri`."""
    query = parse_qs(urlsplit(signin).query)
    if not query:
        return f"{signin}?{param}=$pass_access_scheme://$http_host$escaped_request_uri"
    if query.get(param):
        return signin
    return f"{signin}&{param}=$pass_access_scheme://$http_host$escaped_request_uri"


def _common_proxy_headers() -> list[str]:
    """What nginx.tmpl sets on every proxied location."""
    return [
        "proxy_set_header Host $best_http_host;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_set_header X-Request-ID $request_id;",
        "proxy_set_header X-Real-IP $remote_addr;",
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "proxy_set_header X-Forwarded-Host $best_http_host;",
        "proxy_set_header X-Forwarded-Port $server_port;",
        "proxy_set_header X-Forwarded-Proto $pass_access_scheme;",
        "proxy_set_header X-Forwarded-Scheme $pass_access_scheme;",
        "proxy_set_header X-Scheme $pass_access_scheme;",
        "proxy_set_header X-Original-Forwarded-For $http_x_forwarded_for;",
        'proxy_set_header Proxy "";',
        "proxy_http_version 1.1;",
    ]


def _buffers(p: IngressPath) -> list[str]:
    size = p.annotation("proxy-buffer-size", DEFAULT_BUFFER_SIZE)
    return [f"proxy_buffer_size {size};", f"proxy_buffers 4 {size};"]


def _resolve(name: str, endpoints: Mapping[str, str]) -> str:
    if name not in endpoints:
        raise KeyError(f"no endpoint given for {name!r} (pass endpoints={{{name!r}: 'ip:port'}})")
    return endpoints[name]


def _locations(p: IngressPath, endpoints: Mapping[str, str]) -> list[str]:
    backend = _resolve(f"{p.service}:{p.port}", endpoints)
    location = f"= {p.path}" if p.path_type == "Exact" else p.path
    auth_url = p.annotation("auth-url")
    lines: list[str] = []
    body: list[str] = []
    if auth_url:
        url = urlsplit(auth_url)
        auth_name = auth_location_name(p.path, p.path_type)
        target = url._replace(netloc=_resolve(url.netloc, endpoints)).geturl()
        lines += [
            f"location = {auth_name} {{",
            "    internal;",
            "    proxy_pass_request_body off;",
            '    proxy_set_header Content-Length "";',
            '    proxy_set_header X-Forwarded-Proto "";',
            "    proxy_set_header X-Request-ID $request_id;",
            f"    proxy_set_header Host {url.hostname};",
            "    proxy_set_header X-Original-URL $scheme://$http_host$request_uri;",
            "    proxy_set_header X-Original-Method $request_method;",
            '    proxy_set_header X-Sent-From "nginx-ingress-controller";',
            "    proxy_set_header X-Real-IP $remote_addr;",
            "    proxy_set_header X-Forwarded-For $remote_addr;",
            f"    proxy_set_header X-Auth-Request-Redirect "
            f"{p.annotation('auth-request-redirect') or '$request_uri'};",
            "    proxy_buffering off;",
            *(f"    {b}" for b in _buffers(p)),
            "    proxy_request_buffering on;",
            "    proxy_pass_request_headers on;",
            "    proxy_http_version 1.1;",
            f"    set $target {target};",
            "    proxy_pass $target;",
            "}",
        ]
        always = " always" if p.annotation("auth-always-set-cookie") == "true" else ""
        body += [
            f"auth_request {auth_name};",
            "auth_request_set $auth_cookie $upstream_http_set_cookie;",
            f"add_header Set-Cookie $auth_cookie{always};",
        ]
        headers = [h.strip() for h in p.annotation("auth-response-headers").split(",") if h.strip()]
        for i, header in enumerate(headers):
            var = header.lower().replace("-", "_")
            body += [
                f"auth_request_set $authHeader{i} $upstream_http_{var};",
                f"proxy_set_header '{header}' $authHeader{i};",
            ]
        signin = p.annotation("auth-signin")
        if signin:
            named = signin_location_name(p.path, signin)
            param = p.annotation("auth-signin-redirect-param") or "rd"
            body += [
                "set_escape_uri $escaped_request_uri $request_uri;",
                f"error_page 401 = {named};",
            ]
            lines += [
                f"location {named} {{",
                "    internal;",
                "    add_header Set-Cookie $auth_cookie;",
                f"    return 302 {build_signin_url(signin, param)};",
                "}",
            ]
    body += _common_proxy_headers() + _buffers(p)
    body += [f"proxy_pass http://{backend};"]
    lines += [f"location {location} {{", *(f"    {b}" for b in body), "}"]
    return lines


def render(
    manifest: Path,
    listen: str,
    endpoints: Mapping[str, str],
    configmap: Mapping[str, Any] | None = None,
) -> str:
    """A whole nginx.conf serving every Ingress host of `manifest` on `listen`."""
    cm = dict(configmap or {})
    paths = load_paths(manifest)
    hosts: dict[str, list[IngressPath]] = {}
    for p in paths:
        hosts.setdefault(p.host, []).append(p)
    http = [
        "access_log off;",
        "client_body_temp_path tmp/client_body;",
        "proxy_temp_path tmp/proxy;",
        "fastcgi_temp_path tmp/fastcgi;",
        "uwsgi_temp_path tmp/uwsgi;",
        "scgi_temp_path tmp/scgi;",
        f"large_client_header_buffers {cm.get('large-client-header-buffers', DEFAULT_HEADER_BUFFERS)};",
        f"underscores_in_headers {'on' if cm.get('enable-underscores-in-headers') == 'true' else 'off'};",
        # nginx.tmpl: ignore_invalid_headers from the ConfigMap, default on (config.go)
        f"ignore_invalid_headers {'off' if cm.get('ignore-invalid-headers') == 'false' else 'on'};",
        "map $http_upgrade $connection_upgrade { default upgrade; '' close; }",
        "map '' $pass_access_scheme { default $scheme; }",
        "map '' $best_http_host { default $http_host; }",
    ]
    for host, host_paths in hosts.items():
        http += ["server {", f"    listen {listen};", f"    server_name {host};"]
        # longest path first, as the controller orders them
        for p in sorted(host_paths, key=lambda x: -len(x.path)):
            http += [f"    {line}" for line in _locations(p, endpoints)]
        http += ["}"]
    return nginx_main("\n".join(f"    {line}" for line in http))
