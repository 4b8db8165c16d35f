"""The value forms oauth2-proxy documents or accepts, read from its .cfg, OAUTH2_PROXY_* and its
flags, and what each one means in authsvc: the effective setting, or the behaviour.

The sources quoted are oauth2-proxy's at 14af2951: docs/docs/configuration/overview.md (the
option table and the "Environment variables" section), pkg/apis/options/load.go (viper:
AutomaticEnv without AllowEmptyEnv, StringToSliceHookFunc(",") for one string), oauthproxy.go
(`buildRoutesAllowlist`, `isAllowedPath`), pkg/validation/cookie.go and go-redis' ParseURL.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from authsvc.cli import config_input, parse
from authsvc.config.sources import Checked, ConfigInput, check
from tests.support.auth_app import AuthApp

COOKIE = base64.urlsafe_b64encode(b"v" * 32).decode()
BASE: dict[str, Any] = {"provider": "oidc", "oidc_issuer_url": "https://idp.example", "client_id": "c",
                        "client_secret": "very-secret-client", "cookie_secret": COOKIE,
                        "email_domains": ["*"]}


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("AUTHSVC_", "OAUTH2_PROXY_")):
            monkeypatch.delenv(key)


def from_cfg(tmp_path: Path, text: str) -> Checked:
    """An oauth2-proxy.cfg of BASE plus `text` (its keys win), as `--config` reads it."""
    given = {line.split("=", 1)[0].strip() for line in text.splitlines() if "=" in line}
    path = tmp_path / "oauth2-proxy.cfg"
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in BASE.items() if k not in given) + text)
    return check(ConfigInput(str(path)), environ={})


def from_env(env: dict[str, str]) -> Checked:
    base = {f"OAUTH2_PROXY_{k.upper()}": ",".join(v) if isinstance(v, list) else str(v)
            for k, v in BASE.items()}
    return check(ConfigInput(), environ={**base, **env})


def from_flags(*argv: str) -> Checked:
    base = [f"--{k.replace('_', '-')}={','.join(v) if isinstance(v, list) else v}" for k, v in BASE.items()]
    return check(config_input(parse(["check-config", *base, *argv])), environ={})


def setting(checked: Checked, option: str) -> Any:
    assert checked.report is not None, checked.errors
    return getattr(checked.report.settings, option)


# --- the table: option, oauth2-proxy's form (as its docs or code write it), the meaning -----------
#: (option read back, source, what is written, authsvc's effective value). Rows marked "fixed"
#: were refused or read otherwise before this table existed.
FORMS: list[tuple[str, str, str, Any]] = [
    # durations (overview.md: cookie_expire default `168h0m0s`; Go's time.ParseDuration)
    ("cookie_expire", "cfg", 'cookie_expire = "168h0m0s"', 168 * 3600.0),
    ("cookie_expire", "cfg", 'cookie_expire = "1h30m"', 5400.0),
    ("cookie_expire", "cfg", 'cookie_expire = "0"', 0.0),  # "If set to 0, cookie becomes a session-cookie"
    ("cookie_expire", "cfg", 'cookie_expire = "1.5h"', 5400.0),
    ("cookie_expire", "cfg", 'cookie_expire = ".5h"', 1800.0),  # fixed: Go reads a leading "."
    ("cookie_expire", "cfg", 'cookie_expire = "+5m"', 300.0),  # fixed: and a sign
    ("cookie_csrf_expire", "cfg", 'cookie_csrf_expire = "1500ms"', 1.5),
    ("cookie_csrf_expire", "cfg", 'cookie_csrf_expire = "1m0.000001s"', 60.000001),
    ("cookie_csrf_expire", "cfg", 'cookie_csrf_expire = "1m1us"', 60.000001),  # fixed: us, µs, ns
    ("cookie_csrf_expire", "cfg", 'cookie_csrf_expire = "1m1\u00b5s"', 60.000001),
    ("cookie_refresh", "env", "OAUTH2_PROXY_COOKIE_REFRESH=1h", 3600.0),
    ("cookie_refresh", "flag", "--cookie-refresh=60m", 3600.0),
    # booleans (mapstructure's weak decode: strconv.ParseBool; pflag: a bare flag is true)
    ("cookie_secure", "cfg", 'cookie_secure = "False"', False),
    ("cookie_secure", "cfg", "cookie_secure = 0", False),
    ("cookie_secure", "env", "OAUTH2_PROXY_COOKIE_SECURE=F", False),
    ("cookie_secure", "env", "OAUTH2_PROXY_COOKIE_SECURE=", True),  # fixed: empty is unset (viper)
    ("reverse_proxy", "env", "OAUTH2_PROXY_REVERSE_PROXY=1", True),
    ("reverse_proxy", "flag", "--reverse-proxy", True),
    ("cookie_secure", "flag", "--cookie-secure=false", False),
    # cookie_samesite: "`lax`, `strict`, `none`, or `""`" (cookie.go)
    ("cookie_samesite", "cfg", 'cookie_samesite = ""', ""),
    ("cookie_samesite", "cfg", 'cookie_samesite = "none"', "none"),
    ("cookie_samesite", "env", "OAUTH2_PROXY_COOKIE_SAMESITE=strict", "strict"),
    ("cookie_samesite", "env", "OAUTH2_PROXY_COOKIE_SAMESITE=", ""),  # unset: oauth2-proxy's default ""
    # lists: a TOML array, one comma-separated string, repeated flags
    ("email_domains", "cfg", 'email_domains = ["*"]', ["*"]),
    ("email_domains", "cfg", 'email_domains = "example.com,example.org"', ["example.com", "example.org"]),
    ("email_domains", "flag", "--email-domain=example.com --email-domain=example.org",
     ["*", "example.com", "example.org"]),
    ("whitelist_domains", "cfg",
     'whitelist_domains = [".example.com", "example.com:*", "*.example.org:8443"]',
     [".example.com", "example.com:*", "*.example.org:8443"]),
    ("cookie_domains", "env", "OAUTH2_PROXY_COOKIE_DOMAINS=.example.com,example.org",
     [".example.com", "example.org"]),
    ("api_routes", "cfg", 'api_routes = ["^/api/v[0-9]{1,2}/"]', ["^/api/v[0-9]{1,2}/"]),  # fixed: not split
    # skip_auth_routes ("method=path_regex OR method!=path_regex. For all methods: path_regex OR
    # !=path_regex"); overview.md's env example
    ("skip_auth_routes", "env",
     "OAUTH2_PROXY_SKIP_AUTH_ROUTES=GET=^/api/status,POST=^/api/saved_objects/_import",
     ["GET=^/api/status", "POST=^/api/saved_objects/_import"]),
    ("skip_auth_routes", "cfg", 'skip_auth_routes = ["get=^/health$"]', ["GET=^/health$"]),
    ("skip_auth_routes", "cfg", 'skip_auth_routes = ["GET!=^/admin"]',
     ["GET=^(?!.*(?:^/admin))"]),  # fixed
    ("skip_auth_routes", "cfg", 'skip_auth_routes = ["!=^/api"]', ["^(?!.*(?:^/api))"]),  # fixed
    ("skip_auth_routes", "cfg", 'skip_auth_routes = ["PATCH=/second/equals?are=handled&just=fine"]',
     ["PATCH=/second/equals?are=handled&just=fine"]),  # oauthproxy_test.go's own case
    ("skip_auth_routes", "cfg", 'skip_auth_routes = ["GET=^/api/v[0-9]{1,2}/status$"]',
     ["GET=^/api/v[0-9]{1,2}/status$"]),  # fixed: a TOML array item is one regex
    ("skip_auth_routes", "flag", "--skip-auth-regex=^/metrics --skip-auth-route=GET=^/api/status",
     ["^/metrics", "GET=^/api/status"]),
    # pflag's StringSlice reads one CSV record: quotes keep a comma in an item
    ("skip_auth_routes", "flag", '--skip-auth-route="GET=^/api/v[0-9]{1,2}/",^/ok$',
     ["GET=^/api/v[0-9]{1,2}/", "^/ok$"]),  # fixed
    # groups that are LDAP DNs (ADFS, Keycloak's LDAP federation) hold commas
    ("allowed_groups", "cfg", 'allowed_groups = ["CN=Admins,OU=Groups,DC=corp,DC=com"]',
     ["CN=Admins,OU=Groups,DC=corp,DC=com"]),  # fixed: was 4 groups, "DC=com" among them
    # upstreams: static://, file://, http:// (overview.md, "Upstreams Configuration")
    ("any_path_auth_status", "cfg", 'upstreams = ["static://202"]', 202),
    ("any_path_auth_status", "cfg", 'upstreams = ["file:///dev/null"]', 0),
    ("any_path_auth_status", "flag", "--upstream=http://127.0.0.1:8080/", 0),
    # the Helm chart's null upstream beside a static one is still "static at every path"
    ("any_path_auth_status", "cfg", 'upstreams = ["file:///dev/null", "static://202"]', 202),  # fixed
    # Redis: `redis://HOST[:PORT]` (overview.md); rediss:// and unix:// (go-redis ParseURL)
    ("redis_connection_url", "cfg",
     'session_store_type = "redis"\nredis_connection_url = "redis://redis:6379/0"', "redis://redis:6379/0"),
    ("redis_connection_url", "cfg",
     'session_store_type = "redis"\nredis_connection_url = "rediss://redis:6380"', "rediss://redis:6380"),
    ("redis_connection_url", "env",
     "OAUTH2_PROXY_SESSION_STORE_TYPE=redis OAUTH2_PROXY_REDIS_CONNECTION_URL=unix:///run/redis/redis.sock",
     "unix:///run/redis/redis.sock"),  # fixed
    ("redis_sentinel_connection_urls", "env",
     "OAUTH2_PROXY_SESSION_STORE_TYPE=redis OAUTH2_PROXY_REDIS_USE_SENTINEL=true "
     "OAUTH2_PROXY_REDIS_SENTINEL_MASTER_NAME=mymaster "
     "OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS=redis://s1:26379,redis://s2:26379",
     ["redis://s1:26379", "redis://s2:26379"]),  # the Helm chart's `join ","`
    # cookie_refresh with a browser-session cookie_expire (cookie.go checks only a non-zero one)
    ("cookie_refresh", "cfg", 'cookie_expire = "0"\ncookie_refresh = "1h"', 3600.0),  # fixed
    # the rest of the documented examples, as they are
    ("trusted_proxy_ips", "env",
     "OAUTH2_PROXY_REVERSE_PROXY=true OAUTH2_PROXY_TRUSTED_PROXY_IPS=10.0.0.0/8,::1", ["10.0.0.0/8", "::1"]),
    ("extra_jwt_issuers", "cfg", 'extra_jwt_issuers = "https://issuer.example.com=my-audience"',
     ["https://issuer.example.com=my-audience"]),
    ("real_client_ip_header", "cfg", 'real_client_ip_header = "CF-Connecting-IP"', "CF-Connecting-IP"),
    ("banner", "cfg", 'banner = "-"', "-"),
    ("tls_min_version", "cfg", 'tls_min_version = "TLS1.3"', "TLS1.3"),
    # pkg/proxyhttp/server.go: an empty metrics bind address starts no listener, as "-" does
    ("metrics_address", "cfg", 'metrics_address = ""', "-"),  # fixed: was /metrics on the main port
    ("metrics_address", "cfg", 'metrics_address = "0.0.0.0:44180"', "0.0.0.0:44180"),
    ("metrics_address", "flag", "--metrics-address=:44180", ":44180"),
    # viper reads a file's keys in any case
    ("cookie_secure", "cfg", "Cookie_Secure = false", False),  # fixed
    ("email_domains", "cfg", 'EMAIL_DOMAINS = ["example.com"]', ["example.com"]),  # fixed
]


def _read(tmp_path: Path, source: str, written: str) -> Checked:
    if source == "cfg":
        return from_cfg(tmp_path, written + "\n")
    if source == "env":
        return from_env(dict(pair.split("=", 1) for pair in written.split(" ")))
    return from_flags(*written.split(" "))


@pytest.mark.parametrize(("option", "source", "written", "meaning"), FORMS,
                         ids=[f"{s}:{w}" for _, s, w, _ in FORMS])
def test_oauth2_proxy_value_form(tmp_path: Path, option: str, source: str, written: str,
                                 meaning: Any) -> None:
    checked = _read(tmp_path, source, written)
    value = setting(checked, option)
    assert value == pytest.approx(meaning) if isinstance(meaning, float) else value == meaning


@pytest.mark.parametrize(
    ("source", "written", "says"),
    [
        ("cfg", 'cookie_expire = "-1h"', "cookie_expire (file "),
        ("cfg", 'cookie_expire = "168 hours"', "is not a duration"),
        ("cfg", 'cookie_secure = "maybe"', "is not a boolean"),
        ("cfg", 'logging_max_size = "100MB"', "'100MB': is not a whole number"),
        ("cfg", 'cookie_samesite = "sometimes"', "cookie_samesite"),
        ("cfg", 'skip_auth_routes = ["GET=^/(broken"]', "is not a valid regex"),
        ("cfg", 'skip_auth_routes = ["M-SEARCH=^/x"]', "methods of letters only"),
        ("cfg", 'upstreams = ["static://404"]', "only with a 2xx code"),
        ("cfg", 'session_store_type = "redis"\nredis_connection_url = "unix:relative.sock"',
         "unix:///path/to/redis.sock"),
        ("cfg", 'session_store_type = "redis"\nredis_use_cluster = true\n'
                'redis_cluster_connection_urls = ["unix:///run/redis.sock"]',
         "a Unix socket only for standalone"),
        ("cfg", 'cookie_expire = "1h"\ncookie_refresh = "1h"', "must be shorter than cookie_expire"),
        # relative_redirect_url: oauth2-proxy sends the path itself as redirect_uri
        ("cfg", 'redirect_url = "/oauth2/callback"\nrelative_redirect_url = true',
         "leave redirect_url empty to derive https://<request host>/oauth2/callback per request"),
    ],
)
def test_bad_values_get_one_clear_line(tmp_path: Path, source: str, written: str, says: str) -> None:
    checked = _read(tmp_path, source, written)
    assert checked.report is None
    assert any(says in line for line in checked.errors), checked.errors
    assert all("\n" not in line and "Traceback" not in line for line in checked.errors)


@pytest.mark.parametrize(
    ("written", "status", "warned"),
    [
        ("session_cookie_minimal = true", "built in", False),  # the cookie holds only what is used
        ("pass_user_headers = false", "ignored", True),  # proxy mode: said once at start-up
        ('upstreams = ["file:///dev/null"]', "ignored", True),  # the Helm chart's default
    ],
)
def test_forms_with_nothing_to_set_are_accepted_and_said(tmp_path: Path, written: str, status: str,
                                                         warned: bool) -> None:
    checked = from_cfg(tmp_path, written + "\n")
    assert checked.report is not None, checked.errors
    key = written.split(" ")[0]
    assert [n.status for n in checked.report.notes if n.key == key] == [status]
    assert any(w.startswith(f"oauth2-proxy option {key} ") for w in checked.warnings) is warned


@pytest.mark.parametrize("argv", [["--cookie-secure", "false"], ["--reverse-proxy", "0"],
                                  ["--skip-provider-button", "False"]])
def test_a_boolean_flag_with_a_detached_false_is_refused(argv: list[str],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """pflag reads `--cookie-secure false` as `--cookie-secure` (true) plus an ignored `false`:
    refused, since the writer meant false and oauth2-proxy did true."""
    with pytest.raises(SystemExit) as exit_:
        parse(["--config-test", *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"authsvc: error: {argv[0]} {argv[1]}: a boolean flag takes its value after '=' "
                   f"({argv[0]}={argv[1]}); oauth2-proxy read {argv[0]} alone as true and ignored "
                   f"'{argv[1]}'")


def test_a_boolean_flag_with_a_detached_true_means_true_to_both() -> None:
    assert setting(from_flags("--reverse-proxy", "true", "--skip-provider-button"), "reverse_proxy") is True


def test_a_negative_duration_says_so(tmp_path: Path) -> None:
    checked = from_cfg(tmp_path, 'cookie_expire = "-1h"\n')
    assert checked.errors == [f"invalid option cookie_expire (file {tmp_path / 'oauth2-proxy.cfg'}): "
                              "'-1h': '-1h' is negative; a duration here must not be"]


# --- empty OAUTH2_PROXY_* variables are unset (viper ignores them) -------------------------------
def test_an_empty_variable_keeps_oauth2_proxys_default() -> None:
    """A chart or compose file that renders `OAUTH2_PROXY_COOKIE_SECURE: ""` (an unset value)
    kept Secure cookies in oauth2-proxy; reading "" as false would have dropped the attribute."""
    checked = from_env({"OAUTH2_PROXY_COOKIE_SECURE": "", "OAUTH2_PROXY_COOKIE_EXPIRE": "",
                        "OAUTH2_PROXY_COOKIE_NAME": "", "OAUTH2_PROXY_PROXY_PREFIX": ""})
    assert checked.report is not None, checked.errors
    s = checked.report.settings
    assert (s.cookie_secure, s.cookie_expire, s.cookie_name, s.proxy_prefix) == (
        True, 168 * 3600.0, "_oauth2_proxy", "/oauth2")
    assert "cookie_secure" not in checked.report.origins or "OAUTH2_PROXY" not in checked.report.origins[
        "cookie_secure"]


# --- skip_auth_routes: what oauth2-proxy's forms let through /oauth2/auth ---------------------------
def fwd(uri: str, method: str = "GET") -> dict[str, str]:
    return {"X-Forwarded-Uri": uri, "X-Forwarded-Method": method, "X-Forwarded-Host": "app.example.com",
            "X-Forwarded-Proto": "https"}


async def _statuses(checked: Checked, requests: list[tuple[str, str]]) -> list[int]:
    assert checked.report is not None, checked.errors
    async with AuthApp.start(checked.report.settings) as app:
        return [(await app.auth(headers=fwd(uri, method))).status_code for method, uri in requests]


TRAEFIK = 'reverse_proxy = true\nproxy_kind = "traefik"\n'


@pytest.mark.anyio
async def test_method_not_equal_negates_the_path_as_in_oauth2_proxy(tmp_path: Path) -> None:
    """`GET!=^/admin` skips auth for GET requests outside /admin (isAllowedPath negates the path
    match); it never made /admin public to other methods, as authsvc's own `!=` would."""
    checked = from_cfg(tmp_path, TRAEFIK + 'skip_auth_routes = ["GET!=^/admin"]\n')
    got = await _statuses(checked, [("GET", "/app/page"), ("GET", "/admin"), ("GET", "/admin/users"),
                                    ("POST", "/admin"), ("POST", "/app/page"), ("DELETE", "/admin/users")])
    assert got == [202, 401, 401, 401, 401, 401]


