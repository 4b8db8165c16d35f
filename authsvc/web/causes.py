"""Why a sign-in failed, in words a person can act on: one `Cause` per distinct situation.

Each cause has its own machine-readable `code` (shown on the page, logged with the failure,
documented in docs/troubleshooting.md), a status that fits it, a title and one sentence, and
says whether "Sign in again" can help and whether it is the operator's problem. The callback
keeps raising the errors it always raised; this module only reads them.

Statuses: a malformed callback (no state, no code) is 400; one that does not belong to a live
login of this browser is 403 (its login cookie is missing, expired, foreign or spent:
oauth2-proxy's status for a bad CSRF cookie); the user or the IdP refusing is 403; the IdP
failing or refusing our own client is 502 Bad Gateway (RFC 9110 §15.6.3: an upstream's answer
was no good), the IdP saying it is overloaded or the session store being down 503 (§15.6.4).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import (
    AuthsvcError,
    ClientRejected,
    IssuerMismatch,
    LoginError,
    ProviderUnavailable,
    StoreUnavailable,
    TokenError,
)


@dataclass(frozen=True)
class Cause:
    """What an error page says and which status it is served with."""

    code: str
    status: int
    title: str
    message: str
    #: signing in again can work (else no such button: it would only repeat the failure)
    retry: bool = True
    #: a problem in how the site is set up: the user can only report it (with the request id)
    operator: bool = False
    #: the identity provider's own words (`error_description`), shown quoted and escaped
    detail: str = ""
    #: the words on the retry button
    retry_label: str = "Sign in again"


#: /oauth2/start from an <img>, a script or fetch() (Sec-Fetch-Mode other than navigate): no
#: login cookie is set, so such requests cannot crowd out real logins (issue 11 §4)
NOT_A_PAGE = Cause(
    "not_a_page", 403, "Sign-in needs a page",
    "A sign-in starts from a page you open in the browser, not from an image, a script or a "
    "background request. Open the sign-in link itself.",
)  # fmt: skip

#: /oauth2/sign_out could not delete the session from its store (issue 11 §5): never "signed out"
SIGNOUT_FAILED = Cause(
    "signout_failed", 503, "Sign-out did not complete",
    "Your session could not be ended on the server: the session store, or the proxy's cache of "
    "sign-in decisions, did not answer. This browser no longer uses it, but the session stays "
    "valid until it expires or a sign-out succeeds. Please try again in a moment.",
    retry_label="Try again",
)  # fmt: skip


#: RFC 6749 §4.1.2.1 errors that mean our authorization request itself is wrong
_BAD_REQUEST_ERRORS = frozenset({"invalid_request", "unauthorized_client", "unsupported_response_type",
                                 "invalid_scope"})  # fmt: skip
#: the LoginError reasons of the callback's state checks (login.py `_open_login`), by cause
STATE_REASONS = {
    "missing state": "callback_invalid",
    "missing code": "callback_invalid",
    "state mismatch": "state_mismatch",
    "login state cookie does not open": "state_mismatch",
    "no login in progress for this state": "login_cookie_missing",
    "login took too long": "login_expired",
    "state already used": "state_used",
}


def duration_words(seconds: float) -> str:
    """'15 minutes', '1 hour', '90 seconds'."""
    n = int(seconds)
    for unit, size in (("hour", 3600), ("minute", 60)):
        if n >= size and n % size == 0:
            count = n // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{n} second{'s' if n != 1 else ''}"


def idp_error(error: str, description: str, idp: str) -> Cause:
    """The IdP sent the browser back with `error=` (RFC 6749 §4.1.2.1)."""
    error = error[:64]
    if error == "access_denied":
        return Cause("access_denied", 403, "Sign-in cancelled",
                     f"The sign-in was cancelled, or {idp} refused it.", detail=description)
    if error in ("temporarily_unavailable", "server_error"):
        return Cause("idp_unavailable", 503, "Identity provider unavailable",
                     f"The sign-in could not be completed at {idp} just now ({error}). Try again "
                     "in a few minutes.", detail=description)
    if error in _BAD_REQUEST_ERRORS:
        return Cause("idp_rejected_request", 502, "Sign-in is misconfigured",
                     f"The sign-in request authsvc sent was refused by {idp} ({error}).",
                     retry=False, operator=True, detail=description)
    return Cause("idp_error", 403, "Sign-in failed",
                 f"The sign-in was not completed at {idp} ({error}).", detail=description)


def login_failure(
    exc: AuthsvcError, idp: str, *, login_lifetime: float, insecure_http: bool, spent: bool
) -> Cause:
    """The cause of a failed callback.

    `insecure_http`: the browser came over plain http while cookies are Secure; `spent`: the
    callback's state belongs to a login that already finished in this process.
    """
    limit = duration_words(login_lifetime)
    # the callback's own checks (LoginError and any subclass but the IdP's token errors)
    state_check = isinstance(exc, LoginError) and not isinstance(exc, TokenError)
    code = STATE_REASONS.get(exc.reason) if state_check else None
    if code == "login_cookie_missing" and insecure_http:
        return Cause("insecure_cookie", 403, "Sign-in cookie blocked",
                     "This address is plain http, but authsvc marks its cookies Secure "
                     "(cookie_secure = true), so the browser never sent the sign-in cookie back. "
                     "Serve the site over https, or, for local development only, set "
                     "cookie_secure = false.", retry=False, operator=True)
    if code == "login_cookie_missing" and spent:
        code = "state_used"
    if code == "state_used":
        return Cause("state_used", 403, "Sign-in already finished",
                     f"This answer from {idp} was already used to finish a sign-in, for example "
                     "when a form was sent again after going Back. Open the app again, or sign in "
                     "again.")
    if code == "login_cookie_missing":
        return Cause("login_cookie_missing", 403, "Sign-in expired",
                     f"This sign-in cannot be finished: it took longer than {limit}, or this browser "
                     "did not send back the cookie set when it began (cookies blocked, or the "
                     "sign-in began at another address or in another browser).")
    if code == "login_expired":
        return Cause("login_expired", 403, "Sign-in expired",
                     f"The sign-in took longer than {limit}, the most it may take.")
    if code == "state_mismatch":
        return Cause("state_mismatch", 403, "Sign-in failed",
                     f"The answer from {idp} does not belong to a sign-in begun in this browser.")
    if code == "callback_invalid":
        return Cause("callback_invalid", 400, "Sign-in failed",
                     f"The answer from {idp} was incomplete (it named no sign-in, or held no code).")
    if isinstance(exc, IssuerMismatch):  # RFC 9207: a mix-up attack, or a misconfigured issuer
        return Cause("issuer_mismatch", 403, "Sign-in failed",
                     "The answer to this sign-in did not come from the configured identity "
                     f"provider ({idp}), so it was not used.")
    if isinstance(exc, ClientRejected):
        return Cause("client_rejected", 502, "Sign-in is misconfigured",
                     f"The credentials this site uses at {idp} (its client_id and client_secret) "
                     "were refused, so nobody can sign in until they are corrected. Signing in "
                     "again will not help.",
                     retry=False, operator=True)
    if isinstance(exc, ProviderUnavailable):
        return unavailable(exc, idp)
    if isinstance(exc, StoreUnavailable):
        return unavailable(exc, idp)
    if exc.reason.startswith("identity cannot be sent as headers"):
        return Cause("identity_unsendable", 403, "Account cannot be used here",
                     "Your account's details hold characters that cannot be passed on to the "
                     "application, so no session was written.", retry=False, operator=True)
    if isinstance(exc, TokenError):
        return Cause("login_rejected", 403, "Sign-in not accepted",
                     f"The answer from {idp} was not accepted: this account may not be allowed "
                     "here, or the answer could not be verified.")
    return Cause("login_failed", exc.status, "Sign-in failed", "The sign-in could not be finished.")


def unavailable(exc: AuthsvcError, idp: str) -> Cause:
    """The IdP or the session store cannot be reached (a `ProviderUnavailable`, `StoreUnavailable`)."""
    if isinstance(exc, StoreUnavailable):
        return Cause("store_unavailable", 503, "Service unavailable",
                     "authsvc cannot reach its session store right now. Try again in a minute.")
    return Cause("idp_unreachable", exc.status, "Identity provider unreachable",
                 f"authsvc could not reach {idp}. Try again in a few minutes.")


def for_error(exc: AuthsvcError, idp: str) -> Cause:
    """The cause of an error outside the callback (e.g. /oauth2/start cannot reach the IdP)."""
    if isinstance(exc, ProviderUnavailable | StoreUnavailable):
        return unavailable(exc, idp)
    return Cause("error", exc.status, "Something went wrong", exc.public[:1].upper() + exc.public[1:] + ".")
