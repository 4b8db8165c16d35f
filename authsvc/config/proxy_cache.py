"""The decision cache in nginx: where to purge a session's cached 2xx, and the secret of its key
(examples/nginx/README.md, "Caching the check")."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from .loading import CommaList, http_url, looks_like_placeholder, option_error

#: what may stand inside nginx's double-quoted string literal unchanged: no `$` (a variable),
#: quote, backslash, `;`, braces or space; base64 and base64url (generate-secret) fit
_NGINX_LITERAL = re.compile(r"[A-Za-z0-9+/=_.~-]+")
#: characters of the secret: nginx's set_hmac_sha256 keys with the literal's bytes
MIN_KEY_SECRET = 32


class ProxyCacheOptions(BaseModel):
    """nginx `proxy_cache` of 2xx checks, revoked with ngx_cache_purge (docs/performance.md)."""

    nginx_cache_purge_url: CommaList = Field(
        default_factory=list,
        description=(
            "purge locations of nginx's decision cache, one per nginx replica and cached auth "
            "location (`http://127.0.0.1:8081/purge?location=/oauth2/auth,...`): sign-out, "
            "refresh and back-channel logout purge the session's cached 2xx there before they "
            "answer; a 2xx may be cached only under an auth location named here"
        ),
    )
    nginx_cache_key_secret: SecretStr = Field(
        default=SecretStr(""),
        description=(
            "the key of nginx's decision cache is hex(HMAC-SHA256(this, session cookie)), "
            "computed by nginx (`set_hmac_sha256`) and by authsvc with the same string: required "
            "with `nginx_cache_purge_url`; at least 32 characters of base64/base64url "
            "(`authsvc generate-secret`), as it stands in nginx's config"
        ),
    )

    @field_validator("nginx_cache_purge_url")
    @classmethod
    def _purge_urls(cls, value: list[str]) -> list[str]:
        return [http_url(url) for url in value]

    @field_validator("nginx_cache_key_secret")
    @classmethod
    def _key_secret(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if not text:
            return value
        make = "make one with `authsvc generate-secret`"
        if looks_like_placeholder(text):
            raise ValueError(f"looks like a placeholder, not a secret; {make}")
        if not _NGINX_LITERAL.fullmatch(text):
            raise ValueError("may hold only A-Z a-z 0-9 + / = _ . ~ - (it stands in nginx's config as is)")
        if len(text) < MIN_KEY_SECRET:
            raise ValueError(f"must be at least {MIN_KEY_SECRET} characters; {make}")
        return value

    @model_validator(mode="after")
    def _key_with_purge(self) -> ProxyCacheOptions:
        # without it authsvc cannot name nginx's entry of a session: every purge would miss
        if self.nginx_cache_purge_url and not self.nginx_cache_key_secret.get_secret_value():
            raise option_error("nginx_cache_key_secret", "is required with nginx_cache_purge_url "
                               "(the same string as in nginx's set_hmac_sha256)")
        return self

    @property
    def cache_key_secret(self) -> bytes:
        """The HMAC key as nginx uses it: the literal's bytes."""
        return self.nginx_cache_key_secret.get_secret_value().encode("ascii")
