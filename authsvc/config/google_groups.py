"""Google Workspace groups and organization ids through the Admin SDK Directory API
(oauth2-proxy's google_* options)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator

from .loading import CommaList, Problems


class GoogleGroupsOptions(BaseModel):
    """Only members of one of `google_groups` sign in; the groups they are in become theirs.
    With `google_use_organization_id` the user's organization id is their preferred_username.

    The Directory API is asked as `google_admin_email` (domain-wide delegation), with a service
    account key file, or with the platform's credentials (GKE Workload Identity) signing for
    `google_target_principal` through the IAM Credentials API.
    """

    google_groups: CommaList = Field(
        default_factory=list,
        description=(
            "(`google`) only members of one of these Workspace groups (asked of the "
            "Admin SDK Directory API); the groups they are in become theirs"
        ),
    )
    google_admin_email: str = Field(
        "",
        description=(
            "(`google`) the Workspace admin the service account acts for (domain-wide "
            "delegation); required with `google_groups`"
        ),
    )
    google_service_account_json: str = Field(
        "",
        description="(`google`) the service account key file",
    )
    google_use_application_default_credentials: bool = Field(
        False,
        description=(
            "(`google`) no key file: the platform's credentials (GKE Workload Identity) "
            "sign through the IAM Credentials API"
        ),
    )
    google_target_principal: str = Field(
        "",
        description="(`google`) the service account that signs, with application default credentials",
        json_schema_extra={"default_note": "(the workload's own)"},
    )

    google_use_organization_id: bool = Field(
        False,
        description=(
            "(`google`) the user's organization id (the Directory API user's `externalIds` entry "
            "of type `organization`) becomes the preferred username "
            "(`X-Auth-Request-Preferred-Username`); a user without one cannot sign in. Needs "
            "`google_admin_email` and credentials as `google_groups` does"
        ),
    )
    google_admin_api_user_scope: Literal["", "readonly", "user", "cloud"] = Field(
        "",
        description=(
            "(`google`) the scope asked for users.get with `google_use_organization_id`: "
            "`admin.directory.user.readonly`, `user` for `admin.directory.user`, `cloud` for "
            "`cloud-platform` (grant it to the service account's domain-wide delegation)"
        ),
        json_schema_extra={"default_note": "(read-only)"},
    )

    @model_validator(mode="after")
    def _google_groups(self) -> Self:
        if not self.google_groups and not self.google_use_organization_id:
            return self
        # both ask the Directory API as the admin, with the same credentials
        needs = "google_groups" if self.google_groups else "google_use_organization_id"
        problems = Problems()
        if not self.google_admin_email or "@" not in self.google_admin_email:
            problems.add("google_admin_email", f"is required with {needs} (a Workspace "
                         "admin the service account may act for)")
        if self.google_use_application_default_credentials == bool(self.google_service_account_json):
            problems.add("google_service_account_json", "or google_use_application_default_"
                         f"credentials (exactly one) is required with {needs}")
        if self.google_service_account_json:
            try:
                key = json.loads(Path(self.google_service_account_json).read_text())
            except (OSError, ValueError) as exc:
                problems.add("google_service_account_json", "cannot be read as JSON: "
                             f"{getattr(exc, 'strerror', None) or 'not JSON'}")
            else:
                if not isinstance(key, dict) or not all(
                    isinstance(key.get(k), str) for k in ("client_email", "private_key")
                ):
                    problems.add("google_service_account_json", "is not a service account key "
                                 "(client_email and private_key are missing)")
        problems.raise_any()
        return self
