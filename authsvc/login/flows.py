"""The browser flows: /start, /callback, /sign_out, /sign_in, /userinfo.

The callback checks, in this order (DESIGN.md §1, authlib's order): the IdP's `error`, the login
state cookie (constant-time, single use), the response's `iss` (RFC 9207), the code exchange with
the PKCE verifier, the ID token (inside the provider), the access rules; only then is a session
written.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import cookies
from ..config.feedback import PlainHttpLogin
from ..context import Context
from ..crypto import random_token
from ..errors import AuthsvcError, IdentityUnsendable, IdPLoginError, LoginError, LoginStateError
from ..models import Identity, LoginState, Session, Tokens
from ..web import causes
from ..web.logs import current_id
from ..web.metrics import outcome_of
from ..web.responses import NO_CACHE, add_cookies, redirect, refreshed_cookie
from .params import with_login_params
from .signout import backend_logout, end_session_target
from .state import LoginStates, SpentStates, choose_slot, over_budget

log = logging.getLogger("authsvc.login")


def _peer(request: Request) -> str | None:
    """The direct peer's IP (the proxy, when deployed as intended)."""
    return request.client.host if request.client else None


#: what an authorization response may carry (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207)
_RESPONSE_PARAMS = frozenset({"code", "state", "iss", "error", "error_description"})


async def response_params(request: Request) -> Mapping[str, str]:
    """The authorization response: the query of a GET, the form body of a POST (OAuth 2.0 Form
    Post Response Mode §2; the route takes POST only with form_post). The body is read through
    web/bodies.py's cap (413 above max_request_body_bytes); another content type is no answer."""
    if request.method != "POST":
        return request.query_params
    return posted_params(request.headers.get("content-type", ""), await request.body())


