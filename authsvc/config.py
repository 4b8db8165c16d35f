"""Settings: a TOML file, then AUTHSVC_* environment variables, then command-line flags.

Option names follow oauth2-proxy wherever the meaning is the same, so users can carry their
settings over. Everything is validated once at start-up into a frozen `Settings`; a bad value
raises `ConfigError` with a one-line message that names the option (and its env variable).
"""

from __future__ import annotations

import base64
import ipaddress
import re
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .errors import ConfigError
from .provider_options import check_provider_options
from .routes import parse_route

ENV_PREFIX = "AUTHSVC_"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

#: peers trusted to set X-Forwarded-* / X-Original-* when `trusted_proxy_ips` is not given
DEFAULT_TRUSTED_PROXIES = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
)

ProxyKind = Literal["auto", "nginx", "ingress-nginx", "traefik", "caddy", "envoy"]


def parse_duration(value: object) -> float:
    """Seconds from a Go-style duration ("168h", "1h30m", "15m", "500ms") or a number."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 168h, 15m or 30s")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    text = str(value).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if not text or _DURATION_PART.sub("", text) != "":
        raise ValueError(f"{value!r} is not a duration (use e.g. 168h, 1h30m, 15m, 30s)")
    return sum(float(n) * _UNITS[u] for n, u in _DURATION_PART.findall(text))


def secret_bytes(secret: str) -> bytes:
    """The key material of a cookie secret, read the way oauth2-proxy reads it.

    A value that base64(url)-decodes to 16, 24 or 32 bytes is used decoded (what
    `generate-secret` prints); anything else is used as raw UTF-8 bytes.
    """
    padded = secret + "=" * (-len(secret) % 4)
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            raw = decode(padded.encode())
        except ValueError:
            continue
        if len(raw) in (16, 24, 32):
            return raw
    return secret.encode()


def _split_list(value: object) -> object:
    """Lists from the environment are comma-separated ("a.com,b.com")."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]
Duration = float

_toml_path: ContextVar[Path | None] = ContextVar("authsvc_toml_path", default=None)


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the `--config` TOML file; unknown keys are refused by the model (extra=forbid)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ below does all the work

    def __call__(self) -> dict[str, Any]:
        path = _toml_path.get()
        if path is None:
            return {}
        try:
            with path.open("rb") as fh:
                return tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"--config: file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"--config: {path} is not valid TOML: {exc}") from None


