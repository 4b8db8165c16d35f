"""Who may pass: email domains, groups, routes that skip auth, and bearer tokens."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from .loading import CommaList, option_error

_METHOD_PART = re.compile(r"([A-Za-z]{1,32})(!?)=(.*)", re.DOTALL)

#: how route regexes (skip_auth_routes, api_routes) are compiled: `\d`, `\w`, `\s` and `\b`
#: mean ASCII, as in oauth2-proxy's Go RE2; Python's Unicode classes made `^/v\d+/` match
#: `/v%D9%A1/` (U+0661, an Arabic-Indic digit) too, a public route wider than the one written
ROUTE_FLAGS = re.ASCII

#: why a `!=` entry is refused in authsvc's own settings (oauth2-proxy's are rewritten:
#: config/o2p_routes.py)
_NOT_EQUAL = ("`!=` means two things: oauth2-proxy's `GET!=^/admin` is GET on every path but "
              "^/admin, while authsvc up to 0.1 read it as every method but GET on ^/admin. Write "
              "the one you mean: `GET=^(?!/admin)` (the path negated, oauth2-proxy's meaning) or "
              "one `METHOD=^/admin` entry per method")


def split_skip_route(entry: str) -> tuple[str, str]:
    """A `skip_auth_routes` entry, `METHOD=regex` or `regex`, as (method, regex); the method
    is upper case, "" for all. The regex is not compiled here (check/paths.py compiles the
    rules; validation below only proves it compiles and refuses `!=`)."""
    m = _METHOD_PART.fullmatch(entry)
    if m is None:
        return "", entry
    return m.group(1).upper(), m.group(3)


def not_equal_form(entry: str) -> bool:
    """Whether an entry is written `METHOD!=regex` or `!=regex` (refused: `_NOT_EQUAL`)."""
    m = _METHOD_PART.fullmatch(entry)
    return entry.startswith("!=") or (m is not None and m.group(2) == "!")


class AccessOptions(BaseModel):
    """Access rules, unauthenticated routes, API routes and accepted JWT bearer tokens."""

    email_domains: CommaList = Field(
        default_factory=list,
        description="allowed e-mail domains: `example.com`, `.example.com` (subdomains), `*` (any)",
        json_schema_extra={"default_note": "(nobody)"},
    )
    whitelist_domains: CommaList = Field(
        default_factory=list,
        description=(
            "hosts `rd` may redirect to besides the request's own: `example.com`, "
            "`.example.com`, `host:8080`, `host:*`"
        ),
    )
    authenticated_emails_file: str = Field(
        "",
        description=(
            "file of allowed addresses (first CSV column, `#` comments), re-read within "
            "a second of a change; a user passes if the e-mail domain **or** this file "
            "admits them"
        ),
    )
    allowed_groups: CommaList = Field(
        default_factory=list,
        description="the identity must hold at least one of these groups (from `oidc_groups_claim`)",
        json_schema_extra={"default_note": "(any)"},
    )
    skip_auth_routes: CommaList = Field(
        default_factory=list,
        description=(
            "public routes: `regex` or `METHOD=regex`, matched (search) against the decoded "
            "**path only**; anchor with `^…$`, negate with a lookahead (`GET=^(?!/admin)`; "
            "`!=` is refused here: oauth2-proxy's `GET!=^/admin`, in its files, variables "
            "and flags, is read as it means there, GET on every path but `/admin`). A path "
            "with dot segments or encoded slashes is never public. Applied "
            "only where `proxy_kind` can vouch for the path (not under `auto`, see "
            "\"Proxies\"). Use the TOML file for regexes with commas"
        ),
    )
    skip_auth_preflight: bool = Field(
        False,
        description=(
            "let CORS preflights (`OPTIONS`, the original method) through without a "
            "session; like `skip_auth_routes`, only where `proxy_kind` can vouch for the "
            "method"
        ),
    )
    api_routes: CommaList = Field(
        default_factory=list,
        description="path regexes that always get `401`, never a sign-in redirect",
    )
    skip_jwt_bearer_tokens: bool = Field(
        False,
        description=(
            "accept `Authorization: Bearer <JWT>` from the provider's issuer (audience "
            "`client_id` or `oidc_extra_audiences`) and `extra_jwt_issuers`"
        ),
    )
    extra_jwt_issuers: CommaList = Field(
        default_factory=list,
        description=(
            "more issuers whose JWTs are accepted, as `issuer=audience` "
            "(`https://login.example.com=my-api`)"
        ),
    )
    jwt_bearer_id_tokens: bool = Field(
        True,
        description=(
            "bearer JWTs not typed as access tokens (JOSE `typ` `JWT` or none: ID tokens, and the access "
            "tokens of most IdPs) are accepted too, as in oauth2-proxy; `false` accepts only RFC 9068 "
            "access tokens (`typ: at+jwt`)"
        ),
    )

    @field_validator("skip_auth_routes", "api_routes")
    @classmethod
    def _access_regexes(cls, value: list[str], info: ValidationInfo) -> list[str]:
        # skip_auth_routes entries may start with METHOD=; api_routes may not
        skip = info.field_name == "skip_auth_routes"
        for entry in value:
            if skip and not_equal_form(entry):
                raise option_error(str(info.field_name), f"entry {entry!r}: {_NOT_EQUAL}")
            try:
                re.compile(split_skip_route(entry)[1] if skip else entry, ROUTE_FLAGS)
            except re.error as exc:
                raise option_error(
                    str(info.field_name), f"entry {entry!r} is not a valid regex: {exc}"
                ) from None
        return value

    @field_validator("extra_jwt_issuers")
    @classmethod
    def _access_issuers(cls, value: list[str]) -> list[str]:
        for entry in value:
            issuer, eq, audience = entry.partition("=")
            if not eq or not audience.strip() or not re.match(r"^https?://[^/\s?#]+", issuer):
                raise option_error(
                    "extra_jwt_issuers", f"entry {entry!r} is not issuer=audience "
                    "(e.g. https://login.example.com=my-api)"
                )
        return value

    @field_validator("authenticated_emails_file")
    @classmethod
    def _access_emails_file(cls, value: str) -> str:
        if value and not Path(value).is_file():
            raise ValueError(f"{value!r} is not a readable file")
        return value
