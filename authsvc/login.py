"""The browser flows: /start, /callback, /sign_out, /sign_in, /userinfo.

The callback checks, in this order (DESIGN.md §1, authlib's order): the IdP's `error`, the login
state cookie (constant-time, single use), the response's `iss` (RFC 9207), the code exchange with
the PKCE verifier, the ID token (inside the provider), the access rules; only then is a session
written.
"""

from __future__ import annotations

import hmac
import html
import json
import logging
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from . import cookies
from .crypto import random_token
from .errors import AuthsvcError, InvalidSession, LoginError
from .logout import end_session_target
from .metrics import outcome_of
from .models import Identity, LoginState, Session, Tokens
from .services import Services

log = logging.getLogger("authsvc.login")

NO_CACHE = {
    "Cache-Control": "no-cache, no-store, must-revalidate, max-age=0",
    "Expires": "Thu, 01 Jan 1970 00:00:00 GMT",
    "X-Accel-Expires": "0",
}


def add_cookies(response: Response, set_cookies: list[str]) -> Response:
    """Attach Set-Cookie header values to a response."""
    for value in set_cookies:
        response.raw_headers.append((b"set-cookie", value.encode("latin-1")))
    return response


def redirect(location: str, set_cookies: list[str] | None = None) -> Response:
    """A 302 that no cache keeps."""
    response = RedirectResponse(location, 302, headers=NO_CACHE)
    return add_cookies(response, set_cookies or [])


def error_page(
    status: int, title: str, detail: str, retry: str = "", retry_label: str = "Sign in again"
) -> Response:
    """A small HTML error page; `detail` is user-safe text, never a token."""
    link = f'<p><a href="{html.escape(retry)}">{html.escape(retry_label)}</a></p>' if retry else ""
    body = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(detail)}</p>{link}"
        "</body></html>"
    )
    return HTMLResponse(body, status, headers=NO_CACHE)


def _jar(request: Request) -> dict[str, str]:
    """The request's cookies, read as /oauth2/auth reads them (first value of a duplicated name
    wins), so sign-out clears the very session the checks were serving."""
    return cookies.parse_cookie_header(request.headers.get("cookie", ""))