@pytest.mark.anyio
async def test_not_equal_without_a_method_is_every_method_outside_the_path(tmp_path: Path) -> None:
    """overview.md: "For all methods: path_regex OR !=path_regex"."""
    checked = from_cfg(tmp_path, TRAEFIK + 'skip_auth_routes = ["!=^/api"]\n')
    got = await _statuses(checked, [("GET", "/"), ("POST", "/upload"), ("GET", "/api/users"),
                                    ("DELETE", "/api/x")])
    assert got == [202, 202, 401, 401]


@pytest.mark.anyio
async def test_the_documented_env_example_skips_only_those_methods() -> None:
    """overview.md: `OAUTH2_PROXY_SKIP_AUTH_ROUTES="GET=^/api/status,POST=^/api/saved_objects/_import"`."""
    checked = from_env({"OAUTH2_PROXY_REVERSE_PROXY": "true", "AUTHSVC_PROXY_KIND": "traefik",
                        "OAUTH2_PROXY_SKIP_AUTH_ROUTES": "GET=^/api/status,POST=^/api/saved_objects/_import"})
    got = await _statuses(checked, [("GET", "/api/status"), ("POST", "/api/status"),
                                    ("HEAD", "/api/status"), ("POST", "/api/saved_objects/_import"),
                                    ("GET", "/api/saved_objects/_import")])
    assert got == [202, 401, 401, 202, 401]


