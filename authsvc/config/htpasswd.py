"""Users from an htpasswd file, checked on `Authorization: Basic` (oauth2-proxy's htpasswd_file)."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, Field, model_validator

from .loading import CommaList, option_error

#: what oauth2-proxy accepts: bcrypt (htpasswd -B) and SHA-1 ({SHA}, htpasswd -s)
HASH_PREFIXES = ("$2a$", "$2b$", "$2y$", "{SHA}")


def parse_htpasswd(text: str) -> dict[str, str]:
    """user -> hash; ValueError names the first line whose hash is not bcrypt or {SHA}."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user:
            raise ValueError(f"line {number} is not user:hash")
        if not hashed.startswith(HASH_PREFIXES):
            raise ValueError(f"line {number} ({user}): only bcrypt (htpasswd -B) and {{SHA}} hashes "
                             "are supported, as in oauth2-proxy")
        out[user] = hashed
    return out


class HtpasswdOptions(BaseModel):
    """The file and the groups its users get (for allowed_groups and X-Auth-Request-Groups)."""

    htpasswd_file: str = Field(
        "",
        description=(
            "users who may pass with `Authorization: Basic` (bcrypt `htpasswd -B` or "
            "`{SHA}` entries), for machines or legacy clients; re-read within a second "
            "of a change"
        ),
    )
    htpasswd_user_groups: CommaList = Field(
        default_factory=list,
        description="the groups htpasswd users get (for `allowed_groups` and `X-Auth-Request-Groups`)",
    )

    @model_validator(mode="after")
    def _htpasswd_file(self) -> Self:
        if self.htpasswd_file:
            try:
                parse_htpasswd(Path(self.htpasswd_file).read_text(encoding="utf-8"))
            except OSError as exc:
                raise option_error("htpasswd_file", f"cannot be read: {exc.strerror}") from None
            except (ValueError, UnicodeDecodeError) as exc:
                raise option_error("htpasswd_file", str(exc)) from None
        return self
