"""Sign-out at the IdP too: OpenID Connect RP-Initiated Logout 1.0 (`oidc_end_session`)."""

from __future__ import annotations

import contextlib
import logging

from ..context import Context
from ..errors import AuthsvcError, ProviderUnavailable
from .redirects import absolute_url

log = logging.getLogger("authsvc.logout")


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
