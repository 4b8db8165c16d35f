"""Every access rule and combination, judged through the ASGI app: 202, 401 or 403.

Sessions are minted with the real cookie store; the rows are (settings, identity, auth URL).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from tests.support.auth_app import STRANGER, AuthApp

pytestmark = pytest.mark.anyio

ADA: dict[str, Any] = {"user": "ada", "email": "ada@example.com", "groups": ("admins",)}
BOB: dict[str, Any] = {"user": "bob", "email": "bob@example.com", "groups": ("dev",)}


def who(**fields: Any) -> dict[str, Any]:
    return {"user": "u", **fields}


GLOBAL = [
    # email_domains: exact, subdomains (".x" and "*.x"), any ("*"), exactly one "@"
    ({"email_domains": ["example.com"]}, who(email="ada@example.com"), 202),
    ({"email_domains": ["example.com"]}, who(email="ADA@EXAMPLE.COM"), 202),
    ({"email_domains": ["example.com"]}, who(email="ada@other.com"), 403),
    ({"email_domains": ["example.com"]}, who(email="ada@sub.example.com"), 403),
    ({"email_domains": [".example.com"]}, who(email="ada@sub.example.com"), 202),
    ({"email_domains": [".example.com"]}, who(email="ada@example.com"), 403),
    ({"email_domains": ["*.example.com"]}, who(email="ada@a.b.example.com"), 202),
    ({"email_domains": [".bar.foo"]}, who(email="ada@evilbar.foo"), 403),  # CVE-2021-21291
    ({"email_domains": ["*"]}, who(email="ada@anything.org"), 202),
    ({"email_domains": ["*"]}, who(email=""), 403),
    ({"email_domains": ["*"]}, who(email="not-an-email"), 403),
    ({"email_domains": ["*"]}, who(email="@example.com"), 403),
    ({"email_domains": ["example.com"]}, who(email="attacker@evil.com@example.com"), 403),
    ({"email_domains": ["*"]}, who(email="attacker@evil.com@example.com"), 403),
    ({"email_domains": []}, who(email="ada@example.com"), 403),  # nobody by default
    # unverified e-mail
    ({"email_domains": ["*"]}, who(email="ada@example.com", email_verified=False), 403),
    ({"email_domains": ["*"]}, who(email="ada@example.com", email_verified=True), 202),
    ({"email_domains": ["*"], "insecure_oidc_allow_unverified_email": True},
     who(email="ada@example.com", email_verified=False), 202),
    # allowed_groups (global): at least one
    ({"email_domains": ["*"], "allowed_groups": ["admins"]}, ADA, 202),
    ({"email_domains": ["*"], "allowed_groups": ["admins"]}, BOB, 403),
    ({"email_domains": ["*"], "allowed_groups": ["admins", "dev"]}, BOB, 202),
    ({"email_domains": ["*"], "allowed_groups": ["admins"]}, who(email="x@example.com"), 403),
    ({"email_domains": ["*"], "allowed_groups": ["Admins"]}, ADA, 403),  # names are exact
    # domain AND groups
    ({"email_domains": ["other.org"], "allowed_groups": ["admins"]}, ADA, 403),
]


@pytest.mark.parametrize(("options", "identity", "status"), GLOBAL)
async def test_global_rules(options: dict[str, Any], identity: dict[str, Any], status: int) -> None:
    async with AuthApp.start(make_settings(**options)) as app:
        response = await app.auth(cookie=await app.cookie(**identity))
        assert response.status_code == status, response.text
        assert ("x-auth-request-user" in response.headers) == (status == 202)


@pytest.fixture
def emails_file(tmp_path: Path) -> Path:
    path = tmp_path / "emails.csv"
    path.write_text("# allowed people\nbob@other.org,Bob\n\n  Carol@Elsewhere.NET \n#eve@other.org\n")
    return path


FILE_ROWS = [
    # the file OR the domains admit a user
    (["example.com"], who(email="bob@other.org"), 202),
    (["example.com"], who(email="BOB@other.org"), 202),
    (["example.com"], who(email="carol@elsewhere.net"), 202),
    (["example.com"], who(email="ada@example.com"), 202),
    (["example.com"], who(email="eve@other.org"), 403),  # commented out
    ([], who(email="bob@other.org"), 202),
    ([], who(email="ada@example.com"), 403),
    ([], who(email="bob@other.org@example.com"), 403),
]


@pytest.mark.parametrize(("domains", "identity", "status"), FILE_ROWS)
async def test_authenticated_emails_file(
    emails_file: Path, domains: list[str], identity: dict[str, Any], status: int
) -> None:
    settings = make_settings(email_domains=domains, authenticated_emails_file=str(emails_file))
    async with AuthApp.start(settings) as app:
        response = await app.auth(cookie=await app.cookie(**identity))
        assert response.status_code == status


async def test_emails_file_with_allowed_groups(emails_file: Path) -> None:
    settings = make_settings(authenticated_emails_file=str(emails_file), allowed_groups=["ops"])
    async with AuthApp.start(settings) as app:
        ok = await app.auth(cookie=await app.cookie(email="bob@other.org", groups=("ops",)))
        no = await app.auth(cookie=await app.cookie(email="bob@other.org", groups=("dev",)))
        assert (ok.status_code, no.status_code) == (202, 403)


ROUTE = [
    # OR inside a parameter
    ("allowed_groups=admins", ADA, 202),
    ("allowed_groups=admins", BOB, 403),
    ("allowed_groups=ops,dev", BOB, 202),
    ("allowed_groups=ops%2Cdev", BOB, 202),
    ("allowed_groups=ops&allowed_groups=dev", BOB, 202),  # repeated: still OR
    ("allowed_emails=ada@example.com", ADA, 202),
    ("allowed_emails=ADA%40example.com", ADA, 202),
    ("allowed_emails=ada@example.com", BOB, 403),
    ("allowed_emails=x@y.org,bob@example.com", BOB, 202),
    ("allowed_email_domains=example.com", ADA, 202),
    ("allowed_email_domains=other.org", ADA, 403),
    ("allowed_email_domains=.example.com", ADA, 403),
    ("allowed_email_domains=other.org,example.com", ADA, 202),
    # AND across parameters
    ("allowed_groups=admins&allowed_emails=bob@example.com", ADA, 403),
    ("allowed_groups=admins,dev&allowed_emails=bob@example.com", BOB, 202),
    ("allowed_groups=admins&allowed_email_domains=example.com", ADA, 202),
    ("allowed_groups=admins&allowed_email_domains=other.org", ADA, 403),
    ("allowed_groups=dev&allowed_emails=bob@example.com&allowed_email_domains=example.com", BOB, 202),
    ("allowed_groups=dev&allowed_emails=bob@example.com&allowed_email_domains=x.org", BOB, 403),
    # an e-mail with two "@" never matches (GHSA-c5c4-8r6x-56w3)
    ("allowed_email_domains=example.com", who(email="attacker@evil.com@example.com"), 403),
    ("allowed_emails=attacker@evil.com@example.com", who(email="attacker@evil.com@example.com"), 403),
    # fail closed: an empty list admits nobody, a misspelt parameter denies everyone
    ("allowed_groups=", ADA, 403),
    ("allowed_groups=,", ADA, 403),
    ("allowed_group=admins", ADA, 403),
    ("Allowed_Groups=admins", ADA, 403),
    # other parameters are no rule at all
    ("", ADA, 202),
    ("foo=bar", BOB, 202),
]


@pytest.mark.parametrize(("query", "identity", "status"), ROUTE)
async def test_per_route_rules(query: str, identity: dict[str, Any], status: int) -> None:
    async with AuthApp.start(make_settings(email_domains=["*"], proxy_kind="nginx")) as app:
        response = await app.auth(f"/oauth2/auth?{query}", cookie=await app.cookie(**identity))
        assert response.status_code == status, response.text


async def test_per_route_rules_only_narrow_the_global_ones() -> None:
    settings = make_settings(email_domains=["example.com"], allowed_groups=["admins"])
    async with AuthApp.start(settings) as app:
        other = await app.cookie(email="ada@other.org", groups=("admins",))
        dev = await app.cookie(**BOB)
        widen = await app.auth("/oauth2/auth?allowed_email_domains=other.org", cookie=other)
        assert widen.status_code == 403
        assert (await app.auth("/oauth2/auth?allowed_groups=dev", cookie=dev)).status_code == 403


async def test_per_route_rules_without_a_session_are_401() -> None:
    async with AuthApp.start(make_settings(email_domains=["*"])) as app:
        assert (await app.auth("/oauth2/auth?allowed_groups=admins")).status_code == 401


async def test_per_route_rules_are_parsed_once_per_query() -> None:
    async with AuthApp.start(make_settings(email_domains=["*"])) as app:
        cookie = await app.cookie(**ADA)
        for _ in range(3):
            await app.auth("/oauth2/auth?allowed_groups=admins", cookie=cookie)
        rules = app.services.route_rules
        assert rules.from_query("allowed_groups=admins") is rules.from_query("allowed_groups=admins")


ENVOY = [
    # path_prefix mode: under envoy the query is the client's own and never a rule
    ("envoy", "/oauth2/auth/app?allowed_groups=nobody", {}, BOB, 202),
    ("envoy", "/oauth2/auth/app?allowed=1&allowed_groups_x=2", {}, BOB, 202),
    # a bare check is not Envoy's prefix form: its query is the auth URL's
    ("envoy", "/oauth2/auth?allowed_groups=admins", {}, BOB, 403),
    # the rules come from headers Envoy adds (headers_to_add)
    ("envoy", "/oauth2/auth/app", {"X-Authsvc-Allowed-Groups": "admins"}, BOB, 403),
    ("envoy", "/oauth2/auth/app", {"X-Authsvc-Allowed-Groups": "admins"}, ADA, 202),
    ("envoy", "/oauth2/auth/app", {"X-Authsvc-Allowed-Emails": "bob@example.com"}, ADA, 403),
    ("envoy", "/oauth2/auth/app", {"X-Authsvc-Allowed-Email-Domains": "other.org"}, ADA, 403),
    ("envoy", "/oauth2/auth/app", {"X-Authsvc-Allowed-Groups": ""}, ADA, 403),
    ("auto", "/oauth2/auth/app", {"X-Authsvc-Allowed-Groups": "admins"}, BOB, 403),
    # rules only narrow: the headers hold under every kind, beside the query
    ("nginx", "/oauth2/auth", {"X-Authsvc-Allowed-Groups": "admins"}, BOB, 403),
    ("traefik", "/oauth2/auth?allowed_groups=dev", {"X-Authsvc-Allowed-Groups": "admins"}, BOB, 403),
    ("traefik", "/oauth2/auth?allowed_groups=dev", {"X-Authsvc-Allowed-Groups": "dev"}, BOB, 202),
    ("envoy", "/oauth2/auth?allowed_groups=admins", {"X-Authsvc-Allowed-Groups": "dev"}, BOB, 403),
]


@pytest.mark.parametrize(("kind", "path", "headers", "identity", "status"), ENVOY)
async def test_per_route_rules_under_envoy(
    kind: str, path: str, headers: dict[str, str], identity: dict[str, Any], status: int
) -> None:
    async with AuthApp.start(make_settings(email_domains=["*"], proxy_kind=kind)) as app:
        response = await app.auth(path, cookie=await app.cookie(**identity), headers=headers)
        assert response.status_code == status


async def test_rule_headers_narrow_from_any_peer() -> None:
    """A rule found is a rule kept (issue 11 §3): from a stranger it can only lock out."""
    async with AuthApp.start(make_settings(email_domains=["*"], proxy_kind="envoy")) as app:
        response = await app.auth(
            "/oauth2/auth/app", cookie=await app.cookie(**BOB),
            headers={"X-Authsvc-Allowed-Groups": "admins"}, peer=STRANGER,
        )
        assert response.status_code == 403


NEVER_DROPPED = [
    # issue 11 §3: an auth URL with a path (a trailing slash, a per-app path) under auto was
    # read as Envoy's prefix form and its query ignored: everyone passed
    ("auto", "/oauth2/auth/?allowed_groups=admins"),
    ("auto", "/oauth2/auth/app?allowed_groups=admins"),
    ("auto", "/oauth2/auth/app/x?allowed_emails=ada@example.com"),
    ("auto", "/oauth2/auth/?allowed_email_domains=other.org"),
    # a typo or an empty value there denies rather than being ignored
    ("auto", "/oauth2/auth/app?allowed_group=dev"),
    ("auto", "/oauth2/auth/app?allowed_groups="),
    # the same auth URLs under the other kinds
    ("traefik", "/oauth2/auth/?allowed_groups=admins"),
    ("caddy", "/oauth2/auth/app?allowed_groups=admins"),
    ("nginx", "/oauth2/auth/app?allowed_groups=admins"),
    ("ingress-nginx", "/oauth2/auth/app?allowed_groups=admins"),
]


@pytest.mark.parametrize(("kind", "path"), NEVER_DROPPED)
async def test_a_rule_on_an_auth_url_with_a_path_is_never_dropped(kind: str, path: str) -> None:
    async with AuthApp.start(make_settings(email_domains=["*"], proxy_kind=kind)) as app:
        response = await app.auth(path, cookie=await app.cookie(**BOB))
        assert response.status_code == 403
        # the control: the same auth URL without the rule lets bob in
        bare = path.split("?", 1)[0]
        assert (await app.auth(bare, cookie=await app.cookie(**BOB))).status_code == 202


@pytest.mark.parametrize("kind", ["auto", "nginx", "traefik", "envoy"])
@pytest.mark.parametrize(
    "headers",
    [
        # which copy is the proxy's rule cannot be known: nobody passes
        [("X-Authsvc-Allowed-Groups", "dev"), ("X-Authsvc-Allowed-Groups", "admins")],
        [("X-Authsvc-Allowed-Groups", "admins"), ("X-Authsvc-Allowed-Groups", "dev")],
        [("X-Authsvc-Allowed-Emails", "bob@example.com"), ("x-authsvc-allowed-emails", "x@y.z")],
    ],
)
async def test_a_repeated_rule_header_denies(kind: str, headers: list[tuple[str, str]]) -> None:
    async with AuthApp.start(make_settings(email_domains=["*"], proxy_kind=kind)) as app:
        path = "/oauth2/auth/app" if kind == "envoy" else "/oauth2/auth"
        cookie = await app.cookie(**BOB)
        response = await app.client().get(path, headers=[*headers, ("Cookie", cookie)])
        assert response.status_code == 403
        # the control: bob passes the rule (dev, or his address) when it comes once
        single = [headers[0], ("Cookie", cookie)]
        expected = 403 if headers[0][1] == "admins" else 202
        assert (await app.client().get(path, headers=single)).status_code == expected


def test_compiled_email_domains_answer_as_email_domain_allowed() -> None:
    """rules.EmailDomains (the global rules' compiled list) against email_domain_allowed itself,
    over lists and addresses chosen to hit every branch (seeded, so a failure repeats)."""
    import random

    from authsvc.check.rules import EmailDomains, email_domain_allowed

    pieces = ["example.com", ".example.com", "*.example.com", "*", "EXAMPLE.com ", " .Bar.Foo", "*.", ".", "",
              "evilexample.com", "sub.example.com"]  # fmt: skip
    emails = ["a@example.com", "a@sub.example.com", "a@evilexample.com", "a@bar.foo", "a@evilbar.foo",
              "a@x.bar.foo", "A@EXAMPLE.COM", "a@b.", "a@", "@example.com", "a@b@example.com", "plain", "",
              "a@sub.sub.example.com"]  # fmt: skip
    rng = random.Random(17)
    for _ in range(400):
        domains = rng.sample(pieces, rng.randint(0, 4))
        compiled = EmailDomains(domains)
        for email in emails:
            assert compiled.allows(email) == email_domain_allowed(email, domains), (domains, email)


def test_remembered_decisions_belong_to_their_identity_object() -> None:
    """The global decision is remembered per Identity object (a cached session's): an equal
    but distinct identity, or another one, is judged itself; with an e-mails file (which may
    change) nothing is remembered."""
    from authsvc.check.rules import Rules
    from authsvc.models import Identity

    rules = Rules(make_settings(email_domains=["example.com"], allowed_groups=["admins"]))
    ada = Identity(user="ada", email="ada@example.com", groups=("admins",))
    eve = Identity(user="eve", email="eve@example.com", groups=("dev",))
    assert rules.authorize(ada).allowed and rules.authorize(ada).allowed
    assert not rules.authorize(eve).allowed
    assert rules.authorize(Identity(user="ada", email="ada@example.com", groups=("admins",))).allowed
    assert len(rules._decided) == 3
    refused = rules.authorize(eve)
    assert (refused.allowed, refused.reason) == (False, "not in allowed_groups")


def test_decisions_with_an_emails_file_follow_the_file(tmp_path: Path) -> None:
    from authsvc.check.rules import Rules
    from authsvc.models import Identity

    emails = tmp_path / "emails.txt"
    emails.write_text("ada@other.org\n")
    now = [1000.0]
    settings = make_settings(email_domains=[], authenticated_emails_file=str(emails))
    rules = Rules(settings, clock=lambda: now[0])
    ada = Identity(user="ada", email="ada@other.org")
    assert rules.authorize(ada).allowed
    emails.write_text("bob@other.org\n")
    import os

    os.utime(emails, (2000, 2000))
    now[0] += 3600  # past any re-read interval
    assert not rules.authorize(ada).allowed
    assert len(rules._decided) == 0
