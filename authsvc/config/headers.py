"""The identity headers authsvc adds to its 2xx answer for the proxy to pass upstream."""

from __future__ import annotations

import re
from typing import Self

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from .loading import CommaList, option_error

#: RFC 9110 §5.6.2 token characters: a field name
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: the identity headers authsvc sends itself (check/headers.py), lower-cased
BUILT_IN = frozenset({
    "x-auth-request-user", "x-auth-request-email", "x-auth-request-preferred-username",
    "x-auth-request-groups", "x-auth-request-identity-type", "x-auth-request-client-id",
    "x-auth-request-access-token", "authorization",
})  # fmt: skip
#: hop-by-hop (RFC 9110 §7.6.1) and framing/response headers a proxy would not pass on as
#: identity, or that would change the auth answer itself
_RESERVED = frozenset({
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
    "upgrade", "proxy-authenticate", "proxy-authorization", "content-length", "content-type",
    "host", "set-cookie", "location", "www-authenticate",
})  # fmt: skip


class HeaderOptions(BaseModel):
    """Which identity headers and tokens go on the 2xx answer."""

    set_xauthrequest: bool = Field(
        True,
        description="send `X-Auth-Request-User/-Email/-Preferred-Username/-Groups` on 2xx",
    )
    pass_access_token: bool = Field(
        False,
        description="also send `X-Auth-Request-Access-Token`",
    )
    set_authorization_header: bool = Field(
        False,
        description="also send `Authorization: Bearer <id_token>`",
    )
    set_basic_auth: bool = Field(
        False,
        description=(
            "also send `Authorization: Basic base64(<user>:<basic_auth_password>)` for "
            "applications that want Basic (not with `set_authorization_header`)"
        ),
    )
    basic_auth_password: SecretStr = Field(
        SecretStr(""),
        description="the password in that header",
    )
    prefer_email_to_user: bool = Field(
        False,
        description="the e-mail, not the user, in that header",
    )

    claim_headers: CommaList = Field(
        default_factory=list,
        description=(
            "extra identity headers from claims, `Header-Name=claim` (`X-Auth-Request-Tenant=tid`; "
            "dotted paths like `oidc_groups_claim`, lists joined like groups); encoded like the "
            "other identity headers and sent (empty if need be) on every 2xx. OIDC logins and "
            "bearer tokens; see [docs/api-clients.md](docs/api-clients.md)"
        ),
    )

    @field_validator("claim_headers")
    @classmethod
    def _claim_headers(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for entry in value:
            name, eq, path = (part.strip() for part in entry.partition("="))
            if not eq or not path:
                raise option_error("claim_headers", f"{entry[:80]!r} is not `Header-Name=claim`")
            if not _TOKEN.fullmatch(name):
                raise option_error("claim_headers", f"{name[:80]!r} is not a header name")
            low = name.lower()
            if low in BUILT_IN:
                raise option_error("claim_headers", f"{name} is one of the identity headers authsvc "
                                   "sends itself")
            if low in _RESERVED:
                raise option_error("claim_headers", f"{name} is a hop-by-hop or response header")
            if low in seen:
                raise option_error("claim_headers", f"{name} is mapped twice")
            seen.add(low)
        return [f"{n.strip()}={p.strip()}" for n, _, p in (e.partition("=") for e in value)]

    @property
    def claim_header_map(self) -> tuple[tuple[str, str], ...]:
        """(header name, claim path) pairs of `claim_headers`."""
        return tuple((n, p) for n, _, p in (e.partition("=") for e in self.claim_headers))

    @property
    def kept_claims(self) -> tuple[str, ...]:
        """The claim paths an Identity keeps for `claim_headers` (providers/claims.py)."""
        return tuple(dict.fromkeys(p for _, p in self.claim_header_map))

    @model_validator(mode="after")
    def _header_checks(self) -> Self:
        self.check_headers()
        return self

    def check_headers(self) -> None:
        """Both set Authorization; oauth2-proxy would send a header no application can read."""
        if self.set_basic_auth and self.set_authorization_header:
            raise option_error("set_basic_auth", "and set_authorization_header both set Authorization; "
                               "choose one")
