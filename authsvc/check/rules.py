"""Global authorization: Identity -> Decision. Compiled once from settings; no I/O per request.

oauth2-proxy semantics (reference §5): the e-mail passes if its domain is in `email_domains` OR
the address is in `authenticated_emails_file`; then, when `allowed_groups` is set, the identity
must hold at least one of them. An empty `email_domains` and no file lets nobody in.

A machine identity (a client-credentials token, providers/bearer.py) has no e-mail to judge:
only `allowed_clients` admits it, by its client id (or `allowed_subjects`, by its `sub`, which
admits a user too). `email_domains = ["*"]` means "any user",
never "any token": oauth2-proxy admits a token without an e-mail there, so every client of the
IdP got in (issue 16); here a machine the operator did not name gets 403.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..clock import Clock, system_clock
from ..config import Settings
from ..memo import BoundedMemo
from ..models import ALLOW, Decision, Identity
from .emails_file import EmailsFile
from .htpasswd import HTPASSWD


def valid_email(email: str) -> bool:
    """Exactly one '@' with text on both sides (GHSA-c5c4-8r6x-56w3: 'a@evil.com@good.com')."""
    local, at, domain = email.partition("@")
    return bool(local) and bool(at) and bool(domain) and "@" not in domain


def email_domain_allowed(email: str, domains: Iterable[str]) -> bool:
    """`example.com` exact; `.example.com` / `*.example.com` subdomains only; `*` any domain.

    The suffix is matched *with* its leading dot, so `.bar.foo` never admits `evilbar.foo`
    (CVE-2021-21291).
    """
    if not valid_email(email):
        return False
    domain = email.rsplit("@", 1)[1].lower()
    for allowed in domains:
        allowed = allowed.strip().lower()
        if allowed == "*":
            return True
        if allowed.startswith("*."):
            allowed = allowed[1:]
        if allowed.startswith("."):
            if domain.endswith(allowed):
                return True
        elif domain == allowed:
            return True
    return False


class EmailDomains:
    """`email_domain_allowed(email, domains)` for one fixed list, compiled once: a set of
    exact domains, a tuple of dotted suffixes for one `endswith`, and whether `*` is listed."""

    def __init__(self, domains: Iterable[str]) -> None:
        exact: set[str] = set()
        suffixes: list[str] = []
        self.any = False
        for allowed in domains:
            allowed = allowed.strip().lower()
            if allowed == "*":
                self.any = True
            if allowed.startswith("*."):
                allowed = allowed[1:]
            if allowed.startswith("."):
                suffixes.append(allowed)
            else:
                exact.add(allowed)
        self.exact = frozenset(exact)
        self.suffixes = tuple(suffixes)

    def allows(self, email: str) -> bool:
        """What email_domain_allowed answers for this list."""
        if not valid_email(email):
            return False
        if self.any:
            return True
        domain = email.rsplit("@", 1)[1].lower()
        return domain in self.exact or (bool(self.suffixes) and domain.endswith(self.suffixes))


#: identities whose decision is remembered (as many as the session cache holds)
_DECIDED_MEMO = 4096


def denied(reason: str) -> Decision:
    """Signed in, but not allowed: a 403 (401 would send the browser round a login loop)."""
    return Decision(False, reason)


class Rules:
    """The global access rules, compiled once from settings."""

    def __init__(self, settings: Settings, clock: Clock = system_clock) -> None:
        self._email_domains = EmailDomains(settings.email_domains)
        self._emails = (
            EmailsFile(settings.authenticated_emails_file, clock)
            if settings.authenticated_emails_file
            else None
        )
        self._groups = frozenset(settings.allowed_groups)
        self._allow_unverified = settings.insecure_oidc_allow_unverified_email
        self._clients = frozenset(settings.allowed_clients)
        self._subjects = frozenset(s for s in settings.allowed_subjects if s)
        #: id(identity) -> (that identity, its decision): a cached session brings the same
        #: Identity object to every check, and the decision depends on nothing else (unless an
        #: e-mails file, which may change, is read: then it is decided each time)
        self._decided: BoundedMemo[int, tuple[Identity, Decision]] = BoundedMemo(_DECIDED_MEMO)

    def authorize(self, identity: Identity) -> Decision:
        """Allow, or 403 with a reason for the log (never shown to the client)."""
        if self._emails is not None:
            return self._authorize(identity)
        hit = self._decided.data.get(id(identity))
        if hit is not None and hit[0] is identity:
            return hit[1]
        decision = self._authorize(identity)
        # the entry holds the identity, so its id is not reused while remembered
        self._decided.put(id(identity), (identity, decision))
        return decision

    def _authorize(self, identity: Identity) -> Decision:
        # named explicitly by its IdP subject: a machine or a person, whatever its e-mail
        if identity.subject and identity.subject in self._subjects:
            return ALLOW
        if identity.machine:
            # e-mail and group rules are about users: a machine passes by name, or not at all
            return ALLOW if identity.client_id in self._clients else denied(
                "machine identity: client not in allowed_clients")
        email = identity.email
        # htpasswd users have no e-mail to judge (oauth2-proxy checks an e-mail only if there is one)
        if identity.extra and HTPASSWD in identity.extra:
            return denied("not in allowed_groups") if self._groups and self._groups.isdisjoint(
                identity.groups) else ALLOW
        if not valid_email(email):
            return denied("invalid e-mail not allowed")
        # claims.py refuses these at login; checked again for sessions and bearer identities
        if identity.email_verified is False and not self._allow_unverified:
            return denied("unverified e-mail not allowed")
        if not self._email_domains.allows(email) and not (
            self._emails is not None and email.lower() in self._emails
        ):
            return denied("e-mail domain not allowed")
        if self._groups and self._groups.isdisjoint(identity.groups):
            return denied("not in allowed_groups")
        return ALLOW
