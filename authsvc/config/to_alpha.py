"""oauth2-proxy's `--convert-config-to-alpha`: its legacy options as the alpha YAML it prints.

oauth2-proxy (main.go `printConvertedConfig`) loads the legacy configuration as usual (cfg file,
OAUTH2_PROXY_* variables, flags), converts it (pkg/apis/options/legacy_options.go `ToOptions`:
the `convert` of upstreams, headers, servers and the provider), applies `EnsureDefaults`, turns
the alpha options into a map (`options.Decode`, mapstructure with the `yaml` tags) and prints
it with yaml.v3. This module does the same from the oauth2-proxy settings `sources.gather`
collects, so a user can feed the output back to `authsvc --alpha-config` or to oauth2-proxy.

What that pipeline means for the output, and is kept here:
- the top level, `server`, `metricsServer`, `upstreamConfig` and `tls` are Go maps: keys sorted,
  zero values left out (`omitempty`), an empty struct printed as `{}`;
- upstreams, headers and providers are Go structs inside slices: yaml.v3 writes their fields in
  declaration order, leaves out nil pointers and empty values but keeps pointers to false;
- `basicAuthPassword.value` is a `[]byte`, which yaml.v3 writes as a list of byte values;
- `backendLogoutURL` has no `omitempty`: always there, `""` when unset.
Secrets (client secret, GitHub token, basic auth password, JWT key) are printed as they are, as
oauth2-proxy prints them: the output is the user's own configuration, for their terminal or a
file they keep as secret as their cfg. They are never logged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import ConfigError
from . import go_yaml
from . import oauth2_proxy as o2p
from .redis import mask_urls
from .sources import ConfigInput, gather, read_toml
from .to_alpha_provider import provider

#: the legacy options the conversion consumes (LegacyUpstreams, LegacyHeaders, LegacyServer,
#: LegacyProvider): with --alpha-config oauth2-proxy refuses them in the cfg ("You MUST remove
#: conflicting options from your existing configuration")
LEGACY_KEYS: tuple[str, ...] = tuple(o.key for o in o2p.OPTIONS[
    [o.key for o in o2p.OPTIONS].index("flush_interval"):[o.key for o in o2p.OPTIONS].index("cookie_name")])

_FLUSH, _TIMEOUT = 1.0, 30.0  # upstreams.go DefaultUpstreamFlushInterval, DefaultUpstreamTimeout


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String(): 1s, 30s, 1m30s, 1h0m0s, 1.5s, 100ms, 0s."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    sign, nanos = ("-" if nanos < 0 else ""), abs(nanos)
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return sign + _trim(nanos / size) + unit
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _trim(rest / 1e9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    return f"{sign}{minutes}m{text}" if minutes else sign + text


def _trim(number: float) -> str:
    return str(int(number)) if math.isclose(number, int(number)) else f"{number:.9f}".rstrip("0")


def converted(given: ConfigInput, environ: Mapping[str, str] | None = None) -> str:
    """The YAML `--convert-config-to-alpha` prints for this command line; ConfigError if the
    configuration cannot be read as oauth2-proxy reads it."""
    if given.alpha_config:  # main.go checks this before it reads anything
        raise ConfigError("cannot use alpha-config and convert-config-to-alpha together")
    got = gather(given, environ)
    # --config is oauth2-proxy's cfg whatever its name (cfg.example): its keys, weakest of all
    from_file = read_toml(Path(given.config_file)) if given.config_file else {}
    values = {**from_file, **got.o2p_values}
    origins = {**{k: f"file {given.config_file}" for k in from_file}, **got.o2p_origins}
    errors = []
    # authsvc's parser keeps a flag both programs have under authsvc's option name
    for key, value in given.flags.items():
        flag = (given.flag_names.get(key) or f"--{key.replace('_', '-')}").lstrip("-")
        if flag not in o2p.BY_FLAG:
            errors.append(f"--{flag} is authsvc's flag, not oauth2-proxy's: --convert-config-to-alpha "
                          "converts oauth2-proxy's configuration only")
        for cfg_key in o2p.BY_FLAG.get(flag, ()):
            values[cfg_key], origins[cfg_key] = value, f"flag --{flag}"
    if errors:
        raise ConfigError("\n".join(errors))
    return go_yaml.dump(convert(values, origins))


def legacy(values: Mapping[str, Any], origins: Mapping[str, str]) -> dict[str, Any]:
    """Every oauth2-proxy option, typed as oauth2-proxy reads it, its default where unset;
    ConfigError naming each key it cannot read (oauth2-proxy: "error unmarshalling config")."""
    out = {o.key: o.default for o in o2p.OPTIONS}
    errors = []
    for key, raw in values.items():
        option = o2p.BY_KEY.get(key)
        where = origins.get(key, "")
        if option is None:
            errors.append(f"invalid option {key} ({where}): is not an oauth2-proxy option"
                          f"{o2p.suggest(key, o2p.BY_KEY)}")
            continue
        try:
            out[key] = o2p.normalise(option, raw)
        except ValueError as exc:
            errors.append(f"invalid option {key} ({where}): {exc}")
    if errors:
        raise ConfigError("\n".join(errors))
    return out


def convert(values: Mapping[str, Any], origins: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The alpha document oauth2-proxy prints for these oauth2-proxy settings (cfg key -> value)."""
    opts = legacy(values, origins or {})
    server, metrics = servers(opts)
    document = {
        "injectRequestHeaders": request_headers(opts),
        "injectResponseHeaders": response_headers(opts),
        "metricsServer": metrics,
        "providers": [provider(opts)],
        "server": server,
        "upstreamConfig": {"proxyRawPath": False, "upstreams": upstreams(opts)},
    }
    return _go_map(document)


