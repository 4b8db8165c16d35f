"""Bitbucket Cloud's restrictions (oauth2-proxy's bitbucket_team and bitbucket_repository)."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, field_validator

#: workspace ids and repository slugs: letters, digits, `-`, `_`, `.` (nothing that could leave
#: the quoted string of the API's `q` filter)
_SLUG = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}"
_WORKSPACE = re.compile(_SLUG)
_REPOSITORY = re.compile(f"{_SLUG}/{_SLUG}")


class BitbucketOptions(BaseModel):
    """Who may sign in with `provider = "bitbucket"`."""

    bitbucket_team: str = Field(
        "",
        description=(
            "(`bitbucket`) only members of this workspace (oauth2-proxy's \"team\": Bitbucket "
            "replaced teams with workspaces); adds the `team` scope"
        ),
    )
    bitbucket_repository: str = Field(
        "",
        description=(
            "(`bitbucket`) only users with write access to `workspace/repository`; adds the "
            "`repository` scope"
        ),
    )

    @field_validator("bitbucket_team")
    @classmethod
    def _bitbucket_team(cls, value: str) -> str:
        if value and not _WORKSPACE.fullmatch(value):
            raise ValueError("is not a Bitbucket workspace id (letters, digits, '-', '_', '.')")
        return value

    @field_validator("bitbucket_repository")
    @classmethod
    def _bitbucket_repository(cls, value: str) -> str:
        if value and not _REPOSITORY.fullmatch(value):
            raise ValueError("is not workspace/repository (e.g. acme/website)")
        return value
