"""The authorization request's extra parameters, and the name on the sign-in button."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from .loading import CommaList, option_error

#: parameters authsvc sets itself: never taken from configuration or the request (state,
#: PKCE and nonce protect the login, OIDC Core 3.1.2.1)
PROTECTED = frozenset({"response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
                       "code_challenge", "code_challenge_method", "request", "request_uri",
                       "response_mode"})
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class LoginParamOptions(BaseModel):
    """OIDC `prompt`, `acr_values`, legacy `approval_prompt`, other fixed or allowed parameters."""

    prompt: str = Field(
        "",
        description="OIDC `prompt` sent to the IdP (`select_account`, `consent`, `login`)",
    )
    approval_prompt: str = Field(
        "",
        description=(
            "legacy `approval_prompt` (sent only without `prompt`; oauth2-proxy's "
            "default `force` is not sent)"
        ),
    )
    acr_values: str = Field(
        "",
        description="OIDC `acr_values` (ask for MFA or another authentication level)",
    )
    auth_request_response_mode: Literal["", "query", "form_post"] = Field(
        "",
        description=(
            "OIDC `response_mode` asked for: `form_post` has the IdP POST the code to "
            "`/oauth2/callback` (needs `cookie_secure`; the login cookie is then "
            "`SameSite=None`); `\"\"` sends none (the code comes in the query)"
        ),
    )
    resource: str = Field(
        "",
        description=(
            "RFC 8707 `resource` sent on the authorization and token requests "
            "(Azure AD v1 / AD FS: the API the access token is for)"
        ),
    )
    login_url_parameters: CommaList = Field(
        default_factory=list,
        description="fixed extra authorization request parameters, `name=value` (`organization=acme`)",
    )
    login_url_parameters_allowed: CommaList = Field(
        default_factory=list,
        description=(
            "parameters `/oauth2/start` passes on from its own query, `name=<regex of "
            "allowed values>` (`login_hint=[a-z.]+@example\\.com`); never state, nonce, "
            "PKCE, client or scope"
        ),
    )

    @field_validator("prompt", "approval_prompt", "acr_values", "resource")
    @classmethod
    def _login_text(cls, value: str, info: ValidationInfo) -> str:
        if _CONTROL.search(value) or len(value) > 200:
            raise option_error(str(info.field_name), "must be one line of at most 200 characters")
        return value.strip()

    @field_validator("login_url_parameters", "login_url_parameters_allowed")
    @classmethod
    def _login_params(cls, value: list[str], info: ValidationInfo) -> list[str]:
        option = str(info.field_name)
        for entry in value:
            name, eq, rest = entry.partition("=")
            if not eq or not _NAME.fullmatch(name):
                raise option_error(option, f"entry {entry!r} is not name=value")
            if name in PROTECTED:
                raise option_error(option, f"{name} is set by authsvc itself and cannot be configured")
            if option.endswith("_allowed"):
                try:
                    re.compile(rest)
                except re.error as exc:
                    raise option_error(option, f"entry {entry!r}: not a valid regex: {exc}") from None
        return value

    def login_params(self) -> dict[str, str]:
        """The fixed parameters added to every authorization request (oauth2-proxy's order)."""
        out: dict[str, str] = {}
        if self.resource:
            out["resource"] = self.resource
        if self.acr_values:
            out["acr_values"] = self.acr_values
        if self.prompt:
            out["prompt"] = self.prompt
        elif self.approval_prompt:
            out["approval_prompt"] = self.approval_prompt
        for entry in self.login_url_parameters:
            name, _, value = entry.partition("=")
            out[name] = value
        return out

    @property
    def form_post(self) -> bool:
        """Whether the IdP POSTs its answer to the callback (OAuth 2.0 Form Post Response Mode)."""
        return self.auth_request_response_mode == "form_post"

    def allowed_params(self) -> dict[str, re.Pattern[str]]:
        """name -> the values /oauth2/start may pass on for it (full match)."""
        out: dict[str, re.Pattern[str]] = {}
        for entry in self.login_url_parameters_allowed:
            name, _, pattern = entry.partition("=")
            out[name] = re.compile(pattern)
        return out
