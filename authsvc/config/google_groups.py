"""Google Workspace groups through the Admin SDK Directory API (oauth2-proxy's google_* options)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Self

from pydantic import BaseModel, Field, field_validator, model_validator

from .loading import CommaList, option_error, split_list


class GoogleGroupsOptions(BaseModel):
    """Only members of one of `google_groups` sign in; the groups they are in become theirs.

    The Directory API is asked as `google_admin_email` (domain-wide delegation), with a service
    account key file, or with the platform's credentials (GKE Workload Identity) signing for
    `google_target_principal` through the IAM Credentials API.
    """

    google_groups: CommaList = Field(default_factory=list)
    google_admin_email: str = ""
    google_service_account_json: str = ""
    google_use_application_default_credentials: bool = False
    google_target_principal: str = ""

    @field_validator("google_groups", mode="before")
    @classmethod
    def _google_list(cls, value: object) -> object:
        return split_list(value)

    @model_validator(mode="after")
    def _google_groups(self) -> Self:
        if not self.google_groups:
            return self
        if not self.google_admin_email or "@" not in self.google_admin_email:
            raise option_error("google_admin_email", "is required with google_groups (a Workspace "
                               "admin the service account may act for)")
        if self.google_use_application_default_credentials == bool(self.google_service_account_json):
            raise option_error("google_service_account_json", "or google_use_application_default_"
                               "credentials (exactly one) is required with google_groups")
        if self.google_service_account_json:
            try:
                key = json.loads(Path(self.google_service_account_json).read_text())
            except (OSError, ValueError) as exc:
                raise option_error("google_service_account_json", "cannot be read as JSON: "
                                   f"{getattr(exc, 'strerror', None) or 'not JSON'}") from None
            if not isinstance(key, dict) or not all(
                isinstance(key.get(k), str) for k in ("client_email", "private_key")
            ):
                raise option_error("google_service_account_json", "is not a service account key "
                                   "(client_email and private_key are missing)")
        return self