@pytest.mark.anyio
async def test_a_regex_with_a_comma_in_a_toml_array_is_one_route(tmp_path: Path) -> None:
    """A TOML array item is one regex (mapstructure splits only a string): split at its comma,
    `2}/status$` alone would have been a route for every method."""
    checked = from_cfg(tmp_path, TRAEFIK + 'skip_auth_routes = ["GET=^/api/v[0-9]{1,2}/status$"]\n')
    assert setting(checked, "skip_auth_routes") == ["GET=^/api/v[0-9]{1,2}/status$"]
    got = await _statuses(checked, [("GET", "/api/v12/status"), ("POST", "/api/v12/status"),
                                    ("POST", "/x/2}/status"), ("GET", "/api/v123/status")])
    assert got == [202, 401, 401, 401]


@pytest.mark.anyio
async def test_an_entry_oauth2_proxy_never_matched_is_dropped_with_a_warning(tmp_path: Path) -> None:
    """`^/callback\\?code=x`: oauth2-proxy splits at the first "=", so its method is
    `^/CALLBACK\\?CODE` and it matches no request; here it is not made public either."""
    checked = from_cfg(tmp_path, TRAEFIK + 'skip_auth_routes = ["^/public/", "^/q=1"]\n')
    assert setting(checked, "skip_auth_routes") == ["^/public/"]
    assert any("entry '^/q=1' is dropped" in w and "never matched" in w for w in checked.warnings)
    assert await _statuses(checked, [("GET", "/q=1"), ("GET", "/public/x")]) == [401, 202]


