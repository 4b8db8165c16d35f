"""One way to call an identity provider, and one error policy for what it answers.

    the request fails (connect, reset, timeout)  -> ProviderUnavailable   try again later
    5xx, 429                                     -> ProviderUnavailable   with `retry_after`
                                                                          (Retry-After, seconds)
    another status outside `ok`                  -> ProviderRefused       a TokenError, with the
                                                                          IdP's OAuth `error` (RFC
                                                                          6749 §5.2) when it sent one
    a body that is not JSON (or not an object)   -> TokenError            json_object()
    a body over MAX_BODY (decoded), or slower    -> ProviderUnavailable   send(): read no further
    than HTTP_TIMEOUT in all

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

import logging
import zlib
from typing import Any

import anyio
import httpx

from ..errors import ProviderRefused, ProviderUnavailable, TokenError
from ..jsonin import response_json

#: seconds every HTTP call to the IdP may take (connect, each read, the whole pool wait)
HTTP_TIMEOUT = 10.0
#: a Retry-After longer than this is taken as this (an IdP asking for a day is asked sooner)
MAX_RETRY_AFTER = 300.0
#: the largest answer read from the IdP, after Content-Encoding is undone (a gzip bomb is cut
#: at the same point). The largest expected: Graph's getMemberObjects, up to 11 000 group ids
#: at ~39 bytes (~430 KB); discovery and JWKS are a few KB, GitHub's pages of 100 teams ~300 KB
MAX_BODY = 1024 * 1024
#: what is asked for and decoded here, never more than the cap at a time (httpx decodes each
#: received chunk whole: 64 KiB of gzip, ~1000:1, was ~64 MB before any cap could look)
ACCEPT_ENCODING = "gzip, deflate"
#: zlib's window bits that read a gzip or a zlib stream (RFC 9110 §8.4.1: gzip, deflate)
_GZIP_OR_ZLIB = 32 + zlib.MAX_WBITS

log = logging.getLogger("authsvc.idp")


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
    `check`), its body read whole but no further than MAX_BODY bytes and HTTP_TIMEOUT seconds
    (httpx would read any length, at any pace); ProviderUnavailable when there is none."""
    try:
        request = http.build_request(method, url, timeout=HTTP_TIMEOUT, **kwargs)
        request.headers["Accept-Encoding"] = ACCEPT_ENCODING
        response = await http.send(request, stream=True)
    except httpx.HTTPError as exc:
        # the exception's class, never its text, which may hold a URL with a query
        raise ProviderUnavailable(f"{what}: {type(exc).__name__}") from None
    try:
        with anyio.fail_after(HTTP_TIMEOUT):
            body = await _bounded_body(response, what)
    except TimeoutError:
        raise ProviderUnavailable(f"{what}: the answer took over {HTTP_TIMEOUT:g} s") from None
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"{what}: {type(exc).__name__}") from None
    finally:
        await response.aclose()
    # the answer as httpx would have read it: the body decoded, so no Content-Encoding
    headers = [(k, v) for k, v in response.headers.raw
               if k.lower() not in (b"content-encoding", b"content-length", b"transfer-encoding")]
    return httpx.Response(response.status_code, headers=headers, content=body, request=request,
                          extensions=response.extensions)


async def _bounded_body(response: httpx.Response, what: str) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise _too_large(what, f"Content-Length {int(declared)}")
    if response.is_stream_consumed:  # a transport that hands over a body read already (tests')
        if len(response.content) > MAX_BODY:
            raise _too_large(what, f"over {MAX_BODY} bytes read")
        return response.content
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        decoder: Any = zlib.decompressobj(_GZIP_OR_ZLIB)
    elif encoding in ("", "identity"):
        decoder = None
    else:  # not asked for (ACCEPT_ENCODING): nothing to decode it within the cap with
        raise ProviderUnavailable(f"{what}: unsupported Content-Encoding {encoding[:20]!r}")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_raw():
            if decoder is not None:
                # at most one byte past the cap: more input left over means over the cap
                chunk = decoder.decompress(chunk, MAX_BODY + 1 - size)
            size += len(chunk)
            if size > MAX_BODY:
                raise _too_large(what, f"over {MAX_BODY} bytes read")
            chunks.append(chunk)
        if decoder is not None:
            chunks.append(decoder.flush())
    except zlib.error:
        raise ProviderUnavailable(f"{what}: the answer's {encoding} encoding is broken") from None
    return b"".join(chunks)


def _too_large(what: str, seen: str) -> ProviderUnavailable:
    # the size only: never a byte of the body, which may hold a token
    log.warning("%s: the answer is larger than %d bytes (%s); not read", what, MAX_BODY, seen)
    return ProviderUnavailable(f"{what}: the answer is larger than {MAX_BODY} bytes")


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
