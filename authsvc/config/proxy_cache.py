"""The decision cache in nginx: where to purge a session's cached 2xx (examples/nginx/README.md)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from .loading import CommaList, http_url, split_list


class ProxyCacheOptions(BaseModel):
    """nginx `proxy_cache` of 2xx checks, revoked with ngx_cache_purge (docs/performance.md)."""

    nginx_cache_purge_url: CommaList = Field(
        default_factory=list,
        description=(
            "purge locations of nginx's decision cache, one per nginx replica "
            "(`http://127.0.0.1:8081/purge,...`): sign-out and refresh purge the session's "
            "cached 2xx there before they answer"
        ),
    )

    @field_validator("nginx_cache_purge_url", mode="before")
    @classmethod
    def _purge_list(cls, value: object) -> object:
        return split_list(value)

    @field_validator("nginx_cache_purge_url")
    @classmethod
    def _purge_urls(cls, value: list[str]) -> list[str]:
        return [http_url(url) for url in value]
