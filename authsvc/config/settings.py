"""`Settings`, composed from the option groups, and `load_settings`, the one way to build it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .access import AccessOptions
from .api_clients import ApiClientOptions
from .bitbucket import BitbucketOptions
from .client_ip import ClientIPOptions
from .cookies import CookieOptions
from .discovery import DiscoveryOptions
from .google_groups import GoogleGroupsOptions
from .headers import HeaderOptions
from .htpasswd import HtpasswdOptions
from .listen import listen_key
from .loading import ENV_PREFIX, Problems, describe_lines
from .login_params import LoginParamOptions
from .pages import PagesOptions
from .provider import ProviderOptions
from .provider_specific import ProviderSpecificOptions
from .proxy import ProxyOptions
from .proxy_cache import ProxyCacheOptions
from .redis import RedisOptions, mask_urls
from .server import ServerOptions
from .signout import SignOutOptions
from .tls import TLSOptions

_G = TypeVar("_G", bound=BaseModel)


class _Groups(Protocol):
    def __call__(self, group: type[_G], /) -> _G | None: ...


# pydantic collects fields and validators from the last base to the first, so the groups are
# listed in reverse: `model_fields` (one CLI flag each, README's table, check-config's output)
# then runs server, operation, provider, ..., proxy, as it did before the split.
class Settings(
    BitbucketOptions,
    PagesOptions,
    GoogleGroupsOptions,
    HtpasswdOptions,
    ClientIPOptions,
    LoginParamOptions,
    DiscoveryOptions,
    TLSOptions,
    ProxyOptions,
    HeaderOptions,
    ApiClientOptions,
    AccessOptions,
    ProxyCacheOptions,
    SignOutOptions,
    RedisOptions,
    CookieOptions,
    ProviderSpecificOptions,
    ProviderOptions,
    ServerOptions,
    BaseSettings,
):
    """Every option authsvc understands. See README.md, "Configuration reference"."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        case_sensitive=False,
        validate_default=True,
    )

    @model_validator(mode="after")
    def _across_groups(self) -> Settings:
        # Runs after the groups' own model validators; each group checks itself (GROUPS), this
        # only what involves two of them, so `validate` can run it on whichever groups are valid
        problems = Problems()
        across_groups(problems, self._group)
        problems.raise_any()
        return self

    def _group(self, group: type[_G]) -> _G | None:
        return self if isinstance(self, group) else None

    def masked(self) -> dict[str, Any]:
        """The effective settings with every secret masked, for check-config and logs."""
        out = self.model_dump(mode="json")
        for key in ("client_secret", "jwt_key", "redis_password", "redis_sentinel_password",
                    "basic_auth_password", "nginx_cache_key_secret"):
            out[key] = "****" if getattr(self, key).get_secret_value() else ""
        for key in ("redis_connection_url", "redis_sentinel_connection_urls",
                    "redis_cluster_connection_urls"):  # fmt: skip
            out[key] = mask_urls(out[key])
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
        # sources.py reads the files and the environment itself (it also reads oauth2-proxy's
        # and says where each value came from); the model takes only what it is given
        return (init_settings,)


#: the option groups, in the order of `Settings.model_fields` (check-config's order of problems)
GROUPS: tuple[type[BaseModel], ...] = tuple(reversed(Settings.__bases__[:-1]))


