"""Sign-out at the IdP too: OpenID Connect RP-Initiated Logout 1.0 (`oidc_end_session`)."""

from __future__ import annotations

import contextlib
import logging
from urllib.parse import quote

import httpx

from ..context import Context
from ..errors import AuthsvcError, ProviderUnavailable
from .redirects import absolute_url

log = logging.getLogger("authsvc.logout")

#: seconds the backend logout call may take; sign-out goes on either way
BACKEND_LOGOUT_TIMEOUT = 5.0


async def backend_logout(s: Context, value: str | None) -> None:
    """oauth2-proxy's backend_logout_url: a server-side GET before the session is forgotten,
    `{id_token}` replaced by the session's ID token (URL-encoded). A failure is logged only."""
    url = s.settings.backend_logout_url
    if not url or not value:
        return
    id_token = ""
    with contextlib.suppress(AuthsvcError):
        id_token = (await s.store.load(value)).tokens.id_token
    target = url.replace("{id_token}", quote(id_token, safe=""))
    try:
        # only the status matters: the body is never read (it could be of any size)
        async with s.http.stream("GET", target, timeout=BACKEND_LOGOUT_TIMEOUT) as response:
            status = response.status_code
    except httpx.HTTPError as exc:
        log.warning("sign-out: backend_logout_url failed: %s", type(exc).__name__)
        return
    if status != 200:
        log.warning("sign-out: backend_logout_url answered HTTP %d", status)


async def end_session_target(
    s: Context, value: str | None, rd: str, scheme: str, host: str
) -> str:
    """Where /oauth2/sign_out sends the browser: `rd` (already validated), or first the IdP's
    end_session_endpoint with `id_token_hint` and an absolute `post_logout_redirect_uri`.

    Call it before the session is cleared: the ID token comes from the session.
    """
    if not s.settings.oidc_end_session:
        return rd
    id_token = ""
    if value:
        with contextlib.suppress(AuthsvcError):  # no session, or the store is down: no hint
            id_token = (await s.store.load(value)).tokens.id_token
    # RP-Initiated Logout §2: an absolute URL, registered at the IdP; rd was validated already
    back = s.settings.oidc_post_logout_redirect_url or absolute_url(scheme, host, rd)
    try:
        url = await s.provider.end_session_url(id_token, back)
    except ProviderUnavailable as exc:
        log.warning("sign-out: IdP metadata unavailable (%s); signed out here only", exc.reason)
        return rd
    if url is None:
        log.warning("sign-out: the IdP has no end_session_endpoint; signed out here only")
        return rd
    return url