@pytest.mark.anyio
async def test_a_dn_group_is_one_group(tmp_path: Path) -> None:
    """Split at its commas, `CN=Admins,OU=Groups,DC=corp,DC=com` let in anyone holding `DC=com`."""
    checked = from_cfg(tmp_path, 'allowed_groups = ["CN=Admins,OU=Groups,DC=corp,DC=com"]\n')
    assert checked.report is not None, checked.errors
    async with AuthApp.start(checked.report.settings) as app:
        other = await app.cookie(groups=("DC=com", "OU=Groups"))
        admin = await app.cookie(groups=("CN=Admins,OU=Groups,DC=corp,DC=com",))
        assert [(await app.auth(cookie=c)).status_code for c in (other, admin)] == [403, 202]


def test_a_regex_in_skip_auth_regex_is_never_read_as_a_method(tmp_path: Path) -> None:
    """skip_auth_regex entries are paths for every method: `get=x` stays a regex."""
    checked = from_cfg(tmp_path, 'skip_auth_regex = ["get=x", "^/ok$"]\n')
    assert setting(checked, "skip_auth_routes") == ["(?:get=x)", "^/ok$"]


def test_a_skip_auth_regex_starting_with_not_equal_is_a_regex(tmp_path: Path) -> None:
    """skip_auth_regex `!=x` is the regex `!=x` in oauth2-proxy (no method, no negation); as a bare
    skip_auth_routes entry it met the refusal of authsvc's own `!=`."""
    checked = from_cfg(tmp_path, 'skip_auth_regex = ["!=x"]\n')
    assert setting(checked, "skip_auth_routes") == ["(?:!=x)"]


