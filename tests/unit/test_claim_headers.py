"""`claim_headers` (extra identity headers from claims, oauth2-proxy#772) and `allowed_subjects`."""

from __future__ import annotations

from typing import Any

import pytest

from authsvc.check.headers import IdentityHeaders, decode_list
from authsvc.errors import ConfigError
from authsvc.models import KEPT_CLAIM, Identity, Session, Tokens
from authsvc.providers.bearer import token_identity
from authsvc.providers.claims import identity_from_claims
from authsvc.sessions import codec
from tests.conftest import make_settings
from tests.support.app_driver import browser_on, fake_idp_settings
from tests.support.auth_app import AuthApp
from tests.support.fake_idp import FakeIdP

MAP = ["X-Auth-Request-Tenant=tid", "X-Auth-Request-Department=org.department", "X-Roles=roles"]
CLAIMS: dict[str, Any] = {
    "sub": "u-1", "email": "ada@example.com", "tid": "acme,eu",
    "org": {"department": "R&D ünits"}, "roles": ["admin", "x,y", ""],
}  # fmt: skip


def headers_of(identity: Identity, **options: Any) -> dict[str, str]:
    return IdentityHeaders(make_settings(claim_headers=MAP, **options)).for_session(Session(identity))


def test_kept_claims_become_headers_encoded_like_the_others() -> None:
    settings = make_settings(claim_headers=MAP)
    identity = identity_from_claims(CLAIMS, settings, settings.kept_claims)
    got = headers_of(identity)
    # a string claim is a list of one: its comma is escaped, never a second item
    assert got["X-Auth-Request-Tenant"] == "acme%2Ceu"
    assert decode_list(got["X-Auth-Request-Tenant"]) == ["acme,eu"]
    assert got["X-Auth-Request-Department"] == "R&D %C3%BCnits"
    assert decode_list(got["X-Roles"]) == ["admin", "x,y"]  # joined like groups, empties dropped


def test_headers_are_always_there_empty_when_the_claim_is_missing() -> None:
    got = headers_of(Identity(user="u-1", email="ada@example.com"))
    assert [got[n] for n in ("X-Auth-Request-Tenant", "X-Auth-Request-Department", "X-Roles")] == [""] * 3
    empty = IdentityHeaders(make_settings(claim_headers=MAP)).empty()
    assert empty["X-Auth-Request-Tenant"] == "" and "X-Roles" in empty


def test_scalar_claims_and_objects() -> None:
    settings = make_settings(claim_headers=["X-A=a", "X-B=b", "X-C=c"])
    identity = identity_from_claims({"sub": "s", "a": 42, "b": True, "c": {"x": 1}}, settings,
                                    settings.kept_claims)
    got = IdentityHeaders(settings).for_session(Session(identity))
    assert (got["X-A"], got["X-B"], got["X-C"]) == ("42", "true", "")


def test_kept_claims_survive_the_session_codec_and_old_sessions_still_open() -> None:
    settings = make_settings(claim_headers=MAP)
    identity = identity_from_claims(CLAIMS, settings, settings.kept_claims)
    session = Session(identity, Tokens(access_token="at"), created_at=1, expires_at=9)
    assert codec.decode(codec.encode(session)) == session
    old = codec.decode(codec.encode(Session(Identity(user="u-1"), created_at=1)))  # no "xc"
    assert headers_of(old.identity)["X-Auth-Request-Tenant"] == ""


def test_bearer_token_claims_are_kept_for_users_and_machines() -> None:
    settings = make_settings(claim_headers=MAP)
    user = token_identity({**CLAIMS, "azp": "web"}, settings)
    assert headers_of(user)["X-Auth-Request-Tenant"] == "acme%2Ceu"
    machine = token_identity({"client_id": "svc", "sub": "svc", "tid": "acme"}, settings)
    assert machine.machine and headers_of(machine)["X-Auth-Request-Tenant"] == "acme"


def test_other_extra_entries_are_not_claims() -> None:
    identity = Identity(user="u", extra=(("cnf.jkt", "k"), (KEPT_CLAIM + "tid", "t")))
    assert headers_of(identity)["X-Auth-Request-Tenant"] == "t"