class Settings(BaseSettings):
    """Every option authsvc understands. See README.md, "Configuration reference"."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        case_sensitive=False,
        validate_default=True,
    )

    # --- server -------------------------------------------------------------------------
    http_address: str = "127.0.0.1:4180"
    proxy_prefix: str = "/oauth2"
    auth_success_status: int = 202

    # --- operation: metrics, logs, workers, shutdown (README, "Operating it") -----------
    #: host:port of a separate /metrics listener; empty serves /metrics on http_address
    metrics_address: str = ""
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    #: one access line per /oauth2/auth request (the login endpoints always log one)
    log_requests: bool = False
    workers: int = 1
    #: how long in-flight requests may take to finish after SIGTERM (below k8s's 30s grace)
    shutdown_timeout: Duration = 25.0

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("shutdown_timeout", mode="before")
    @classmethod
    def _shutdown_duration(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("metrics_address")
    @classmethod
    def _metrics_address(cls, value: str) -> str:
        _host, sep, port = value.rpartition(":")
        if value and (not sep or not port.isdigit() or not 0 < int(port) < 65536):
            raise ValueError(f"{value!r} is not host:port (e.g. 0.0.0.0:9090); leave empty for the main port")
        return value

    @model_validator(mode="after")
    def _operation(self) -> Settings:
        if not 1 <= self.workers <= 64:
            raise _option_error("workers", f"{self.workers} is not between 1 and 64")
        if not 0 < self.shutdown_timeout <= 3600:
            raise _option_error("shutdown_timeout", "must be more than 0 and at most 1h (e.g. 25s)")
        if self.metrics_address.rpartition(":")[2] == self.http_address.rpartition(":")[2]:
            raise _option_error("metrics_address", "must use another port than http_address")
        return self

    # --- provider -----------------------------------------------------------------------
    provider: str = "oidc"
    oidc_issuer_url: str = ""
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    client_secret_file: str = ""
    redirect_url: str = ""
    scope: str = "openid email profile"
    oidc_email_claim: str = "email"
    oidc_groups_claim: str = "groups"
    user_id_claim: str = "sub"
    oidc_extra_audiences: CommaList = Field(default_factory=list)
    insecure_oidc_allow_unverified_email: bool = False
    oidc_metadata_ttl: Duration = 3600.0
    oidc_leeway: Duration = 60.0
    skip_provider_button: bool = False

    # --- provider-specific options (README, "Identity providers") -----------------------
    github_org: str = ""
    github_team: CommaList = Field(default_factory=list)
    github_repo: str = ""
    github_token: SecretStr = SecretStr("")
    github_user: CommaList = Field(default_factory=list)
    github_base_url: str = "https://github.com"
    github_api_url: str = ""
    google_hosted_domains: CommaList = Field(default_factory=list)
    entra_id_tenant: str = "common"
    entra_id_allowed_tenants: CommaList = Field(default_factory=list)
    gitlab_base_url: str = "https://gitlab.com"
    gitlab_group: CommaList = Field(default_factory=list)
    gitlab_project: CommaList = Field(default_factory=list)

    @field_validator(
        "github_team", "github_user", "google_hosted_domains", "entra_id_allowed_tenants",
        "gitlab_group", "gitlab_project",
        mode="before",
    )
    @classmethod
    def _provider_lists(cls, value: object) -> object:
        return _split_list(value)

    @model_validator(mode="after")
    def _provider_options(self) -> Settings:
        check_provider_options(self)
        return self

    # --- cookies and sessions -----------------------------------------------------------
    cookie_name: str = "_authsvc"
    cookie_secret: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    cookie_domains: CommaList = Field(default_factory=list)
    cookie_path: str = "/"
    cookie_expire: Duration = 168 * 3600.0
    cookie_refresh: Duration = 0.0
    cookie_secure: bool = True
    cookie_httponly: bool = True
    cookie_samesite: Literal["", "lax", "strict", "none"] = "lax"
    cookie_csrf_expire: Duration = 15 * 60.0
    session_store_type: Literal["cookie", "redis"] = "cookie"
    #: verified sessions are reused this long in-process (session_cache.py); 0 = off
    session_cache_ttl: Duration = 5.0

    # --- Redis session store (oauth2-proxy's names) -------------------------------------
    redis_connection_url: str = ""
    redis_use_sentinel: bool = False
    redis_sentinel_master_name: str = ""
    redis_sentinel_connection_urls: CommaList = Field(default_factory=list)
    redis_sentinel_password: SecretStr = SecretStr("")
    redis_use_cluster: bool = False
    redis_cluster_connection_urls: CommaList = Field(default_factory=list)
    redis_username: str = ""
    redis_password: SecretStr = SecretStr("")
    redis_ca_path: str = ""
    redis_insecure_skip_tls_verify: bool = False
    redis_connect_timeout: Duration = 1.0
    redis_command_timeout: Duration = 0.5

    # --- sign-out -----------------------------------------------------------------------
    #: continue /oauth2/sign_out to the IdP's end_session_endpoint (RP-Initiated Logout)
    oidc_end_session: bool = False
    oidc_post_logout_redirect_url: str = ""

    # --- access -------------------------------------------------------------------------
    email_domains: CommaList = Field(default_factory=list)
    whitelist_domains: CommaList = Field(default_factory=list)
    authenticated_emails_file: str = ""
    allowed_groups: CommaList = Field(default_factory=list)
    skip_auth_routes: CommaList = Field(default_factory=list)
    skip_auth_preflight: bool = False
    api_routes: CommaList = Field(default_factory=list)
    skip_jwt_bearer_tokens: bool = False
    extra_jwt_issuers: CommaList = Field(default_factory=list)

    # --- headers on the 2xx -------------------------------------------------------------
    set_xauthrequest: bool = True
    pass_access_token: bool = False
    set_authorization_header: bool = False

    # --- the proxy in front -------------------------------------------------------------
    reverse_proxy: bool = True
    trusted_proxy_ips: CommaList = Field(default_factory=lambda: list(DEFAULT_TRUSTED_PROXIES))
    proxy_kind: ProxyKind = "auto"
    #: 302 browser navigations to sign-in from /oauth2/auth (only proxies that relay it);
    #: unset means: on for traefik, caddy and envoy, off for nginx, ingress-nginx and auto
    redirect_browsers: bool | None = None

    # --- validation of single fields ----------------------------------------------------
    @field_validator(
        "oidc_extra_audiences",
        "cookie_domains",
        "email_domains",
        "whitelist_domains",
        "allowed_groups",
        "skip_auth_routes",
        "api_routes",
        "extra_jwt_issuers",
        "trusted_proxy_ips",
        "cookie_secret",
        "redis_sentinel_connection_urls",
        "redis_cluster_connection_urls",
        mode="before",
    )
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split_list(value)

    @field_validator(
        "cookie_expire", "cookie_refresh", "cookie_csrf_expire", "oidc_metadata_ttl", "oidc_leeway",
        "redis_connect_timeout", "redis_command_timeout", "session_cache_ttl",
        mode="before",
    )
    @classmethod
    def _durations(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("session_cache_ttl")
    @classmethod
    def _cache_ttl(cls, value: float) -> float:
        if not 0 <= value <= 300:
            raise ValueError("must be between 0 (off) and 300 seconds; a few seconds is the idea")
        return value

    @field_validator("cookie_samesite", mode="before")
    @classmethod
    def _samesite(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("http_address")
    @classmethod
    def _address(cls, value: str) -> str:
        _host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r} is not host:port (e.g. 127.0.0.1:4180 or 0.0.0.0:4180)")
        return value

    @field_validator("proxy_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value.startswith("/") or value.endswith("/") or " " in value:
            raise ValueError(f"{value!r} must start with '/' and not end with '/' (e.g. /oauth2)")
        return value

    @field_validator("auth_success_status")
    @classmethod
    def _status(cls, value: int) -> int:
        if not 200 <= value <= 299:
            raise ValueError(f"{value} is not a 2xx status (use 202, or 200 for Envoy)")
        return value

    @field_validator("cookie_secret")
    @classmethod
    def _secrets(cls, value: list[SecretStr]) -> list[SecretStr]:
        for secret in value:
            if len(secret_bytes(secret.get_secret_value())) < 16:
                raise ValueError(
                    "each secret must hold at least 16 bytes (32 recommended); "
                    "make one with `authsvc generate-secret`"
                )
        return value

    @field_validator("trusted_proxy_ips")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR range") from None
        return value

    @field_validator("oidc_issuer_url", "redirect_url", "oidc_post_logout_redirect_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^/\s?#]+", value):
            raise ValueError(f"{value!r} is not an absolute http(s) URL")
        return value.rstrip("/") if value.endswith("/") and value.count("/") > 3 else value

    @field_validator("skip_auth_routes", "api_routes")
    @classmethod
    def _regexes(cls, value: list[str], info: ValidationInfo) -> list[str]:
        compile_ = parse_route if info.field_name == "skip_auth_routes" else re.compile
        for entry in value:
            try:
                compile_(entry)
            except re.error as exc:
                raise _option_error(
                    str(info.field_name), f"entry {entry!r} is not a valid regex: {exc}"
                ) from None
        return value

    @field_validator("extra_jwt_issuers")
    @classmethod
    def _issuers(cls, value: list[str]) -> list[str]:
        for entry in value:
            issuer, eq, audience = entry.partition("=")
            if not eq or not audience.strip() or not re.match(r"^https?://[^/\s?#]+", issuer):
                raise _option_error(
                    "extra_jwt_issuers", f"entry {entry!r} is not issuer=audience "
                    "(e.g. https://login.example.com=my-api)"
                )
        return value

    @field_validator("authenticated_emails_file")
    @classmethod
    def _emails_file(cls, value: str) -> str:
        if value and not Path(value).is_file():
            raise ValueError(f"{value!r} is not a readable file")
        return value

    @field_validator("cookie_name")
    @classmethod
    def _cookie_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_\-.]{1,200}", value):
            raise ValueError(f"{value!r} may hold only letters, digits and _ - .")
        return value

    # --- validation across fields -------------------------------------------------------
    @model_validator(mode="after")
    def _together(self) -> Settings:
        if not self.cookie_secret:
            raise _option_error("cookie_secret", "is required; make one with `authsvc generate-secret`")
        if self.client_secret_file and not self.client_secret.get_secret_value():
            try:
                text = Path(self.client_secret_file).read_text().strip()
            except OSError as exc:
                raise _option_error("client_secret_file", f"cannot be read: {exc.strerror}") from None
            object.__setattr__(self, "client_secret", SecretStr(text))
        if self.provider == "oidc" and not self.oidc_issuer_url:
            raise _option_error("oidc_issuer_url", "is required for provider 'oidc'")
        if not self.client_id:
            raise _option_error("client_id", "is required")
        if not self.client_secret.get_secret_value():
            raise _option_error("client_secret", "is required (or set client_secret_file)")
        if self.cookie_refresh and self.cookie_refresh >= self.cookie_expire:
            raise _option_error("cookie_refresh", "must be shorter than cookie_expire")
        if self.cookie_samesite == "none" and not self.cookie_secure:
            raise _option_error("cookie_samesite", "'none' requires cookie_secure = true")
        if self.session_store_type == "redis":
            _check_redis(self)
        return self

    # --- derived values -----------------------------------------------------------------
    @property
    def secret_keys(self) -> list[bytes]:
        """Cookie key material, newest (first listed) first."""
        return [secret_bytes(s.get_secret_value()) for s in self.cookie_secret]

    @property
    def browser_redirects(self) -> bool:
        """Whether /oauth2/auth may answer a browser navigation with a 302."""
        if self.redirect_browsers is not None:
            return self.redirect_browsers
        return self.proxy_kind in ("traefik", "caddy", "envoy")

    def masked(self) -> dict[str, Any]:
        """The effective settings with every secret masked, for check-config and logs."""
        out = self.model_dump(mode="json")
        for key in ("client_secret", "redis_password", "redis_sentinel_password"):
            out[key] = "****" if getattr(self, key).get_secret_value() else ""
        for key in ("redis_connection_url", "redis_sentinel_connection_urls",
                    "redis_cluster_connection_urls"):  # fmt: skip
            out[key] = _mask_urls(out[key])
        out["cookie_secret"] = [f"**** ({len(k)} bytes)" for k in self.secret_keys]
        return out

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # first wins: flags (init kwargs), then the environment, then the TOML file
        return (init_settings, env_settings, _TomlSource(settings_cls))


_REDIS_URL = re.compile(r"^rediss?://[^\s/?#]*[^\s/?#@:](:\d{1,5})?(/\d{0,2})?$")


def _check_redis(s: Settings) -> None:
    """The Redis options must name one reachable deployment: standalone, Sentinel or Cluster."""
    if s.redis_use_sentinel and s.redis_use_cluster:
        raise _option_error("redis_use_sentinel", "and redis_use_cluster exclude each other")
    if s.redis_use_sentinel:
        if not s.redis_sentinel_master_name:
            raise _option_error("redis_sentinel_master_name", "is required with redis_use_sentinel")
        urls, option = s.redis_sentinel_connection_urls, "redis_sentinel_connection_urls"
    elif s.redis_use_cluster:
        urls, option = s.redis_cluster_connection_urls, "redis_cluster_connection_urls"
    else:
        urls, option = [u for u in [s.redis_connection_url] if u], "redis_connection_url"
    if not urls:
        raise _option_error(option, "is required with session_store_type = redis")
    for url in urls:
        if not _REDIS_URL.match(url):
            raise _option_error(option, f"{_mask_urls(url)!r} is not redis://host:port or rediss://...")
    for option in ("redis_connect_timeout", "redis_command_timeout"):
        if getattr(s, option) <= 0:
            raise _option_error(option, "must be greater than 0 (e.g. 1s, 500ms)")


def _mask_urls(value: object) -> Any:
    """Redis URLs with any password replaced by ****."""
    if isinstance(value, list):
        return [_mask_urls(v) for v in value]
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1****@", value) if isinstance(value, str) else value


def _option_error(option: str, problem: str) -> ValueError:
    return ValueError(f"@{option}@ {problem}")


def _describe(exc: ValidationError) -> str:
    """One line per problem, naming the option and its environment variable."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        match = re.match(r"@(\w+)@ (.*)", msg)
        if match:
            loc, msg = match.group(1), match.group(2)
        elif err["type"] == "extra_forbidden":
            msg = "is not an authsvc option (check the spelling; see README, Configuration)"
        elif err["type"] == "literal_error":
            msg = f"{err['input']!r} is not one of the allowed values: {msg.split(': ', 1)[-1]}"
        elif "input" in err and err["type"] not in ("missing",) and "secret" not in loc:
            msg = f"{err['input']!r}: {msg}"
        if not loc:
            lines.append(f"invalid configuration: {msg}")
            continue
        env = f"{ENV_PREFIX}{loc.split('.')[0].upper()}"
        lines.append(f"invalid option {loc} ({env}): {msg}")
    return "\n".join(lines)


def load_settings(config_file: str | Path | None = None, **flags: Any) -> Settings:
    """Build the settings from a TOML file, the environment and flags (strongest last).

    Raises ConfigError with a readable message on any invalid or missing option.
    """
    token = _toml_path.set(Path(config_file) if config_file else None)
    try:
        return Settings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    finally:
        _toml_path.reset(token)