def across_groups(problems: Problems, group: _Groups) -> None:
    """The checks that read two option groups; `group(G)` is the valid group G, or None when
    G failed its own checks (then what depends on it is not checked)."""
    cookies, redis = group(CookieOptions), group(RedisOptions)
    provider, google = group(ProviderSpecificOptions), group(GoogleGroupsOptions)
    server, tls = group(ServerOptions), group(TLSOptions)
    login = group(LoginParamOptions)
    proxy, headers = group(ProxyOptions), group(HeaderOptions)
    if proxy and headers:
        # the id is echoed on every answer, a 2xx too: under a claim header's name, the
        # app would get a trusted proxy's (nginx: the client's) id as that identity header
        claimed = {name.lower() for name, _ in headers.claim_header_map}
        if proxy.request_id_header.lower() in claimed:
            problems.add("request_id_header", f"{proxy.request_id_header} is one of claim_headers")
    if login and cookies and login.form_post and not cookies.cookie_secure:
        # the IdP's cross-site POST carries only a SameSite=None cookie, and browsers take
        # SameSite=None only with Secure (RFC 6265bis §4.1.2.7)
        problems.add("auth_request_response_mode",
                     "form_post needs cookie_secure = true (its login cookie is SameSite=None; Secure)")
    for option in ("google_groups", "google_use_organization_id"):
        if google and provider and getattr(google, option) and provider.provider != "google":
            problems.add(option, "is for provider 'google' only")
    if cookies and redis and cookies.session_store_type == "redis":
        redis.check_redis(problems)
    if server and tls:
        # a second listener on the port of another fails at start-up (address in use);
        # metrics_address against http_address is ServerOptions' own check
        main = "https_address" if tls.serves_tls else "http_address"
        taken = {listen_key(tls.https_address if tls.serves_tls else server.http_address): main}
        for option, address in (("metrics_address", server.metrics_listener),
                                ("metrics_secure_address", tls.metrics_secure_address)):
            port = listen_key(address)
            if address and port in taken and (option, taken[port]) != ("metrics_address", "http_address"):
                problems.add(option, f"must use another port than {taken[port]}")
            if address:
                taken.setdefault(port, option)


@cache
def _checked(group: type[BaseModel]) -> type[BaseModel]:
    # a group validated alone as Settings validates it: defaults too, unknown keys refused
    config = ConfigDict(validate_default=True, extra="forbid")
    return cast("type[BaseModel]", type(group.__name__, (group,), {"model_config": config,
                                                                   "__module__": group.__module__}))


def _without(lines: list[str], invalid: set[str]) -> list[str]:
    """`lines` less those about, or naming, an option whose given value was invalid (the checks
    ran with its default, which is not what was given)."""
    if not invalid:
        return lines
    named = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(invalid))) + r")\b")
    return [line for line in lines
            if line.split(" ")[2] not in invalid and not named.search(line.split(": ", 1)[-1])]


def validate(values: Mapping[str, Any], origins: Mapping[str, str] | None = None) -> tuple[
        Settings | None, list[str]]:
    """The settings, or every problem with them (one line each, `describe`'s form).

    pydantic stops at the first model validator that fails, and runs none while a field is
    invalid. So on failure each group is validated alone; a group with invalid fields once
    more with those at their defaults, for its own checks; and the checks across groups run
    on the groups so built. What the defaults made them say is left out (`_without`).
    """
    try:
        return Settings(**values), []
    except ValidationError as exc:
        whole = exc
    lines = describe_lines([e for e in whole.errors() if e["type"] == "extra_forbidden"], origins)
    built: dict[type[BaseModel], Any] = {}
    invalid: set[str] = set()
    for group in GROUPS:
        if any(other is not group and issubclass(other, group) for other in GROUPS):
            continue  # ProviderOptions: validated within ProviderSpecificOptions
        own = {k: v for k, v in values.items() if k in group.model_fields}
        try:
            built[group] = _checked(group)(**own)
            continue
        except ValidationError as exc:
            lines += describe_lines(exc.errors(), origins)
            bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        invalid |= bad
        try:
            built[group] = _checked(group)(**{k: v for k, v in own.items() if k not in bad})
        except ValidationError as exc:
            lines += _without(describe_lines(exc.errors(), origins), bad)

    def passed(group: type[_G]) -> _G | None:
        found = next((v for g, v in built.items() if issubclass(g, group)), None)
        return cast("_G | None", found)

    problems = Problems()
    across_groups(problems, passed)
    try:
        problems.raise_any()
    except ValueError as exc:
        lines += _without(describe_lines(
            [{"type": "value_error", "loc": (), "msg": str(exc), "input": None}], origins), invalid)
    return None, list(dict.fromkeys(lines or describe_lines(whole.errors(), origins)))


def load_settings(config_file: str | Path | None = None, **flags: Any) -> Settings:
    """Build the settings from a config file, the environment and flags (strongest last).

    Raises ConfigError with a readable message on any invalid or missing option.
    """
    from .sources import ConfigInput, load

    given = {k: v for k, v in flags.items() if v is not None}
    return load(ConfigInput(str(config_file) if config_file else None, flags=given)).settings
