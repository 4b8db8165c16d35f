"""A provider's own login, without the app: login_url -> the fake IdP signs in -> redeem."""

from __future__ import annotations

from collections.abc import Callable

from authsvc.models import Identity, LoginState, Tokens
from authsvc.providers.base import Provider

from .app_driver import REDIRECT_URI

#: the login attempt every provider test redeems a code for
LOGIN = LoginState(state="state-1", nonce="nonce-1", code_verifier="v" * 43, rd="/",
                   created_at=1_700_000_000)


async def redeem_login(provider: Provider, authorize: Callable[[str], str]) -> tuple[Identity, Tokens]:
    """What `provider.redeem` makes of the code `authorize(login_url)` (the fake playing the user)."""
    code = authorize(await provider.login_url(LOGIN, REDIRECT_URI))
    return await provider.redeem(code, LOGIN, REDIRECT_URI)