def test_go_flags_in_a_negated_route_stay_with_their_regex(tmp_path: Path) -> None:
    checked = from_cfg(tmp_path, 'skip_auth_routes = ["GET!=(?i)^/admin"]\n')
    assert setting(checked, "skip_auth_routes") == ["GET=^(?!.*(?i:^/admin))(?!.*(?u:(?i:^/admin)))"]


@pytest.mark.parametrize("written", ['skip_auth_regex = ["a=b)|(.*"]', 'skip_auth_routes = ["GET!=$^))|(("]'])
def test_a_regex_that_does_not_compile_alone_is_refused_not_wrapped(tmp_path: Path, written: str) -> None:
    """oauth2-proxy refuses to start on these (regexp.Compile); wrapped in a group they compiled
    here, as `(?:a=b)|(.*)` and `^(?!.*(?:$^))|(())`, each making every path public."""
    checked = from_cfg(tmp_path, TRAEFIK + written + "\n")
    assert checked.report is None
    assert any("is not a valid regex" in line for line in checked.errors), checked.errors


@pytest.mark.parametrize("written", ['skip_auth_routes = ["GET!=^/[[:digit:]]"]',
                                     'skip_auth_regex = ["^/v[[:digit:]]+/public"]'])
def test_a_posix_class_is_refused(tmp_path: Path, written: str) -> None:
    """Go reads `[[:digit:]]` as a digit; Python's re as the set `[:digt` then a `]`, so
    `GET!=^/[[:digit:]]` made /1 public, which oauth2-proxy keeps private."""
    checked = from_cfg(tmp_path, TRAEFIK + written + "\n")
    assert checked.report is None
    assert any("[:digit:]" in line and "[0-9]" in line for line in checked.errors), checked.errors


