"""Per-route rules in the auth URL: `/oauth2/auth?allowed_groups=a,b&allowed_emails=x@y`.

One authsvc can guard many apps: each proxy location names its audience in the auth URL's query
(nginx `proxy_pass`, ingress-nginx `auth-url`, Traefik `address`, Caddy `uri`). Values are
comma-separated and a parameter may repeat: OR inside a parameter, AND across parameters
(oauth2-proxy `checkAllowed*`). These rules only ever narrow the global ones.

Rules may also come as `X-Authsvc-Allowed-Groups`, `-Emails` and `-Email-Domains` headers
(same syntax), which Envoy adds with `authorization_request.headers_to_add` (replacing a
client's copy). Both sources hold at once, from any peer: a rule can only narrow access, so a
client that adds one only locks itself out, and a rule that is found is never dropped (issue 11
§3). The one query that is not read is that of Envoy's prefix form under `proxy_kind = "envoy"`
(`/oauth2/auth/<path>?<client's query>`): it is the client's own URL, not a rule. Under `auto`
such a query is read, since an operator may have put rules on an auth URL with a path.

`allowed_clients` admits only machine identities with one of the client ids (a user never
passes it); `allowed_scopes` requires EVERY listed scope of the access token (unlike the other
parameters: a route needing `read` and `write` says so; RFC 6750 §3 `scope` lists them all);
`allowed_audiences` requires at least one of the listed audiences in its `aud`. A browser
session has no token scopes or audiences we know, so a scope or audience rule denies it.
`allowed_subjects` requires the identity's `sub` (a machine's or a user's) to be listed.

Fail closed where oauth2-proxy fails open: a parameter given with no value (a template that
rendered empty) admits nobody, and an unknown `allowed_*` parameter (a typo such as
`allowed_group`) denies everyone, since silently ignoring it would admit everyone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qsl, urlencode

from ..memo import BoundedMemo
from ..models import ALLOW, Decision, Identity
from .rules import denied, email_domain_allowed, valid_email

#: distinct auth-URL queries remembered; a config has a handful, a spray is bounded by this
CACHE_SIZE = 1024
MAX_QUERY = 8192

PARAMS = (
    "allowed_groups", "allowed_emails", "allowed_email_domains",
    "allowed_clients", "allowed_scopes", "allowed_audiences", "allowed_subjects",
)
HEADERS = {f"x-authsvc-{p.replace('_', '-')}": p for p in PARAMS}
_HEADER_NAMES = frozenset(HEADERS)


@dataclass(frozen=True, slots=True)
class RouteRule:
    """The constraints of one auth URL; None means the parameter was absent."""

    groups: frozenset[str] | None = None
    emails: frozenset[str] | None = None
    domains: tuple[str, ...] | None = None
    clients: frozenset[str] | None = None
    #: all required
    scopes: frozenset[str] | None = None
    audiences: frozenset[str] | None = None
    subjects: frozenset[str] | None = None
    #: set when the query itself is unusable: then nobody passes
    broken: str = ""

    def check(self, identity: Identity) -> Decision:
        """ALLOW, or the refusal."""
        if self.broken:
            return denied(f"per-route rules: {self.broken}")
        if self.groups is not None and self.groups.isdisjoint(identity.groups):
            return denied("per-route allowed_groups")
        if self.emails is not None and (
            not valid_email(identity.email) or identity.email.lower() not in self.emails
        ):
            return denied("per-route allowed_emails")
        if self.domains is not None and not email_domain_allowed(identity.email, self.domains):
            return denied("per-route allowed_email_domains")
        if self.clients is not None and not (identity.machine and identity.client_id in self.clients):
            return denied("per-route allowed_clients")
        # an empty list (a template that rendered empty) is a subset of anything: it admits nobody
        if self.scopes is not None and (
            not self.scopes or identity.scopes is None or not self.scopes <= identity.scopes
        ):
            return Decision(False, "per-route allowed_scopes", scope=" ".join(sorted(self.scopes)))
        if self.audiences is not None and self.audiences.isdisjoint(identity.audiences):
            return denied("per-route allowed_audiences")
        if self.subjects is not None and identity.subject not in self.subjects:
            return denied("per-route allowed_subjects")
        return ALLOW


NO_RULE = RouteRule()


class RouteCheck(Protocol):
    """A rule, or several that must all pass."""

    def check(self, identity: Identity) -> Decision: ...


@dataclass(frozen=True, slots=True)
class AllRules:
    """Several rules at once (the query's and the headers'): the first refusal wins."""

    rules: tuple[RouteRule, ...]

    def check(self, identity: Identity) -> Decision:
        for rule in self.rules:
            decision = rule.check(identity)
            if not decision.allowed:
                return decision
        return ALLOW


def parse_rule(query: str) -> RouteRule:
    """The rule a query string describes (never raises)."""
    if len(query) > MAX_QUERY:
        return RouteRule(broken="query too long")
    values: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in PARAMS:
            values.setdefault(name, []).extend(v.strip() for v in value.split(","))
        elif name.lower().startswith("allowed"):
            return RouteRule(broken=f"unknown parameter {name[:40]!r}")
    if not values:
        return NO_RULE

    def entries(name: str) -> list[str] | None:
        got = values.get(name)
        return None if got is None else [v for v in got if v]

    groups, emails, domains, clients, scopes, audiences, subjects = (entries(p) for p in PARAMS)

    def names(got: list[str] | None) -> frozenset[str] | None:
        return None if got is None else frozenset(got)

    return RouteRule(
        groups=names(groups),
        emails=None if emails is None else frozenset(e.lower() for e in emails),
        domains=None if domains is None else tuple(d.lower() for d in domains),
        clients=names(clients),
        scopes=names(scopes),
        audiences=names(audiences),
        subjects=names(subjects),
    )


class RouteRules:
    """Parsed per-route rules, cached per distinct query (the hot path parses nothing)."""

    def __init__(self) -> None:
        self._cache: BoundedMemo[str, RouteRule] = BoundedMemo(CACHE_SIZE)

    def from_query(self, query: str) -> RouteRule:
        """The rule of an auth URL's query string."""
        if not query:
            return NO_RULE
        rule = self._cache.data.get(query)
        if rule is None:
            rule = self._cache.put(query, parse_rule(query))
        return rule

    def from_headers(self, headers: Mapping[str, str]) -> RouteRule:
        """The rule sent as `X-Authsvc-Allowed-*` headers (Envoy's headers_to_add)."""
        if _HEADER_NAMES.isdisjoint(headers):  # the usual case: one set test, no list
            return NO_RULE
        present = [(param, headers[name]) for name, param in HEADERS.items() if name in headers]
        return self.from_query(urlencode(present))

    @staticmethod
    def both(first: RouteRule, second: RouteRule) -> RouteCheck:
        """Both rules must pass (no allocation when one of them is empty, the usual case)."""
        if second is NO_RULE:
            return first
        if first is NO_RULE:
            return second
        return AllRules((first, second))