def posted_params(content_type: str, body: bytes) -> Mapping[str, str]:
    """A form_post body's authorization response parameters (also what the provider chooser of
    an app with several providers reads `state` from, web/app.py)."""
    if content_type.partition(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return {}
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v for k, v in pairs if k in _RESPONSE_PARAMS}  # the last of a repeated one, as a query


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
        self._plain_http = PlainHttpLogin(settings.cookie_secure)
        # keep only the tokens a feature will use: the ID token repeats every claim (a 200-group
        # session doubles in size with it), and a token not kept cannot leak from a cookie
        refreshing = settings.cookie_refresh > 0
        self._keep_refresh = refreshing
        self._keep_access = refreshing or settings.pass_access_token
        #: recorded in its sessions (multi-app: which IdP a session came from, docs/apps.md)
        self._issuer = settings.oidc_issuer_url if services.app else ""
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

    def safe_rd(self, request: Request, rd: str | None) -> str:
        """`rd` if it may be redirected to (login/redirects.py), else "/"."""
        return self._safe_rd(request, rd)

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

    def _rd_given(self, request: Request) -> bool:
        """Whether the request names where to go next (rd, or a trusted X-Auth-Request-Redirect)."""
        if request.query_params.get("rd"):
            return True
        return self.s.forwarded.is_trusted(_peer(request)) and bool(
            request.headers.get("x-auth-request-redirect"))

    def https_only(self, endpoint: Callable[[Request], Awaitable[Response]]
                   ) -> Callable[[Request], Awaitable[Response]]:
        """`endpoint`, answering a plain-http request with a 308 to the same URL on https
        (force_https, as oauth2-proxy's; RFC 9110 §15.4.9 keeps a POST a POST). Only the login
        endpoints, which the browser reaches: the proxy calls /oauth2/auth and the probes, and a
        308 there would be a failed check to nginx, not a redirect."""
        if not self.s.settings.force_https:
            return endpoint
        # oauth2-proxy (pkg/middleware/redirect_to_https.go at 14af2951): a host that names a
        # port gets https_address's port instead; a host without one stays without
        port = self.s.settings.https_address.rpartition(":")[2] or "443"
        suffix = "" if port == "443" else f":{port}"

        @functools.wraps(endpoint)
        async def secured(request: Request) -> Response:
            scheme, host = self._origin(request)  # a trusted proxy's X-Forwarded-Proto/-Host only
            if scheme == "https":
                return await endpoint(request)
            has_port = not host.endswith("]") and ":" in host
            bare = host.rpartition(":")[0] if has_port else host
            if has_port:
                bare += suffix
            path = request.scope.get("raw_path") or request.url.path.encode()
            query = request.scope.get("query_string", b"")
            target = f"https://{bare}{path.decode('latin-1')}"
            if query:
                target += f"?{query.decode('latin-1')}"
            return Response(status_code=308, headers={**NO_CACHE, "Location": target})

        return secured

    # --- the pages a login can end on -------------------------------------------------------
    def _failed(self, request: Request, params: Mapping[str, str], exc: AuthsvcError, state: str,
                login: LoginState | None) -> Response:
        """Log a failed callback and answer with the page of its cause (web/causes.py)."""
        scheme, host = self._origin(request)
        pages = self.s.pages
        if params.get("error"):
            # RFC 6749 §4.1.2.1. Anyone can send a victim a callback link with words of their
            # choosing in error_description (content spoofing): shown only when the state is
            # that of a login this very browser began
            login = login or self._login_of(request, state)
            description = params.get("error_description", "") if login else ""
            cause = causes.idp_error(params["error"], description, pages.idp)
        else:
            cause = causes.login_failure(
                exc, pages.idp, login_lifetime=self.s.settings.cookie_csrf_expire,
                insecure_http=self.s.settings.cookie_secure and scheme == "http",
                spent=self._finished(state),
            )
        log.warning("login failed: %s (status %d)", exc.reason, cause.status,
                    extra={"outcome": outcome_of(cause.status), "reason": exc.reason, "code": cause.code})
        self.s.metrics.record_login("failed")
        self.s.metrics.record_error(exc)
        back = login.rd if login else ("/" if cause.code == "state_used" else "")
        return pages.error(
            cause, host=host, request_id=current_id(),
            retry_url=self.start_url(request, login.rd if login else "/"), back_url=back,
        )

    def _refused(self, request: Request, identity: Identity, login: LoginState) -> Response:
        """A login the access rules refused: say who signed in, and that no session was kept."""
        _, host = self._origin(request)
        prefix = self.s.settings.proxy_prefix
        return self.s.pages.forbidden(
            host=host, request_id=current_id(), user=identity.email or identity.user, signed_in=False,
            switch_url=f"{prefix}/sign_in?rd={quote(login.rd, safe='')}", code="login_denied",
        )

    def _login_of(self, request: Request, state: str) -> LoginState | None:
        """The login this browser began with `state`, if it did (and it is still valid)."""
        try:
            return self.states.open(_jar(request), state)
        except LoginError:
            return None

    def _finished(self, state: str) -> bool:
        """Whether `state` already began its code exchange here (a callback sent again)."""
        return bool(state) and self._spent.spent(state, self.s.clock())

    # --- endpoints ---------------------------------------------------------------------
    async def start(self, request: Request) -> Response:
        """302 to the IdP, with the login state in a cookie of one of a few slots (state.py)."""
        return await self._start(request, self._requested_rd(request), request.query_params)

    async def start_at(self, request: Request, rd: str) -> Response:
        """/oauth2/start for a request that is not one (web/any_path.py): the login returns to
        `rd`, validated like any rd. The request's query is the app's, not login parameters
        (oauth2-proxy's Proxy() starts with no overrides either)."""
        return await self._start(request, self._safe_rd(request, rd), {})

    async def _start(self, request: Request, rd: str, query: Mapping[str, str]) -> Response:
        mode = request.headers.get("sec-fetch-mode")
        if mode and mode != "navigate":
            # Fetch Metadata: an <img>, a script or fetch() cannot sign anyone in, but each
            # start would leave a login cookie behind (W3C Fetch Metadata, resource isolation)
            _, host = self._origin(request)
            return self.s.pages.error(causes.NOT_A_PAGE, host=host, request_id=current_id(),
                                      retry_url=self.start_url(request, rd))
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
        scheme, host = self._origin(request)
        self._plain_http.check(scheme, host)  # the Secure cookie about to be dropped: say so, once
        cs = self.s.cookie_settings
        # expired now: the slots that would take the header past the budget, and any other
        # login cookie (older per-state names, or slots beyond a since lowered limit)
        dropped = set(over_budget(held, slot, len(name) + len(sealed) + 3))
        keep = {cookies.login_slot_name(cs.name, i) for i in held if i not in dropped} | {name}
        stale = [n for n in jar if cookies.is_login_cookie(cs.name, n) and n not in keep]
        set_cookies = [cookies.login_set_cookie(name, sealed, cs, host)]
        set_cookies += [cookies.login_clear_cookie(n, cs, host) for n in stale]
        url = await self.s.provider.login_url(login, self._redirect_uri(request))
        return redirect(with_login_params(url, self.s.settings, query), set_cookies)

    async def callback(self, request: Request) -> Response:
        """Finish the login: verify everything, write the session, go back to `rd`. The same
        checks whether the answer came in the query or (form_post) in a POST body."""
        params = await response_params(request)
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
            # RFC 9207 before the code goes anywhere: an answer meant for another IdP is refused
            await self.s.provider.check_response_issuer(params.get("iss"))
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
                return add_cookies(self._refused(request, identity, login), clear_login)
            session = self._new_session(identity, tokens)
            refusal = self.s.headers.refusal(session)
            if refusal:
                # no header could say who this is (check/headers.py): a session would only get 403s
                raise IdentityUnsendable(f"identity cannot be sent as headers: {refusal}")
            value = await self.s.store.save(session, None)
            present = list(_jar(request))
            set_cookies = cookies.session_set_cookies(value, self.s.cookie_settings, host, present)
        except AuthsvcError as exc:
            return add_cookies(self._failed(request, params, exc, state, login), clear_login)
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
                       refreshed_at=now, app=self.s.app, issuer=self._issuer)

    async def sign_out(self, request: Request) -> Response:
        """End the session in its store and expire the cookies; go to `rd` (validated), or to
        the signed-out page when none was asked for (with oidc_end_session: `/`, as registered).

        A session the store could not delete is never reported as signed out: a 503 page says
        so, the browser's cookie is expired all the same, and the ticket waits in the sign-out
        cookie (read by nothing but this endpoint) so that "Try again" can still delete it.
        """
        rd = self._requested_rd(request)
        if not self._rd_given(request) and not self.s.settings.oidc_end_session:
            rd = f"{self.s.settings.proxy_prefix}/signed_out"
        scheme, host = self._origin(request)
        name, cs = self.s.settings.cookie_name, self.s.cookie_settings
        jar = _jar(request)
        value = cookies.read_chunked(jar, name)
        pending_name = cookies.signout_cookie_name(name)
        pending = jar.get(pending_name) or None
        # before clearing: the IdP's logout wants the session's ID token as a hint
        target = await end_session_target(self.s, value or pending, rd, scheme, host)
        await backend_logout(self.s, value)
        failed = ""
        for each in dict.fromkeys(v for v in (value, pending) if v):
            try:
                await self.s.store.clear(each)
            except AuthsvcError as exc:
                log.warning("sign-out: the session could not be ended: %s", exc.reason,
                            extra={"outcome": "error", "reason": exc.reason})  # fmt: skip
                self.s.metrics.record_error(exc)
                failed = failed or each
                continue
            # nginx's cached 2xx of this cookie would open the door until proxy_cache_valid:
            # fail closed, as for the store (the retry deletes nothing twice and purges again)
            if not await self.s.purge.purge(each):
                log.warning("sign-out: nginx's cached decision could not be purged",
                            extra={"outcome": "error", "reason": "cache_purge_failed"})  # fmt: skip
                failed = failed or each
        clear = cookies.clear_set_cookies(name, list(jar) or [name], cs, host)
        if failed:
            retry = f"{self.s.settings.proxy_prefix}/sign_out?rd={quote(rd, safe='')}"
            page = self.s.pages.error(causes.SIGNOUT_FAILED, host=host, request_id=current_id(),
                                      retry_url=retry)
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
        return self.sign_in_page(request, rd)

    def sign_in_page(self, request: Request, rd: str, status: int = 200) -> Response:
        """The sign-in page whose button returns to `rd` (already validated), with `status`."""
        _, host = self._origin(request)
        return self.s.pages.sign_in(host=host, request_id=current_id(), start_url=self.start_url(request, rd),
                                    status=status)

    async def signed_out(self, request: Request) -> Response:
        """Where /oauth2/sign_out ends when no `rd` was given."""
        _, host = self._origin(request)
        return self.s.pages.signed_out(
            host=host, request_id=current_id(), sign_in_url=f"{self.s.settings.proxy_prefix}/sign_in"
        )

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