def test_a_repeat_without_its_minimum_is_refused(tmp_path: Path) -> None:
    """Go reads `{,2}` as the text "{,2}" (no minimum: no repeat); Python's re as {0,2}, so
    `^/admin/x{,1}$` made /admin/ public, which oauth2-proxy never matched."""
    checked = from_cfg(tmp_path, TRAEFIK + 'skip_auth_routes = ["GET=^/admin/x{,1}$"]\n')
    assert checked.report is None
    assert any("{,1}" in line and "\\{,1}" in line for line in checked.errors), checked.errors


@pytest.mark.anyio
async def test_a_case_insensitive_negated_route_folds_case_as_go_does(tmp_path: Path) -> None:
    """Go's `(?i)` folds by Unicode (`s` also matches U+017F, `k` the Kelvin sign): oauth2-proxy
    keeps `/\u017fecret` private under `GET!=(?i)^/secret`. Read with re.ASCII alone the
    negated regex missed it, and the path was public (a case-insensitive backend, such as
    ASP.NET's routing, serves /secret there)."""
    checked = from_cfg(tmp_path, TRAEFIK + 'skip_auth_routes = ["GET!=(?i)^/(secret|keys)"]\n')
    got = await _statuses(checked, [("GET", "/app"), ("GET", "/SECRET"), ("GET", "/%C5%BFecret"),
                                    ("GET", "/%E2%84%AAeys"), ("GET", "/Keys")])
    assert got == [202, 401, 401, 401, 401]


# --- alpha config ---------------------------------------------------------------------------------
ALPHA = """providers:
- id: oidc
  provider: oidc
  clientID: c
  clientSecret: s
  oidcConfig:
    issuerURL: https://idp.example
injectResponseHeaders:
- name: X-Auth-Request-User
  values:
  - {values}
"""


@pytest.mark.parametrize(
    ("value", "meaning"),
    [
        # alpha_config.md, "Migrating header injections in v7.14.0": the nested form
        ("claimSource:\n      claim: user", None),
        # ... and the one before it, which oauth2-proxy v7.14+ refuses (ErrorUnused)
        ("claim: user", "`- claim: ...` directly under values is the form before oauth2-proxy v7.14"),
    ],
)
def test_alpha_header_value_forms(tmp_path: Path, value: str, meaning: str | None) -> None:
    alpha = tmp_path / "alpha.yaml"
    alpha.write_text(ALPHA.replace("{values}", value))
    cfg = tmp_path / "core.cfg"
    cfg.write_text(f'email_domains = ["*"]\ncookie_secret = "{COOKIE}"\n')
    checked = check(ConfigInput(str(cfg), str(alpha)), environ={})
    if meaning is None:
        assert setting(checked, "set_xauthrequest") is True
    else:
        assert any(meaning in line and "claimSource: {claim: ...}" in line for line in checked.errors), \
            checked.errors


