"""Authorization: (Identity, OriginalRequest) -> Decision. Pure; no I/O, no clock."""

from __future__ import annotations

from collections.abc import Iterable

from .config import Settings
from .models import ALLOW, Decision, Identity, OriginalRequest


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


class Rules:
    """The global access rules, compiled once from settings."""

    def __init__(self, settings: Settings) -> None:
        self._email_domains = tuple(d.lower() for d in settings.email_domains)

    def authorize(self, identity: Identity, request: OriginalRequest | None = None) -> Decision:
        """Allow, or 403 with a reason for the log (never shown to the client)."""
        if not email_domain_allowed(identity.email, self._email_domains):
            reason = "invalid e-mail" if not valid_email(identity.email) else "e-mail domain"
            return Decision(False, 403, f"{reason} not allowed")
        return ALLOW