@pytest.mark.parametrize(("entry", "says"), [
    ("X-Tenant", "is not `Header-Name=claim`"),
    ("X-Tenant=", "is not `Header-Name=claim`"),
    ("X Tenant=tid", "is not a header name"),
    ("X-Tenant:=tid", "is not a header name"),
    ("x-auth-request-email=tid", "one of the identity headers"),
    ("Authorization=tid", "one of the identity headers"),
    ("Connection=tid", "hop-by-hop"),
    ("Transfer-Encoding=tid", "hop-by-hop"),
    ("Set-Cookie=tid", "hop-by-hop or response header"),
])  # fmt: skip
def test_bad_names_are_refused(entry: str, says: str) -> None:
    with pytest.raises(ConfigError, match="claim_headers") as info:
        make_settings(claim_headers=[entry])
    assert says in str(info.value)


def test_a_header_mapped_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="mapped twice"):
        make_settings(claim_headers=["X-Tenant=tid", "x-tenant=org"])


def test_the_environment_gives_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHSVC_CLAIM_HEADERS", "X-Tenant=tid, X-Dept=org.department")
    monkeypatch.setenv("AUTHSVC_ALLOWED_SUBJECTS", "svc-1,u-9")
    s = make_settings()
    assert s.claim_header_map == (("X-Tenant", "tid"), ("X-Dept", "org.department"))
    assert s.allowed_subjects == ["svc-1", "u-9"]


@pytest.mark.anyio
async def test_a_login_keeps_the_claims_in_the_session(fake_idp: FakeIdP) -> None:
    settings = fake_idp_settings(fake_idp, email_domains=["*"], claim_headers=MAP)
    async with browser_on(settings, fake_idp) as browser:
        callback = await browser.login(email="ada@example.com", tid="acme", org={"department": "ops"})
        assert callback.status_code == 302, callback.text
        answer = await browser.auth()
        assert answer.status_code == 202
        assert answer.headers["x-auth-request-tenant"] == "acme"
        assert answer.headers["x-auth-request-department"] == "ops"
        assert answer.headers["x-roles"] == ""


@pytest.mark.anyio
async def test_a_claim_only_in_userinfo_is_kept(fake_idp: FakeIdP) -> None:
    settings = fake_idp_settings(fake_idp, email_domains=["*"], claim_headers=MAP)
    async with browser_on(settings, fake_idp) as browser:
        callback = await browser.login(email="ada@example.com", groups=["dev"], tid="acme",
                                       userinfo_only=["tid"])  # e-mail, groups in the ID token
        assert callback.status_code == 302, callback.text
        assert (await browser.auth()).headers["x-auth-request-tenant"] == "acme"


# allowed_subjects: explicit, like allowed_clients; a machine or a user

@pytest.mark.parametrize(("options", "identity", "status"), [
    ({"allowed_subjects": ["svc-1"]}, {"user": "svc-1", "subject": "svc-1", "machine": True,
                                       "client_id": "svc-1", "email": ""}, 202),
    ({"allowed_subjects": ["u-7"]}, {"subject": "u-7", "email": "eve@other.org"}, 202),
    ({"allowed_subjects": ["u-7"]}, {"subject": "u-8", "email": "eve@other.org"}, 403),
    ({"allowed_subjects": ["u-7"]}, {"subject": "", "email": "eve@other.org"}, 403),
    # email_domains still never admits a machine
    ({"allowed_subjects": ["x"], "email_domains": ["*"]},
     {"user": "svc-1", "subject": "svc-1", "machine": True, "client_id": "svc-1", "email": ""}, 403),
])  # fmt: skip
@pytest.mark.anyio
async def test_allowed_subjects(options: dict[str, Any], identity: dict[str, Any], status: int) -> None:
    async with AuthApp.start(make_settings(**options)) as app:
        response = await app.auth(cookie=await app.cookie(**identity))
        assert response.status_code == status, response.text


@pytest.mark.parametrize(("query", "subject", "status"), [
    ("allowed_subjects=u-1,u-2", "u-2", 202),
    ("allowed_subjects=u-1", "u-2", 403),
    ("allowed_subjects=", "u-2", 403),
])  # fmt: skip
@pytest.mark.anyio
async def test_per_route_allowed_subjects(query: str, subject: str, status: int) -> None:
    async with AuthApp.start(make_settings(email_domains=["*"], proxy_kind="nginx")) as app:
        response = await app.auth(f"/oauth2/auth?{query}", cookie=await app.cookie(subject=subject))
        assert response.status_code == status, response.text


def test_a_claim_no_header_can_carry_is_a_refusal_not_another_value() -> None:
    headers = IdentityHeaders(make_settings(claim_headers=MAP))
    session = Session(Identity(user="u", extra=((KEPT_CLAIM + "tid", "acme\ud800"),)))
    assert headers.refusal(session) is not None  # login answers 403 (check/headers.py)
    assert headers.raw_for_session(session) is None
