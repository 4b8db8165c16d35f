"""Who may pass, decided in one place, over the three kinds of rules, in the check's order.

1. Path rules (`paths.py`): a public route (`skip_auth_routes`, a CORS preflight) passes with no
   session at all; an `api_routes` path never gets a sign-in redirect.
2. The global rules (`rules.py`): e-mail domains or the e-mails file, then `allowed_groups`.
3. The route's own rules (`route_rules.py`, from the auth URL or Envoy's headers), which only
   ever narrow the global ones.

Every rule answers with a `Decision` (ALLOW, or a refusal with a reason for the log); the edge
turns a refusal into a 403.
"""

from __future__ import annotations

from ..models import Decision, Identity, OriginalRequest
from .paths import PathRules
from .route_rules import NO_RULE, RouteCheck
from .rules import Rules


class Access:
    """The compiled rules of one app."""

    def __init__(self, paths: PathRules, rules: Rules) -> None:
        self._paths = paths
        self._rules = rules

    def public(self, original: OriginalRequest) -> bool:
        """Whether the request passes without a session (its identity headers are sent empty)."""
        return self._paths.skipped(original)

    def api(self, original: OriginalRequest) -> bool:
        """Whether the request is an API call: 401, never a sign-in redirect."""
        return self._paths.is_api(original)

    def decide(self, identity: Identity, route: RouteCheck = NO_RULE) -> Decision:
        """The global rules, then the route's (at login: the global ones only)."""
        decision = self._rules.authorize(identity)
        # no rule of the route's own (the usual check): nothing to narrow
        return route.check(identity) if decision.allowed and route is not NO_RULE else decision