def _go_map(node: Mapping[str, Any]) -> dict[str, Any]:
    """A struct mapstructure turned into a Go map: keys sorted as yaml.v3 sorts them (all of
    these are ASCII letters, where its order is the code point order), omitempty's empty strings
    and slices dropped, structs kept (as maps, even empty). Slices are left as they are."""
    return {k: _go_map(v) if isinstance(v, dict) else v for k, v in sorted(node.items())
            if v != "" and not (isinstance(v, list) and not v)}


# --- upstreams (LegacyUpstreams.convert) ---------------------------------------------------------
def upstreams(opts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """upstreamConfig.upstreams: one per `upstreams` entry."""
    out = []
    for raw in opts["upstreams"]:
        # the two ways Go's url.Parse refuses what urlsplit takes (oauth2-proxy's wording)
        why = ""
        if raw.startswith(":"):
            why = "missing protocol scheme"
        elif any(ord(c) < 0x20 or c == "\x7f" for c in raw):
            why = "net/url: invalid control character in URL"
        if why:
            shown = mask_urls(raw)  # oauth2-proxy echoes it whole; a password stays out
            raise ConfigError(f'invalid option upstreams: could not parse upstream "{shown}": '
                              f'parse "{shown}": {why}')
        url = urlsplit(raw)
        path = unquote(url.path) or "/"
        entry: dict[str, Any] = {
            "id": path, "path": path, "uri": raw,
            "insecureSkipTLSVerify": opts["ssl_upstream_insecure_skip_verify"],
            "static": False, "staticCode": None, "flushInterval": opts["flush_interval"],
            "passHostHeader": opts["pass_host_header"], "proxyWebSockets": opts["proxy_websockets"],
            "timeout": opts["upstream_timeout"], "disableKeepAlives": opts["disable_keep_alives"]}
        if url.scheme == "file" and url.fragment:
            fragment = unquote(url.fragment)
            entry.update(id=fragment, path=fragment, uri=raw.split("#", 1)[0])
        elif url.scheme == "static":  # a code that is no number: "use default 200"
            entry.update(id=raw, path="/", uri="", static=True,
                         staticCode=int(url.netloc) if url.netloc.isdigit() else 200,
                         insecureSkipTLSVerify=False, disableKeepAlives=False, passHostHeader=False,
                         proxyWebSockets=False, flushInterval=_FLUSH, timeout=_TIMEOUT)
        elif url.scheme == "unix":
            entry["path"] = "/"
        for key in ("flushInterval", "timeout"):
            entry[key] = go_duration(entry[key])
        out.append(go_yaml.struct(entry))
    return out


# --- headers (LegacyHeaders.convert) --------------------------------------------------------------
def _header(name: str, claim: str, prefix: str = "", password: str | None = None,
            preserve: bool = False) -> dict[str, Any]:
    source: dict[str, Any] = {"claim": claim}
    if prefix:
        source["prefix"] = prefix
    if password is not None:  # SecretSource{Value: []byte(password)}: a list of bytes, or {}
        source["basicAuthPassword"] = {"value": list(password.encode())} if password else {}
    return {"name": name, "preserveRequestValue": preserve, "values": [{"claimSource": source}]}


def _basic_auth(opts: Mapping[str, Any]) -> dict[str, Any]:
    claim = "email" if opts["prefer_email_to_user"] else "user"
    return _header("Authorization", claim, "Basic ", opts["basic_auth_password"])


def request_headers(opts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """injectRequestHeaders (headers sent upstream: proxy mode)."""
    out = []
    if opts["pass_basic_auth"] and opts["basic_auth_password"]:
        out.append(_basic_auth(opts))
    if opts["pass_basic_auth"] or opts["pass_user_headers"]:  # the one a subset of the other
        out.append(_header("X-Forwarded-Groups", "groups"))
        if opts["prefer_email_to_user"]:
            out.append(_header("X-Forwarded-User", "email"))
        else:
            out += [_header("X-Forwarded-User", "user"), _header("X-Forwarded-Email", "email")]
        out.append(_header("X-Forwarded-Preferred-Username", "preferred_username"))
    if opts["pass_access_token"]:
        out.append(_header("X-Forwarded-Access-Token", "access_token"))
    if opts["pass_authorization_header"]:
        out.append(_header("Authorization", "id_token", "Bearer "))
    for header in out:
        header["preserveRequestValue"] = not opts["skip_auth_strip_headers"]
    return out


def response_headers(opts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """injectResponseHeaders (the auth answer's headers: what authsvc sends)."""
    out = []
    if opts["set_xauthrequest"]:
        out += [_header("X-Auth-Request-User", "user"), _header("X-Auth-Request-Email", "email"),
                _header("X-Auth-Request-Preferred-Username", "preferred_username"),
                _header("X-Auth-Request-Groups", "groups")]
        if opts["pass_access_token"]:
            out.append(_header("X-Auth-Request-Access-Token", "access_token"))
    if opts["set_basic_auth"]:
        out.append(_basic_auth(opts))
    if opts["set_authorization_header"]:
        out.append(_header("Authorization", "id_token", "Bearer "))
    return out


# --- servers (LegacyServer.convert) ---------------------------------------------------------------
def _tls(cert: str, key: str, **more: Any) -> dict[str, Any]:
    return {"cert": {"fromFile": cert}, "key": {"fromFile": key}, **more}


def servers(opts: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """server and metricsServer: with a certificate only HTTPS is served, else only HTTP."""
    server: dict[str, Any] = {"bindAddress": opts["http_address"], "secureBindAddress": opts["https_address"]}
    if opts["tls_cert_file"] or opts["tls_key_file"]:
        server["bindAddress"] = ""
        server["tls"] = _tls(opts["tls_cert_file"], opts["tls_key_file"],
                             cipherSuites=opts["tls_cipher_suites"],
                             minVersion=opts["tls_min_version"])
    else:
        server["secureBindAddress"] = ""
    metrics: dict[str, Any] = {"bindAddress": opts["metrics_address"],
                               "secureBindAddress": opts["metrics_secure_address"]}
    if opts["metrics_tls_cert_file"] or opts["metrics_tls_key_file"]:
        metrics["tls"] = _tls(opts["metrics_tls_cert_file"], opts["metrics_tls_key_file"])
    return server, metrics
