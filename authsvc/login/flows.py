"""The browser flows: /start, /callback, /sign_out, /sign_in, /userinfo.

The callback checks, in this order (DESIGN.md §1, authlib's order): the IdP's `error`, the login
state cookie (constant-time, single use), the code exchange with the PKCE verifier, the ID token
(inside the provider), the access rules; only then is a session written.
"""

from __future__ import annotations

import html
import logging
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from .. import cookies
from ..context import Context
from ..crypto import random_token
from ..errors import AuthsvcError, IdentityUnsendable, IdPLoginError, LoginError, LoginStateError
from ..models import Identity, LoginState, Session, Tokens
from ..web.metrics import outcome_of
from ..web.responses import NO_CACHE, add_cookies, error_page, redirect, refreshed_cookie
from .params import with_login_params
from .signout import backend_logout, end_session_target
from .state import LoginStates, SpentStates, choose_slot, over_budget

log = logging.getLogger("authsvc.login")


def _peer(request: Request) -> str | None:
    """The direct peer's IP (the proxy, when deployed as intended)."""
    return request.client.host if request.client else None


def _jar(request: Request) -> dict[str, str]:
    """The request's cookies, read as /oauth2/auth reads them (first value of a duplicated name
    wins), so sign-out clears the very session the checks were serving."""
    return cookies.parse_cookie_header(request.headers.get("cookie", ""))


