"""Extra authorization request parameters: fixed ones, and allow-listed ones from /oauth2/start.

oauth2-proxy's `prompt`, `acr_values`, `approval_prompt` and alpha `loginURLParameters`
(config/login_params.py). The parameters authsvc sets itself (state, nonce, PKCE, client,
redirect URI, scope) are never replaced: they are what makes the login safe (OIDC Core 3.1.2.1).
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from ..config.login_params import PROTECTED, LoginParamOptions

#: longest value taken from the /oauth2/start query for an allowed parameter
_MAX_VALUE = 256


def with_login_params(url: str, settings: LoginParamOptions, query: Mapping[str, str]) -> str:
    """`url` (the provider's authorization URL) with the configured and allowed parameters."""
    params = settings.login_params()
    for name, allowed in settings.allowed_params().items():
        value = query.get(name)
        if value is not None and len(value) <= _MAX_VALUE and allowed.fullmatch(value):
            params[name] = value
    params = {k: v for k, v in params.items() if k not in PROTECTED}
    if settings.auth_request_response_mode:  # protected: form_post needs its cookie (flows.py)
        params["response_mode"] = settings.auth_request_response_mode
    if not params:
        return url
    return str(httpx.URL(url).copy_merge_params(params))