class LoginFlows:
    """Handlers for the login endpoints; all state comes from `Services`."""

    def __init__(self, services: Services) -> None:
        self.s = services
        self._used_states: dict[str, float] = {}
        settings = services.settings
        # keep only the tokens a feature will use: the ID token repeats every claim (a 200-group
        # session doubles in size with it), and a token not kept cannot leak from a cookie
        refreshing = settings.cookie_refresh > 0
        self._keep_refresh = refreshing
        self._keep_access = refreshing or settings.pass_access_token
        self._keep_id = refreshing or settings.set_authorization_header or settings.oidc_end_session

    # --- helpers -----------------------------------------------------------------------
    def _redirect_uri(self, request: Request) -> str:
        settings = self.s.settings
        if settings.redirect_url:
            return settings.redirect_url
        scheme, host = self.s.public_origin(request)
        return f"{scheme}://{host}{settings.proxy_prefix}/callback"

    def _safe_rd(self, request: Request, rd: str | None) -> str:
        scheme, host = self.s.public_origin(request)
        return self.s.redirects.check(rd, host, scheme) or "/"

    def _requested_rd(self, request: Request) -> str:
        rd = request.query_params.get("rd")
        if not rd and self.s.trusted(request):
            rd = request.headers.get("x-auth-request-redirect")
        return self._safe_rd(request, rd)

    def start_url(self, request: Request, rd: str) -> str:
        """Where the sign-in button points."""
        return f"{self.s.settings.proxy_prefix}/start?rd={quote(rd, safe='')}"

    # --- endpoints ---------------------------------------------------------------------
    async def start(self, request: Request) -> Response:
        """302 to the IdP, with the login state in a cookie named after this attempt."""
        rd = self._requested_rd(request)
        now = int(self.s.clock())
        login = LoginState(
            state=random_token(32, self.s.random),
            nonce=random_token(32, self.s.random),
            code_verifier=random_token(48, self.s.random),
            rd=rd,
            created_at=now,
        )
        name = cookies.login_cookie_name(self.s.settings.cookie_name, login.state)
        payload = json.dumps(
            [login.state, login.nonce, login.code_verifier, login.rd, login.created_at],
            separators=(",", ":"),
        )
        sealed = self.s.login_sealer.seal(payload.encode(), name.encode())
        _, host = self.s.public_origin(request)
        set_cookie = cookies.login_set_cookie(name, sealed, self.s.cookie_settings, host)
        url = await self.s.provider.login_url(login, self._redirect_uri(request))
        return redirect(url, [set_cookie])

    def _open_login(self, request: Request, state: str) -> tuple[LoginState, str]:
        if not state or len(state) > 256:
            raise LoginError("missing state", status=403)
        name = cookies.login_cookie_name(self.s.settings.cookie_name, state)
        sealed = _jar(request).get(name)
        if not sealed:
            raise LoginError("no login in progress for this state", status=403)
        try:
            raw = json.loads(self.s.login_sealer.unseal(sealed, name.encode()))
            login = LoginState(str(raw[0]), str(raw[1]), str(raw[2]), str(raw[3]), int(raw[4]))
        except (InvalidSession, ValueError, TypeError, IndexError, KeyError):
            raise LoginError("login state cookie does not open", status=403) from None
        if not hmac.compare_digest(login.state.encode(), state.encode()):
            raise LoginError("state mismatch", status=403)
        now = self.s.clock()
        if now - login.created_at > self.s.settings.cookie_csrf_expire:
            raise LoginError("login took too long", status=403)
        # single use: a replayed callback finds the state spent (per replica, bounded)
        self._used_states = {k: t for k, t in self._used_states.items() if now - t < 3600}
        if state in self._used_states:
            raise LoginError("state already used", status=403)
        self._used_states[state] = now
        return login, name

    async def callback(self, request: Request) -> Response:
        """Finish the login: verify everything, write the session, go back to `rd`."""
        params = request.query_params
        _, host = self.s.public_origin(request)
        state = params.get("state", "")
        clear_login: list[str] = []
        if state and len(state) <= 256:
            name = cookies.login_cookie_name(self.s.settings.cookie_name, state)
            clear_login = [cookies.expire_cookie(name, self.s.cookie_settings, host)]
        login: LoginState | None = None
        try:
            if params.get("error"):
                raise LoginError(f"identity provider answered error={params['error'][:64]}", status=403)
            login, _ = self._open_login(request, state)
            # RFC 9207 before the code goes anywhere: an answer meant for another IdP is refused
            await self.s.provider.check_response_issuer(params.get("iss"))
            code = params.get("code", "")
            if not code:
                raise LoginError("missing code")
            identity, tokens = await self.s.provider.redeem(code, login, self._redirect_uri(request))
            decision = self.s.rules.authorize(identity, None)
            if not decision.allowed:
                log.warning("login denied: user=%s reason=%s", identity.user, decision.reason,
                            extra={"user": identity.user, "outcome": "forbidden", "reason": decision.reason})
                self.s.metrics.record_login("denied")
                page = error_page(403, "Access denied", "You are signed in, but not allowed here.")
                return add_cookies(page, clear_login)
            value = await self.s.store.save(self._new_session(identity, tokens), None)
            present = list(_jar(request))
            set_cookies = cookies.session_set_cookies(value, self.s.cookie_settings, host, present)
        except AuthsvcError as exc:
            log.warning("login failed: %s (status %d)", exc.reason, exc.status,
                        extra={"outcome": outcome_of(exc.status), "reason": exc.reason})
            self.s.metrics.record_login("failed")
            self.s.metrics.record_error(exc)
            retry = self.start_url(request, login.rd if login else "/")
            page = error_page(exc.status, "Sign-in failed", exc.public, retry)
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
        """End the session in its store and expire the cookies; go to `rd` (validated).

        A session the store could not delete is never reported as signed out: a 503 page says
        so, the browser's cookie is expired all the same, and the ticket waits in the sign-out
        cookie (read by nothing but this endpoint) so that "Try again" can still delete it.
        """
        rd = self._requested_rd(request)
        scheme, host = self.s.public_origin(request)
        name, cs = self.s.settings.cookie_name, self.s.cookie_settings
        jar = _jar(request)
        value = cookies.read_chunked(jar, name)
        pending_name = cookies.signout_cookie_name(name)
        pending = jar.get(pending_name) or None
        # before clearing: the IdP's logout wants the session's ID token as a hint
        target = await end_session_target(self.s, value or pending, rd, scheme, host)
        failed = ""
        for each in dict.fromkeys(v for v in (value, pending) if v):
            try:
                await self.s.store.clear(each)
            except AuthsvcError as exc:
                log.warning("sign-out: the session could not be ended: %s", exc.reason,
                            extra={"outcome": "error", "reason": exc.reason})  # fmt: skip
                self.s.metrics.record_error(exc)
                failed = failed or each
        clear = cookies.clear_set_cookies(name, list(jar) or [name], cs, host)
        if failed:
            retry = f"{self.s.settings.proxy_prefix}/sign_out?rd={quote(rd, safe='')}"
            page = error_page(
                503, "Sign-out did not complete",
                "Your session could not be ended on the server: the session store did not "
                "answer. This browser no longer uses it, but the session stays valid until it "
                "expires or a sign-out succeeds. Please try again in a moment.",
                retry, "Try again",
            )  # fmt: skip
            keep = cookies.set_cookie(pending_name, failed, cs, host, cs.max_age)
            return add_cookies(page, [*clear, keep])
        if pending:
            clear.append(cookies.expire_cookie(pending_name, cs, host))
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
            f"{html.escape(self.s.provider.name)}</a></p></body></html>"
        )
        return HTMLResponse(body, headers=NO_CACHE)

    async def userinfo(self, request: Request) -> Response:
        """The caller's identity as JSON; 401 without a session."""
        _, host = self.s.public_origin(request)
        loaded = await self.s.open_session(request.headers.get("cookie", ""), host)
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
        return add_cookies(response, [loaded.set_cookie] if loaded.set_cookie else [])