class LoginFlows:
    """Handlers for the login endpoints; all state comes from `Context`."""

    def __init__(self, services: Context) -> None:
        self.s = services
        settings = services.settings
        self.states = LoginStates(
            services.login_sealer, settings.cookie_name, settings.cookie_csrf_expire, services.clock
        )
        #: states whose code exchange began: a replayed callback is refused (per process)
        self._spent = SpentStates(settings.cookie_csrf_expire)
        # keep only the tokens a feature will use: the ID token repeats every claim (a 200-group
        # session doubles in size with it), and a token not kept cannot leak from a cookie
        refreshing = settings.cookie_refresh > 0
        self._keep_refresh = refreshing
        self._keep_access = refreshing or settings.pass_access_token
        self._keep_id = (refreshing or settings.set_authorization_header or settings.oidc_end_session
                         or bool(settings.backend_logout_url))

    # --- helpers -----------------------------------------------------------------------
    def _origin(self, request: Request) -> tuple[str, str]:
        """(scheme, host) the browser used (check/forwarded.py)."""
        return self.s.forwarded.public_origin(request.url.scheme, request.headers, _peer(request))

    def _redirect_uri(self, request: Request) -> str:
        settings = self.s.settings
        if settings.redirect_url:
            return settings.redirect_url
        scheme, host = self._origin(request)
        return f"{scheme}://{host}{settings.proxy_prefix}/callback"

    def _safe_rd(self, request: Request, rd: str | None) -> str:
        scheme, host = self._origin(request)
        return self.s.redirects.check(rd, host, scheme) or "/"

    def _requested_rd(self, request: Request) -> str:
        rd = request.query_params.get("rd")
        if not rd and self.s.forwarded.is_trusted(_peer(request)):
            rd = request.headers.get("x-auth-request-redirect")
        return self._safe_rd(request, rd)

    def start_url(self, request: Request, rd: str) -> str:
        """Where the sign-in button points."""
        return f"{self.s.settings.proxy_prefix}/start?rd={quote(rd, safe='')}"

    # --- endpoints ---------------------------------------------------------------------
    async def start(self, request: Request) -> Response:
        """302 to the IdP, with the login state in a cookie of one of a few slots (state.py)."""
        rd = self._requested_rd(request)
        mode = request.headers.get("sec-fetch-mode")
        if mode and mode != "navigate":
            # Fetch Metadata: an <img>, a script or fetch() cannot sign anyone in, but each
            # start would leave a login cookie behind (W3C Fetch Metadata, resource isolation)
            return error_page(403, "Sign-in needs a page", "A sign-in starts from a page you open.",
                              self.start_url(request, rd))  # fmt: skip
        clock = self.s.clock()
        jar = _jar(request)
        limit = self.s.settings.cookie_csrf_per_request_limit
        held = self.states.held(jar, limit)
        slot = choose_slot(held, limit, self.s.random(1)[0])
        login = LoginState(
            state=f"{random_token(32, self.s.random)}.{slot}",  # the slot names its cookie
            nonce=random_token(32, self.s.random),
            code_verifier=random_token(48, self.s.random),
            rd=rd,
            created_at=int(clock),
        )
        name, sealed = self.states.seal(login, clock)
        _, host = self._origin(request)
        cs = self.s.cookie_settings
        # expired now: the slots that would take the header past the budget, and any other
        # login cookie (older per-state names, or slots beyond a since lowered limit)
        dropped = set(over_budget(held, slot, len(name) + len(sealed) + 3))
        keep = {cookies.login_slot_name(cs.name, i) for i in held if i not in dropped} | {name}
        stale = [n for n in jar if cookies.is_login_cookie(cs.name, n) and n not in keep]
        set_cookies = [cookies.login_set_cookie(name, sealed, cs, host)]
        set_cookies += [cookies.login_clear_cookie(n, cs, host) for n in stale]
        url = await self.s.provider.login_url(login, self._redirect_uri(request))
        return redirect(with_login_params(url, self.s.settings, request.query_params), set_cookies)

    async def callback(self, request: Request) -> Response:
        """Finish the login: verify everything, write the session, go back to `rd`."""
        params = request.query_params
        _, host = self._origin(request)
        state = params.get("state", "")
        name = self.states.name(state)
        clear_login = [cookies.login_clear_cookie(name, self.s.cookie_settings, host)] if name else []
        login: LoginState | None = None
        try:
            if params.get("error"):
                raise IdPLoginError(f"identity provider answered error={params['error'][:64]}")
            login = self.states.open(_jar(request), state)
            # single use: a replayed callback finds the state spent (per replica, bounded)
            if self._spent.spent(state, self.s.clock()):
                raise LoginStateError("state already used")
            code = params.get("code", "")
            if not code:
                raise LoginError("missing code")
            # spent only now that the code is exchanged, and with no await since the check
            self._spent.spend(login.state, self.s.clock())
            identity, tokens = await self.s.provider.redeem(code, login, self._redirect_uri(request))
            decision = self.s.access.decide(identity)
            if not decision.allowed:
                log.warning("login denied: user=%s reason=%s", identity.user, decision.reason,
                            extra={"user": identity.user, "outcome": "forbidden", "reason": decision.reason})
                self.s.metrics.record_login("denied")
                page = error_page(403, "Access denied", "You are signed in, but not allowed here.")
                return add_cookies(page, clear_login)
            session = self._new_session(identity, tokens)
            refusal = self.s.headers.refusal(session)
            if refusal:
                # no header could say who this is (check/headers.py): a session would only get 403s
                raise IdentityUnsendable(f"identity cannot be sent as headers: {refusal}")
            value = await self.s.store.save(session, None)
            present = list(_jar(request))
            set_cookies = cookies.session_set_cookies(value, self.s.cookie_settings, host, present)
        except AuthsvcError as exc:
            log.warning("login failed: %s (status %d)", exc.reason, exc.status,
                        extra={"outcome": outcome_of(exc.status), "reason": exc.reason, "code": exc.code})
            self.s.metrics.record_login("failed")
            self.s.metrics.record_error(exc)
            retry = self.start_url(request, login.rd if login else "/")
            page = error_page(exc.status, "Sign-in failed", exc.public, retry, exc.code)
            return add_cookies(page, clear_login)
        log.info("login: user=%s email=%s", identity.user, identity.email,
                 extra={"user": identity.user, "outcome": "allowed"})
        self.s.metrics.record_login("success")
        return redirect(login.rd, clear_login + set_cookies)

    def _new_session(self, identity: Identity, tokens: Tokens) -> Session:
        tokens = Tokens(
            access_token=tokens.access_token if self._keep_access else "",
            id_token=tokens.id_token if self._keep_id else "",
            refresh_token=tokens.refresh_token if self._keep_refresh else "",
            expires_at=tokens.expires_at,
        )
        now = int(self.s.clock())
        expire = int(self.s.settings.cookie_expire)
        return Session(identity, tokens, created_at=now, expires_at=now + expire if expire else 0,
                       refreshed_at=now)

    async def sign_out(self, request: Request) -> Response:
        """Forget the session here and in its store; go to `rd` (validated)."""
        rd = self._requested_rd(request)
        scheme, host = self._origin(request)
        name = self.s.settings.cookie_name
        jar = _jar(request)
        value = cookies.read_chunked(jar, name)
        # before clearing: the IdP's logout wants the session's ID token as a hint
        target = await end_session_target(self.s, value, rd, scheme, host)
        await backend_logout(self.s, value)
        if value:
            try:
                await self.s.store.clear(value)
            except AuthsvcError as exc:
                log.warning("sign-out: could not clear the stored session: %s", exc.reason)
                self.s.metrics.record_error(exc)
        clear = cookies.clear_set_cookies(name, list(jar) or [name], self.s.cookie_settings, host)
        return redirect(target, clear)

    async def sign_in(self, request: Request) -> Response:
        """The sign-in page (or straight to the IdP with skip_provider_button)."""
        rd = self._requested_rd(request)
        if self.s.settings.skip_provider_button:
            return redirect(self.start_url(request, rd))
        start = html.escape(self.start_url(request, rd))
        body = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Sign in</title></head>"
            "<body style='font-family:system-ui,sans-serif;max-width:30rem;margin:4rem auto'>"
            f"<h1>Sign in</h1><p><a href=\"{start}\" id='sign-in'>Sign in with "
            f"{html.escape(self.s.settings.provider_display_name or self.s.provider.name)}</a></p>"
            "</body></html>"
        )
        return HTMLResponse(body, headers=NO_CACHE)

    async def userinfo(self, request: Request) -> Response:
        """The caller's identity as JSON; 401 without a session."""
        _, host = self._origin(request)
        loaded = await self.s.loader.load(request.headers.get("cookie", ""))
        session = loaded.session
        if session is None:
            return JSONResponse({"error": "unauthorized"}, 401, headers=NO_CACHE)
        ident = session.identity
        body: dict[str, object] = {"user": ident.user, "email": ident.email}
        if ident.groups:
            body["groups"] = list(ident.groups)
        if ident.preferred_username:
            body["preferredUsername"] = ident.preferred_username
        response = JSONResponse(body, headers=NO_CACHE)
        set_cookie = refreshed_cookie(
            loaded.new_value, session, self.s.cookie_settings, host, int(self.s.clock())
        )
        return add_cookies(response, [set_cookie] if set_cookie else [])
