"""check/decide.py: one Decision over the global and the per-route rules."""

from __future__ import annotations

from authsvc.check.decide import Access
from authsvc.check.paths import PathRules
from authsvc.check.route_rules import AllRules, parse_rule
from authsvc.check.rules import Rules
from authsvc.models import ALLOW, Identity, OriginalRequest
from tests.conftest import make_settings

ADA = Identity("ada", "ada@example.com", groups=("admins",))
EVE = Identity("eve", "eve@evil.test", groups=("admins",))


def access(**settings: object) -> Access:
    s = make_settings(email_domains="example.com", **settings)
    return Access(PathRules(s.skip_auth_routes, s.api_routes, s.skip_auth_preflight), Rules(s))


def test_allowed_is_allow_with_or_without_a_route_rule() -> None:
    assert access().decide(ADA) is ALLOW
    assert access().decide(ADA, parse_rule("allowed_groups=admins")) is ALLOW


def test_the_global_refusal_comes_first() -> None:
    decision = access().decide(EVE, parse_rule("allowed_groups=admins"))
    assert not decision.allowed and decision.reason == "e-mail domain not allowed"


def test_a_route_rule_only_narrows() -> None:
    decision = access().decide(ADA, parse_rule("allowed_groups=ops"))
    assert not decision.allowed and decision.reason == "per-route allowed_groups"
    both = AllRules((parse_rule("allowed_groups=admins"), parse_rule("allowed_emails=bo@example.com")))
    assert access().decide(ADA, both).reason == "per-route allowed_emails"


def test_public_and_api_paths() -> None:
    rules = access(skip_auth_routes="^/public/", api_routes="^/api/")
    assert rules.public(OriginalRequest("GET", "https", "a.test", "/public/x", verified=True))
    assert not rules.public(OriginalRequest("GET", "https", "a.test", "/api/x", verified=True))
    assert rules.api(OriginalRequest("GET", "https", "a.test", "/api/x", verified=True))
