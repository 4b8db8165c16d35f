"""GET (any method) /oauth2/auth: the check's HTTP edge.

It reads the ASGI scope and the few headers the check uses, then runs the check in its order:
the original request (check/forwarded.py) -> public routes (check/paths.py) -> the session
(sessions/loader.py) or a bearer token (providers/bearer.py) -> the rules (check/decide.py)
-> the identity headers (check/headers.py). The answer is 2xx with
identity headers, 401 (or a sign-in redirect for a browser), or 403.

Where bearer tokens are accepted, every 401 and a 403 for a token carry the RFC 6750 §3
challenge (nginx's auth_request passes WWW-Authenticate on): `Bearer` when no credential came,
`error="invalid_token"` for a refused token, `error="insufficient_scope"` (with the `scope` a
route rule requires, when that is what denied it) for a token the rules refuse. An opaque
token the IdP cannot judge now gets 503, never 2xx, and not 401 (the token may be good).
A DPoP-bound token (RFC 9449) must come as `Authorization: DPoP` with a valid `DPoP` proof for
the original method and URL (providers/dpop.py); its refusals are `DPoP` challenges with `algs`.
With `nginx_cache_purge_url`, a session's 2xx may be cached by nginx only under the key authsvc
purges (sessions/cache_key.py): unless the auth location's `X-Authsvc-Cache-Key` is that key,
the 2xx says `Cache-Control: no-store` (nginx's proxy_cache honours it), so a secret or key
format that differs from authsvc's costs the cache, never a revocation.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Awaitable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from .. import cookies
from ..check.client_ip import TrustedIPs
from ..check.forwarded import DESCRIPTIONS, HEADERS_READ
from ..check.htpasswd import Htpasswd
from ..check.route_rules import HEADERS as RULE_HEADERS
from ..check.route_rules import RouteCheck, RouteRule
from ..context import Context
from ..errors import PasswordChecksBusy, ProviderUnavailable, StoreUnavailable, TokenError
from ..memo import BoundedMemo
from ..models import OriginalRequest, Session
from ..providers.bearer import access_token
from ..providers.dpop import ALGS, DPoPError, DPoPVerifier, identity_jkt
from ..sessions.purge import KEY_HEADER, LOCATION_HEADER
from ..sessions.refresh import Loaded
from .logs import current_id, note_outcome
from .responses import Prepared, Raw, add_cookies, redirect, refreshed_cookie

log = logging.getLogger("authsvc")

#: nginx's cache key of this check (examples/nginx/nginx-cache.conf), lowercase as ASGI gives it
CACHE_KEY = KEY_HEADER.lower()
#: the auth location nginx's cache entry is under (its key is CACHE_KEY + this)
CACHE_LOCATION = LOCATION_HEADER.lower()
#: the headers AuthEndpoint.handle decodes: forwarded.py's, route_rules.py's, the credentials and
#: nginx's cache key
#: (ASGI's lower-case bytes -> the same name as an interned str: one lookup per header gives
#: the dict key without a decode and with its hash already known)
_READ = {
    name.encode(): sys.intern(name)
    for name in (*HEADERS_READ, *RULE_HEADERS, "cookie", "authorization", "dpop", CACHE_KEY, CACHE_LOCATION)
}
#: a 2xx nginx must not cache: a public route's, or one whose key authsvc would not purge
#: (RFC 9111 §5.2.2.5; nginx's proxy_cache honours it)
NOT_CACHEABLE = (b"cache-control", b"no-store")

#: a per-route rule header sent twice: which copy is the rule cannot be known, so nobody passes
REPEATED_RULE = RouteRule(broken="a rule header arrived more than once")

#: identity header lists whose 2xx is remembered (check/headers.py remembers as many lists)
_PASSES_MEMO = 4096

UNAUTHORIZED = b"Unauthorized\n"
FORBIDDEN = b"Forbidden\n"
#: RFC 6750 §3.1; nginx's auth_request passes this header on with its 401
INVALID_TOKEN = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
#: RFC 6750 §3: no credential came; the scheme alone tells an API client what to send
NO_TOKEN = {"WWW-Authenticate": "Bearer"}
UNAVAILABLE = b"Service Unavailable\n"


def insufficient(scope: str, scheme: str = "bearer") -> dict[str, str]:
    """RFC 6750 §3.1 insufficient_scope; `scope` holds only RFC 6749 §3.3 scope-token characters
    (a route's own rule may hold anything: then it is left out rather than quoted wrongly)."""
    value = ('DPoP' if scheme == "dpop" else 'Bearer') + ' error="insufficient_scope"'
    if scope and all(c == " " or (0x21 <= ord(c) <= 0x7E and c not in '"\\') for c in scope):
        value += f', scope="{scope}"'
    if scheme == "dpop":
        value += f', algs="{ALGS}"'
    return {"WWW-Authenticate": value}


def dpop_challenge(error: str) -> dict[str, str]:
    """RFC 9449 §7.1: the DPoP scheme's challenge, with the proof algorithms we accept."""
    return {"WWW-Authenticate": f'DPoP error="{error}", algs="{ALGS}"'}


_NO_REPEATS: frozenset[str] = frozenset()


def _repeated(read: list[tuple[str, str]]) -> frozenset[str]:
    """The header names that occur more than once."""
    seen: set[str] = set()
    twice: set[str] = set()
    for name, _ in read:
        (twice if name in seen else seen).add(name)
    return frozenset(twice)


def is_browser_navigation(request: Request, original: OriginalRequest) -> bool:
    """A top-level page load in a browser (gets the sign-in redirect); API calls get 401."""
    headers = request.headers
    if original.method not in ("GET", "HEAD"):
        return False
    # scripts and API clients: a redirect to an IdP page is no use to them
    if headers.get("x-requested-with") or "authorization" in headers:
        return False
    accept = headers.get("accept", "")
    if "application/json" in accept:
        return False
    mode = headers.get("sec-fetch-mode")
    if mode and mode != "navigate":
        return False
    return "text/html" in accept


class AuthEndpoint:
    """GET (any method) /oauth2/auth: 2xx with identity headers, 401, or 403."""

    def __init__(self, services: Context) -> None:
        self.s = services
        self.success = services.settings.auth_success_status
        self.start = f"{services.settings.proxy_prefix}/start?rd="
        settings = services.settings
        #: oauth2-proxy's trusted_ips and htpasswd_file (check/client_ip.py, check/htpasswd.py)
        self.trusted_ips = TrustedIPs(settings, services.forwarded) if settings.trusted_ips else None
        self.htpasswd = Htpasswd(settings, services.clock) if settings.htpasswd_file else None
        #: RFC 9449 proofs; the jti replay cache is the store's when it is shared (Redis)
        self.dpop = DPoPVerifier(services.store, services.clock)
        #: purges configured: a 2xx is cacheable only under the key purges name
        self.guard_cache = services.purge.enabled
        #: monotonic time before which a key mismatch is not logged again
        self._key_mismatch_quiet = 0.0
        #: the same for an auth location that no purge URL names
        self._location_quiet = 0.0
        #: the 401 of an API client, encoded once (web/lean.py writes it as it is)
        challenge = NO_TOKEN if services.bearer.enabled else None
        self._unauthorized = Prepared(Response(UNAUTHORIZED, 401, challenge, media_type="text/plain"))
        #: id(identity header list) -> (that list, its 2xx), see `passed`
        self._passes: BoundedMemo[int, tuple[Raw, Prepared]] = BoundedMemo(_PASSES_MEMO)

    def original(self, request: Request, headers: dict[str, str], repeated: bool) -> OriginalRequest:
        scope = request.scope
        raw = scope.get("raw_path") or scope["path"].encode()
        qs = scope.get("query_string", b"")
        path = raw.decode("latin-1") + ("?" + qs.decode("latin-1") if qs else "")
        client = scope.get("client")
        return self.s.forwarded.original_request(
            headers,
            scope["method"],
            path,
            headers.get("host", ""),
            scope.get("scheme", "http"),
            client[0] if client else None,  # Context.peer without building request.client
            repeated,
        )

    async def handle(self, request: Request) -> Response:
        """The check (`handle_now`, awaited where it must wait)."""
        got = self.handle_now(request)
        return got if isinstance(got, Response) else await got

    def handle_now(self, request: Request) -> Response | Awaitable[Response]:
        """The check's answer when everything it needs is in memory (a cached session that is
        not due for a refresh, a cached bearer token, no session at all), else an awaitable
        that finishes it from the step that must wait: one decision code for both, and
        web/lean.py answers the usual check without a task (issue 17)."""
        # one plain dict of the headers the check reads, first value of each name (what
        # Headers.get returns): Starlette's Headers scans the whole list on every lookup, and
        # a browser sends a dozen headers the check never looks at
        names = _READ
        raw = request.scope["headers"]
        read = [(n, v.decode("latin-1")) for k, v in raw if (n := names.get(k)) is not None]
        headers = dict(reversed(read))
        # a header sent twice: the proxy sets each of these once, so one copy is the client's
        # (check/forwarded.py); the common case costs one length comparison
        repeats = _repeated(read) if len(read) != len(headers) else _NO_REPEATS
        original = self.original(request, headers, not repeats.isdisjoint(DESCRIPTIONS))
        # public routes first: no session is read, every identity header is sent empty
        if self.s.access.public(original) or (
            self.trusted_ips is not None and self.trusted_ips.admits(request.scope)
        ):
            note_outcome("skipped")
            response = Response(status_code=self.success, headers=self.s.headers.empty())
            # never cacheable: a proxy cache keyed by the session cookie alone (nginx-cache.conf)
            # would otherwise serve this 202 for any URI to whoever sends that cookie, made up
            response.raw_headers.append(NOT_CACHEABLE)
            return response
        cookie = headers.get("cookie", "")
        loaded = self.s.loader.load_now(cookie)
        if loaded is None:  # the store (a cache miss) or a refresh
            return self._loading(request, headers, repeats, original, cookie)
        return self.with_loaded(request, headers, repeats, original, loaded)

    async def _loading(
        self, request: Request, headers: dict[str, str], repeats: frozenset[str],
        original: OriginalRequest, cookie: str,
    ) -> Response:
        loaded = await self.s.loader.load(cookie)
        got = self.with_loaded(request, headers, repeats, original, loaded)
        return got if isinstance(got, Response) else await got

    def with_loaded(
        self, request: Request, headers: dict[str, str], repeats: frozenset[str],
        original: OriginalRequest, loaded: Loaded,
    ) -> Response | Awaitable[Response]:
        """From the session step on: a bearer token or htpasswd when there is no session."""
        session = loaded.session
        if session is not None:
            return self.decide(request, headers, repeats, original, session, "", loaded)
        got = access_token(headers.get("authorization")) if self.s.bearer.enabled else None
        if got is None:
            if self.htpasswd is not None:
                return self._basic(request, headers, repeats, original, loaded)
            return self.unauthenticated(request, original)
        scheme, token = got
        cached = self.s.bearer.cached(token)
        if cached is None or scheme == "dpop" or identity_jkt(cached.identity):
            # to verify, or a DPoP binding to prove: token_session's to do
            return self._token(request, headers, repeats, original, loaded, scheme, token)
        # what token_session answers for a cached token with no DPoP binding
        return self.decide(request, headers, repeats, original, cached, scheme, loaded)

    async def _basic(
        self, request: Request, headers: dict[str, str], repeats: frozenset[str],
        original: OriginalRequest, loaded: Loaded,
    ) -> Response:
        assert self.htpasswd is not None
        try:
            basic = await self.htpasswd.session(headers.get("authorization"))
        except PasswordChecksBusy:  # not checked (check/htpasswd.py logs, rate-limited)
            note_outcome("error", "password checks busy")
            return Response(UNAVAILABLE, 503, {"Retry-After": "1"}, media_type="text/plain")
        if basic is None:
            got = self.unauthenticated(request, original)
            return got if isinstance(got, Response) else await got
        return self.decide(request, headers, repeats, original, basic, "", loaded)

    async def _token(
        self, request: Request, headers: dict[str, str], repeats: frozenset[str],
        original: OriginalRequest, loaded: Loaded, scheme: str, token: str,
    ) -> Response:
        refused = await self.token_session(token, scheme, headers, repeats, original)
        if isinstance(refused, Response):
            return refused
        return self.decide(request, headers, repeats, original, refused, scheme, loaded)

    def decide(
        self, request: Request, headers: dict[str, str], repeats: frozenset[str],
        original: OriginalRequest, session: Session, scheme: str, loaded: Loaded,
    ) -> Response:
        """The rules, then the identity headers (and a refreshed cookie) of a signed-in check."""
        rule = (
            self.route_rule(request, headers)
            if repeats.isdisjoint(RULE_HEADERS)
            # only the first copy is in `headers`: the other might be the proxy's rule
            else REPEATED_RULE
        )
        decision = self.s.access.decide(session.identity, rule)
        if not decision.allowed:
            log.info(
                "auth: forbidden user=%s uri=%s reason=%s",
                session.identity.user, original.path, decision.reason,
                extra={"user": session.identity.user, "outcome": "forbidden", "reason": decision.reason},
            )
            if self.shows_pages(request, original):
                return self.forbidden_page(original, session.identity.email or session.identity.user)
            challenge = insufficient(decision.scope, scheme) if scheme else None
            return Response(FORBIDDEN, 403, challenge, media_type="text/plain")
        raw = self.s.headers.raw_for_session(session)
        if raw is None:
            # no header value says exactly who this is (check/headers.py logged why): refuse, never
            # send one that names someone else
            note_outcome("forbidden", "identity cannot be sent as headers")
            return Response(FORBIDDEN, 403, media_type="text/plain")
        response = self.passed(raw)
        if self.guard_cache and (scheme or session is not loaded.session or not self.purgeable(headers)):
            response.raw_headers.append(NOT_CACHEABLE)
        if loaded.new_value is None:  # the usual case: no refresh, no cookie to set
            return response
        # at most one Set-Cookie (a refreshed cookie session): nginx relays only one
        set_cookie = refreshed_cookie(
            loaded.new_value, loaded.session, self.s.cookie_settings, original.host, int(self.s.clock())
        )
        return add_cookies(response, [set_cookie] if set_cookie else [])

    def purgeable(self, headers: dict[str, str]) -> bool:
        """Whether nginx's cache key of this check is the one authsvc purges for its cookie."""
        key = headers.get(CACHE_KEY)
        if key is None:  # a proxy without the decision cache (or an older nginx-cache.conf)
            return False
        value = cookies.session_value(headers.get("cookie", ""), self.s.settings.cookie_name) or ""
        keys = self.s.purge.keys
        if keys.matches(value, key):
            # nginx keys the entry by key + auth location: only locations purges reach may cache
            # (each rule set's location is its own entry, never another's 2xx)
            location = headers.get(CACHE_LOCATION)
            if location in self.s.purge.locations:
                return True
            now = time.monotonic()
            if now >= self._location_quiet:
                self._location_quiet = now + 60
                log.error("auth: nginx's cache entry is under auth location %r, which no "
                          "nginx_cache_purge_url names (?location=...): its 2xx are sent "
                          "Cache-Control: no-store", (location or "")[:100],
                          extra={"outcome": "error", "reason": "cache_location_not_purged"})
            return False
        if keys.matches("", key):  # nginx saw no whole session cookie (chunks): it caches nothing
            return False
        now = time.monotonic()
        if now >= self._key_mismatch_quiet:  # a configuration error: once a minute (never the key)
            self._key_mismatch_quiet = now + 60
            log.error("auth: nginx's cache key is not authsvc's (nginx_cache_key_secret differs from "
                      "the secret of nginx's set_hmac_sha256?): its 2xx are sent Cache-Control: no-store",
                      extra={"outcome": "error", "reason": "cache_key_mismatch"})  # fmt: skip
        return False

    def passed(self, raw: Raw) -> Response:
        """The 2xx with these identity headers (`raw_for_session`'s list, the same object for
        every check of a session): its head encoded once per list (web/lean.py writes it)."""
        hit = self._passes.data.get(id(raw))
        if hit is not None and hit[0] is raw:
            return hit[1].copy()
        try:
            prepared = Prepared(Response(status_code=self.success), raw)
        except ValueError:  # a header that cannot be sent: the protocol refuses it as before
            response = Response(status_code=self.success)
            response.raw_headers += raw
            return response
        # the entry holds the list, so its id is not reused while remembered
        self._passes.put(id(raw), (raw, prepared))
        return prepared.copy()

    async def token_session(
        self, token: str, scheme: str, headers: dict[str, str], repeats: frozenset[str],
        original: OriginalRequest,
    ) -> Session | Response:
        """The session of an access token (and its DPoP proof), or the refusal to answer."""
        try:
            session = await self.s.bearer.session(token)
        except TokenError as exc:
            log.info("auth: bearer token refused: %s", exc.reason)
            challenge = dpop_challenge("invalid_token") if scheme == "dpop" else INVALID_TOKEN
            return Response(UNAUTHORIZED, 401, challenge, media_type="text/plain")
        except ProviderUnavailable as exc:
            # fail closed, but not as "bad token": the client may retry the same one
            log.warning("auth: bearer token not checkable now: %s", exc.reason)
            retry = {"Retry-After": str(int(exc.retry_after))} if exc.retry_after else {}
            return Response(UNAVAILABLE, 503, retry, media_type="text/plain")
        jkt = identity_jkt(session.identity)
        if not jkt and scheme != "dpop":
            return session
        try:
            if not jkt:
                raise DPoPError("a token not bound to a key sent with the DPoP scheme")
            if scheme != "dpop":
                # RFC 9449 §7.2: as Bearer the binding would be stripped; refuse the downgrade
                raise DPoPError("a DPoP-bound token sent with the Bearer scheme")
            if "dpop" in repeats:
                raise DPoPError("more than one DPoP header (RFC 9449 §4.3)")
            await self.dpop.verify(headers.get("dpop"), token, jkt, original)
        except DPoPError as exc:
            log.info("auth: DPoP refused: %s", exc.reason)
            return Response(UNAUTHORIZED, 401, dpop_challenge(
                "invalid_dpop_proof" if jkt and scheme == "dpop" else "invalid_token"),
                media_type="text/plain")  # fmt: skip
        except StoreUnavailable as exc:
            log.warning("auth: DPoP replay cache unavailable: %s", exc.reason)
            return Response(UNAVAILABLE, 503, media_type="text/plain")
        return session

    def route_rule(self, request: Request, headers: dict[str, str]) -> RouteCheck:
        """Per-route rules: the auth URL's query and the X-Authsvc-Allowed-* headers, both.

        Rules only narrow, so one is honoured wherever it is found and from whoever sent it
        (issue 11 §3): only the query of Envoy's prefix form is skipped, being the client's
        own URL, never a rule. Under `auto` a prefix path may be Envoy's or an auth URL with a
        path (`/oauth2/auth/app?allowed_groups=admins`): its query is read as rules, so a
        malformed one denies rather than being dropped.
        """
        rules = self.s.route_rules
        by_headers = rules.from_headers(headers)
        if self.s.forwarded.kind == "envoy" and "rest" in request.path_params:
            return by_headers
        by_query = rules.from_query(request.scope.get("query_string", b"").decode("latin-1"))
        return rules.both(by_query, by_headers)

    def shows_pages(self, request: Request, original: OriginalRequest) -> bool:
        """A browser navigation behind a proxy that relays our answer to it (Traefik, Caddy,
        Envoy): it gets the redirect, or the page, itself. nginx shows its own pages."""
        return (
            self.s.settings.browser_redirects
            and not self.s.access.api(original)
            and is_browser_navigation(request, original)
        )

    def forbidden_page(self, original: OriginalRequest, user: str) -> Response:
        """The 403 as a page: who is signed in, that a rule denies it (never which), ways out."""
        prefix = self.s.settings.proxy_prefix
        again = quote(f"{prefix}/sign_in?rd={quote(original.url, safe='')}", safe="")
        return self.s.pages.forbidden(
            host=original.host, request_id=current_id(), user=user, signed_in=True,
            switch_url=f"{prefix}/sign_out?rd={again}", sign_out_url=f"{prefix}/sign_out",
        )

    def unauthenticated(self, request: Request, original: OriginalRequest) -> Response | Awaitable[Response]:
        """No session: the sign-in redirect for a browser shown our answer, else 401 (a subclass
        may answer later: web/any_path.py)."""
        if self.shows_pages(request, original):
            # absolute: Traefik resolves a relative Location against the auth address
            location = f"{original.scheme}://{original.host}{self.start}{quote(original.url, safe='')}"
            return redirect(location)
        return self._unauthorized.copy()