# --- Microsoft issuer URLs: the tenant is in them ---------------------------------------------------
TENANT = "11111111-2222-3333-4444-555555555555"
OTHER = "99999999-2222-3333-4444-555555555555"


def _entra(tmp_path: Path, text: str) -> Checked:
    path = tmp_path / "entra.cfg"
    path.write_text(text.replace("<tenant-id>", TENANT).replace("<client-id>", "app")
                    .replace("<client-secret>", "not-a-placeholder-1") + f'cookie_secret = "{COOKIE}"\n'
                    'email_domains = ["*"]\n')
    return check(ConfigInput(str(path)), environ={})


def test_the_entra_id_pages_single_tenant_example(tmp_path: Path) -> None:
    """ms_entra_id.md's configuration examples all name the tenant in oidc_issuer_url."""
    checked = _entra(tmp_path, '''provider="entra-id"
oidc_issuer_url="https://login.microsoftonline.com/<tenant-id>/v2.0"
client_id="<client-id>"
client_secret="<client-secret>"
scope="openid"
allowed_groups=["ac51800c-2679-4ecb-8130-636380a3b491"]
''')
    assert setting(checked, "entra_id_tenant") == TENANT
    assert setting(checked, "oidc_issuer_url") == f"https://login.microsoftonline.com/{TENANT}/v2.0"
    assert setting(checked, "entra_id_allowed_tenants") == []


def test_the_entra_id_pages_multi_tenant_example(tmp_path: Path) -> None:
    checked = _entra(tmp_path, '''provider="entra-id"
oidc_issuer_url="https://login.microsoftonline.com/common/v2.0"
client_id="<client-id>"
client_secret="<client-secret>"
insecure_oidc_skip_issuer_verification=true
scope="openid profile email User.Read"
entra_id_allowed_tenants=["9188040d-6c67-4c5b-b112-36a304b66dad","<tenant-id>"]
''')
    assert setting(checked, "entra_id_tenant") == "common"
    assert setting(checked, "entra_id_allowed_tenants") == ["9188040d-6c67-4c5b-b112-36a304b66dad", TENANT]


@pytest.mark.parametrize(
    ("issuer", "v1"),
    [(f"https://sts.windows.net/{TENANT}/", True),  # ms_azure_ad.md, "for V1 Azure Auth endpoint"
     (f"https://login.microsoftonline.com/{TENANT}/v2.0", False)],  # "for V2 Azure Auth endpoint"
)
def test_the_azure_pages_flag_examples(issuer: str, v1: bool) -> None:
    checked = from_flags("--provider=azure", "--client-id=app", "--client-secret=not-a-placeholder-1",
                         f"--azure-tenant={TENANT}", f"--oidc-issuer-url={issuer}")
    assert setting(checked, "entra_id_tenant") == TENANT
    assert setting(checked, "oidc_issuer_url") == f"https://login.microsoftonline.com/{TENANT}/v2.0"
    assert any("is Azure AD v1's issuer: authsvc signs in with Entra ID v2.0" in w
               for w in checked.warnings) is v1


def test_a_tenant_issuer_with_azure_tenant_common_admits_that_tenant_only() -> None:
    """oauth2-proxy signed in at common and verified the tenant's issuer: only that tenant passed."""
    checked = from_flags("--provider=azure", "--client-id=app", "--client-secret=not-a-placeholder-1",
                         "--azure-tenant=common", f"--oidc-issuer-url=https://sts.windows.net/{TENANT}/")
    assert setting(checked, "entra_id_tenant") == "common"
    assert setting(checked, "entra_id_allowed_tenants") == [TENANT]


def test_common_in_both_is_multi_tenant() -> None:
    checked = from_flags("--provider=azure", "--client-id=app", "--client-secret=not-a-placeholder-1",
                         "--azure-tenant=common",
                         "--oidc-issuer-url=https://login.microsoftonline.com/common/v2.0",
                         f"--entra-id-allowed-tenant={TENANT}")
    assert setting(checked, "entra_id_tenant") == "common"
    assert setting(checked, "entra_id_allowed_tenants") == [TENANT]


def test_an_issuer_of_another_tenant_than_azure_tenant_is_refused() -> None:
    checked = from_flags("--provider=azure", "--client-id=app", "--client-secret=not-a-placeholder-1",
                         f"--azure-tenant={OTHER}",
                         f"--oidc-issuer-url=https://login.microsoftonline.com/{TENANT}/v2.0")
    assert checked.report is None
    assert any(f"names tenant '{TENANT}' but azure_tenant is '{OTHER}'" in line for line in checked.errors)


def test_an_issuer_of_another_provider_is_kept(tmp_path: Path) -> None:
    checked = from_cfg(tmp_path, 'oidc_issuer_url = "https://login.microsoftonline.com/x/v2.0"\n')
    assert setting(checked, "oidc_issuer_url") == "https://login.microsoftonline.com/x/v2.0"


