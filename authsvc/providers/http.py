"""One way to call an identity provider, and one error policy for what it answers.

    the request fails (connect, reset, timeout)  -> ProviderUnavailable   try again later
    5xx, 429                                     -> ProviderUnavailable   with `retry_after`
                                                                          (Retry-After, seconds)
    another status outside `ok`                  -> ProviderRefused       a TokenError, with the
                                                                          IdP's OAuth `error` (RFC
                                                                          6749 §5.2) when it sent one
    a body that is not JSON (or not an object)   -> TokenError            json_object()

The status decides, not who asks: a 429 means "come back later" from a token endpoint, userinfo,
GitHub's, GitLab's or Graph's API alike (it was a refusal at userinfo and a retry elsewhere).
A call that carries no user's credential (discovery, JWKS, a service account's: `service=True`)
is never a refusal of the user: what it is refused is ours to fix, so every failure is
unavailability (and fails closed).
Callers let through the statuses that mean something to them (`ok`, e.g. GitHub's 404 for
"not a collaborator") and add a hint to a 401, 403 or 404 (`hint`: the scope that may be
missing).
"""

from __future__ import annotations

from typing import Any

import httpx

from ..errors import ProviderRefused, ProviderUnavailable, TokenError
from ..jsonin import response_json

#: seconds every HTTP call to the IdP may take (connect, each read, the whole pool wait)
HTTP_TIMEOUT = 10.0
#: a Retry-After longer than this is taken as this (an IdP asking for a day is asked sooner)
MAX_RETRY_AFTER = 300.0


async def call(
    http: httpx.AsyncClient,
    method: str,
    url: str | httpx.URL,
    *,
    what: str,
    ok: tuple[int, ...] = (200,),
    service: bool = False,
    hint: str = "",
    **kwargs: Any,
) -> httpx.Response:
    """One request to the IdP (`what` names it in errors and logs, never the token); the
    answer when its status is in `ok`, else the error the module docstring says."""
    response = await send(http, method, url, what=what, **kwargs)
    return check(response, what, ok=ok, service=service, hint=hint)


async def send(
    http: httpx.AsyncClient, method: str, url: str | httpx.URL, *, what: str, **kwargs: Any
) -> httpx.Response:
    """The IdP's answer, whatever its status (for a caller with a rule of its own before
    `check`); ProviderUnavailable when there is none."""
    try:
        return await http.request(method, url, timeout=HTTP_TIMEOUT, **kwargs)
    except httpx.HTTPError as exc:
        # the exception's class, never its text, which may hold a URL with a query
        raise ProviderUnavailable(f"{what}: {type(exc).__name__}") from None


def check(
    response: httpx.Response,
    what: str,
    *,
    ok: tuple[int, ...] = (200,),
    service: bool = False,
    hint: str = "",
) -> httpx.Response:
    """`response` when its status is in `ok`; else ProviderUnavailable or ProviderRefused."""
    status = response.status_code
    if status in ok:
        return response
    if status >= 500 or status == 429 or service:
        raise ProviderUnavailable(f"{what}: HTTP {status}", retry_after=retry_after(response))
    error = oauth_error(response)
    detail = f" {error}" if error else ""
    if status not in (401, 403, 404):  # the hint is about what the token may see
        hint = ""
    raise ProviderRefused(f"{what} refused: HTTP {status}{detail}{hint}", error=error, http_status=status)


def retry_after(response: httpx.Response) -> float | None:
    """The answer's Retry-After in seconds (RFC 9110 §10.2.3, delay-seconds form), if any."""
    value = response.headers.get("retry-after", "").strip()
    if not value.isdigit() or len(value) > 9:
        return None
    return min(float(value), MAX_RETRY_AFTER)


def oauth_error(response: httpx.Response) -> str:
    """The `error` code of an OAuth error answer (RFC 6749 §5.2), at most 64 characters."""
    try:
        body = response_json(response)
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return error[:64] if isinstance(error, str) else ""


def json_value(response: httpx.Response, what: str, *, service: bool = False) -> Any:
    """The JSON body; TokenError (ProviderUnavailable for a `service` call) when it is not
    JSON (e.g. a signed application/jwt userinfo answer, which is not supported)."""
    try:
        return response_json(response)  # too deep a nesting is bad JSON too, not a crash
    except ValueError:
        error = ProviderUnavailable if service else TokenError
        raise error(f"{what}: the answer is not JSON") from None


def json_object(response: httpx.Response, what: str, *, service: bool = False) -> dict[str, Any]:
    """The JSON body, which must be an object."""
    body = json_value(response, what, service=service)
    if not isinstance(body, dict):
        error = ProviderUnavailable if service else TokenError
        raise error(f"{what}: the answer is not a JSON object")
    return body