def test_the_legacy_keycloak_pages_flags() -> None:
    """providers/keycloak.md configures the deprecated provider by its endpoints alone; the
    realm URL they sit under is the issuer of authsvc's Keycloak (OIDC) provider."""
    base = "https://kc.example.com/auth/realms/corp/protocol/openid-connect"
    argv = ["--provider=keycloak", "--client-id=app", "--client-secret=not-a-placeholder-1",
            f"--login-url={base}/auth", f"--redeem-url={base}/token", f"--profile-url={base}/userinfo",
            f"--validate-url={base}/userinfo", "--keycloak-group=/admins", "--keycloak-group=/ops",
            f"--cookie-secret={COOKIE}", "--email-domain=*"]
    checked = check(config_input(parse(["check-config", *argv])), environ={})
    assert setting(checked, "oidc_issuer_url") == "https://kc.example.com/auth/realms/corp"
    assert setting(checked, "allowed_groups") == ["/admins", "/ops"]


# --- cookie_secret_file: "must be raw binary, exactly 16, 24, or 32 bytes" (overview.md) ----------
@pytest.mark.parametrize("size", [16, 24, 32])
def test_a_raw_binary_cookie_secret_file(tmp_path: Path, size: int) -> None:
    """`dd if=/dev/urandom bs=32 count=1 > cookie.secret`, the page's own recipe (bytes that are
    no UTF-8 here, so the test never depends on chance)."""
    raw = bytes(range(256 - size, 256))
    (tmp_path / "cookie.secret").write_bytes(raw)
    checked = from_cfg(tmp_path, f'cookie_secret = ""\ncookie_secret_file = "{tmp_path / "cookie.secret"}"\n')
    assert setting(checked, "secret_keys") == [raw]


def test_a_text_cookie_secret_file_with_its_newline(tmp_path: Path) -> None:
    (tmp_path / "cookie.secret").write_text(COOKIE + "\n")
    checked = from_cfg(tmp_path, f'cookie_secret = ""\ncookie_secret_file = "{tmp_path / "cookie.secret"}"\n')
    assert setting(checked, "secret_keys") == [b"v" * 32]


def test_a_binary_cookie_secret_file_of_another_size_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cookie.secret").write_bytes(bytes(range(235, 256)))
    checked = from_cfg(tmp_path, f'cookie_secret = ""\ncookie_secret_file = "{tmp_path / "cookie.secret"}"\n')
    assert any("is 21 bytes of binary, not text nor a raw key of 16, 24 or 32 bytes" in line
               for line in checked.errors), checked.errors


def test_spaces_around_list_items_are_read_and_said() -> None:
    """`OAUTH2_PROXY_EMAIL_DOMAINS="a.com, b.com"`: viper splits at ',' only, so oauth2-proxy's
    second domain was ' b.com' and admitted nobody; authsvc reads b.com, and says so."""
    checked = from_env({"OAUTH2_PROXY_EMAIL_DOMAINS": "example.com, example.org"})
    assert setting(checked, "email_domains") == ["example.com", "example.org"]
    assert any("' example.org': oauth2-proxy keeps the spaces around a list item" in w
               and "authsvc reads 'example.org'" in w for w in checked.warnings), checked.warnings
    quiet = from_env({"OAUTH2_PROXY_EMAIL_DOMAINS": '["example.com", "example.org"]'})
    assert not any("keeps the spaces" in w for w in quiet.warnings)


@pytest.mark.anyio
@pytest.mark.parametrize("source", ["env", "flag"])
async def test_a_route_written_with_spaces_stays_as_private_as_in_oauth2_proxy(source: str) -> None:
    """`GET=^/health, GET=^/metrics$`: oauth2-proxy's second route is ` GET=^/metrics$`, method
    " GET", which no request has, so /metrics stayed behind sign-in; trimmed here, it was public.
    `^/pub ` (a trailing space) likewise is not `^/pub`, which would make /publish public too."""
    routes = "GET=^/health, GET=^/metrics$,^/pub "
    if source == "env":
        checked = from_env({"OAUTH2_PROXY_REVERSE_PROXY": "true", "AUTHSVC_PROXY_KIND": "traefik",
                            "OAUTH2_PROXY_SKIP_AUTH_ROUTES": routes})
    else:
        checked = from_flags("--reverse-proxy=true", "--proxy-kind=traefik", f"--skip-auth-route={routes}")
    got = await _statuses(checked, [("GET", "/health"), ("GET", "/metrics"), ("GET", "/publish"),
                                    ("GET", "/pub%20x")])
    assert got == [202, 401, 401, 202]
    assert any("' GET=^/metrics$'" in w and "is dropped" in w for w in checked.warnings), checked.warnings
