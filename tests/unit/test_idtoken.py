"""ID token verification: every check of OIDC Core §3.1.3.7, as parametrized negatives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from authsvc.config import load_settings
from authsvc.errors import TokenError
from authsvc.providers.claims import claim, identity_from_claims
from authsvc.providers.idtoken import IDTokenVerifier
from authsvc.providers.jws import allowed_algs
from authsvc.providers.metadata import KID_REFETCH_INTERVAL, MetadataCache
from tests.support.fake_idp import FakeIdP, ManualClock

NOW = 1_700_000_000
NONCE = "nonce-1"


def settings(idp: FakeIdP, **options: Any) -> Any:
    return load_settings(
        cookie_secret="a" * 32, client_id=idp.client_id, client_secret=idp.client_secret,
        oidc_issuer_url=idp.issuer, email_domains=["*"], **options,
    )


@pytest.fixture
def clock(fake_idp: FakeIdP) -> ManualClock:
    fake_idp.clock = ManualClock(NOW)
    return fake_idp.clock


@pytest.fixture
async def verifier(fake_idp: FakeIdP, clock: ManualClock) -> AsyncIterator[IDTokenVerifier]:
    async with httpx.AsyncClient() as http:
        s = settings(fake_idp, oidc_extra_audiences=["other-api"])
        yield IDTokenVerifier(s, MetadataCache(s, http, clock), clock)


BAD_TOKENS: list[tuple[str, dict[str, Any], str]] = [
    ("wrong-iss", {"iss": "https://evil.example.test"}, "iss"),
    ("iss-trailing-slash", {"iss": "https://idp.example.test/"}, "iss"),
    ("wrong-aud", {"aud": "someone-else"}, "aud"),
    ("aud-list-without-us", {"aud": ["a", "b"]}, "aud"),
    ("several-aud-no-azp", {"aud": ["client", "other-api"]}, "azp"),
    ("foreign-azp", {"azp": "someone-else"}, "azp"),
    ("wrong-nonce", {"nonce": "nonce-2"}, "nonce"),
    ("no-nonce", {"nonce": None}, "nonce"),
    ("expired", {"exp": NOW - 61}, "exp"),
    ("iat-in-future", {"iat": NOW + 120}, "iat"),
    ("nbf-in-future", {"nbf": NOW + 120}, "nbf"),
    ("no-sub", {"sub": None}, "sub"),
    ("no-exp", {"exp": None}, "exp"),
    ("no-iat", {"iat": None}, "iat"),
    ("bad-signature", {"signing": "bad_signature"}, "signature"),
    ("alg-none", {"signing": "none"}, "alg 'none'"),
    ("hs256-with-public-key", {"signing": "hs_public"}, "alg 'HS256'"),
    ("alg-not-advertised", {"alg": "RS384"}, "alg 'RS384'"),
    ("unknown-kid", {"kid": "forged"}, "kid"),
    # one kind of token never passes for another (RFC 8725 §3.11)
    ("typ-at+jwt", {"jose_typ": "at+jwt"}, "typ 'at\\+jwt'"),
    ("typ-application/at+jwt", {"jose_typ": "application/at+jwt"}, "typ"),
    ("typ-logout+jwt", {"jose_typ": "logout+jwt"}, "typ 'logout\\+jwt'"),
    ("typ-secevent+jwt", {"jose_typ": "secevent+jwt"}, "typ"),
    ("typ-not-a-string", {"jose_typ": 7}, "typ"),
    ("events-claim", {"events": {"http://schemas.openid.net/event/backchannel-logout": {}}},
     "events"),
    ("events-claim-empty", {"events": {}}, "events"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("overrides", "reason"), [c[1:] for c in BAD_TOKENS],
                         ids=[c[0] for c in BAD_TOKENS])
async def test_bad_tokens_are_refused(
    fake_idp: FakeIdP, verifier: IDTokenVerifier, overrides: dict[str, Any], reason: str
) -> None:
    token = fake_idp.mint_id_token(**{"nonce": NONCE, **overrides})
    with pytest.raises(TokenError, match=reason):
        await verifier.verify(token, nonce=NONCE)


GOOD_TOKENS: list[tuple[str, dict[str, Any]]] = [
    ("plain", {}),
    ("expired-within-leeway", {"exp": NOW - 30}),
    ("iat-within-leeway", {"iat": NOW + 30}),
    ("extra-audience", {"aud": "other-api"}),
    ("several-aud-with-azp", {"aud": ["client", "x"], "azp": "client"}),
    ("no-kid-single-key", {"kid": None}),
    ("untyped", {"jose_typ": None}),
    ("typ-lower-case", {"jose_typ": "jwt"}),
    ("typ-media-type", {"jose_typ": "application/jwt"}),
]


@pytest.mark.anyio
@pytest.mark.parametrize("overrides", [c[1] for c in GOOD_TOKENS], ids=[c[0] for c in GOOD_TOKENS])
async def test_good_tokens_pass(
    fake_idp: FakeIdP, verifier: IDTokenVerifier, overrides: dict[str, Any]
) -> None:
    claims = await verifier.verify(fake_idp.mint_id_token(nonce=NONCE, **overrides), NONCE)
    assert claims["sub"] == "user-1"


@pytest.mark.anyio
async def test_nonce_is_not_required_on_refresh(fake_idp: FakeIdP, verifier: IDTokenVerifier) -> None:
    assert (await verifier.verify(fake_idp.mint_id_token(), nonce=None))["sub"] == "user-1"


@pytest.mark.anyio
@pytest.mark.parametrize("typ", ["JWT", "logout+jwt", None])
async def test_a_logout_token_is_no_refreshed_id_token(
    fake_idp: FakeIdP, verifier: IDTokenVerifier, typ: str | None
) -> None:
    """On refresh no nonce is checked (OIDC Core §12.2), and a logout token has none: its
    events claim (and its typ, when set) keep it from passing for an ID token."""
    logout = fake_idp.mint_id_token(
        jose_typ=typ, sid="sid-1", jti="j-1",
        events={"http://schemas.openid.net/event/backchannel-logout": {}},
    )  # fmt: skip
    with pytest.raises(TokenError, match=r"typ|events"):
        await verifier.verify(logout, nonce=None)


@pytest.mark.anyio
@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c", "!!!.e30.sig", "W10.e30.sig"])
async def test_malformed_tokens_are_token_errors(verifier: IDTokenVerifier, token: str) -> None:
    with pytest.raises(TokenError):
        await verifier.verify(token, nonce=NONCE)


@pytest.mark.anyio
async def test_key_rotation_costs_exactly_one_jwks_refetch(
    fake_idp: FakeIdP, verifier: IDTokenVerifier, clock: ManualClock
) -> None:
    await verifier.verify(fake_idp.mint_id_token(nonce=NONCE), NONCE)
    assert fake_idp.calls["jwks"] == 1
    fake_idp.rotate_key()
    await verifier.verify(fake_idp.mint_id_token(nonce=NONCE), NONCE)
    assert fake_idp.calls["jwks"] == 2
    # a forged kid right after: refused without another fetch (rate limit)
    with pytest.raises(TokenError, match="kid"):
        await verifier.verify(fake_idp.mint_id_token(nonce=NONCE, kid="forged"), NONCE)
    assert fake_idp.calls["jwks"] == 2
    clock.advance(KID_REFETCH_INTERVAL + 1)
    with pytest.raises(TokenError, match="kid"):
        await verifier.verify(fake_idp.mint_id_token(nonce=NONCE, kid="forged-2"), NONCE)
    assert fake_idp.calls["jwks"] == 3


def test_alg_allow_list() -> None:
    assert allowed_algs(()) == {"RS256"}
    assert allowed_algs(("RS256", "HS256", "none", "ES256")) == {"RS256", "ES256"}


# --- claims -> Identity ------------------------------------------------------------------
def test_identity_from_claims_with_nested_groups(fake_idp: FakeIdP) -> None:
    s = settings(fake_idp, oidc_groups_claim="realm_access.roles", user_id_claim="email")
    identity = identity_from_claims(
        {"sub": "s1", "email": "a@x.test", "realm_access": {"roles": ["r1", "r2"]}, "sid": "z"}, s
    )
    assert (identity.user, identity.groups, identity.subject, identity.sid) == (
        "a@x.test", ("r1", "r2"), "s1", "z")


@pytest.mark.parametrize(
    ("value", "groups"),
    [(["a", "b"], ("a", "b")), ("solo", ("solo",)), (None, ()), ([1, "", "x"], ("1", "x"))],
)
def test_groups_claim_shapes(fake_idp: FakeIdP, value: Any, groups: tuple[str, ...]) -> None:
    assert identity_from_claims({"sub": "s", "groups": value}, settings(fake_idp)).groups == groups


@pytest.mark.parametrize(
    "verified",
    [False, "false", "FALSE", "0", 0, 0.0, "no", "f", "n", " false", "false ", None, 1, "1", "t",
     "yes", "on", " true", "true\n", "verified", "", [], [True], {}, {"value": True}],
)  # fmt: skip
def test_anything_but_true_is_not_verified(fake_idp: FakeIdP, verified: Any) -> None:
    """Anything but an explicit true fails closed (it used to read as "unknown" and pass)."""
    claims = {"sub": "s", "email": "a@x.test", "email_verified": verified}
    with pytest.raises(TokenError, match="email_verified"):
        identity_from_claims(claims, settings(fake_idp))
    # the escape hatch still works, and the identity says "not verified" (rules.py reads it)
    allowed = settings(fake_idp, insecure_oidc_allow_unverified_email=True)
    assert identity_from_claims(claims, allowed).email_verified is False


@pytest.mark.parametrize("verified", [True, "true", "True", "TRUE"])
def test_true_is_verified(fake_idp: FakeIdP, verified: Any) -> None:
    claims = {"sub": "s", "email": "a@x.test", "email_verified": verified}
    assert identity_from_claims(claims, settings(fake_idp)).email_verified is True


def test_an_absent_email_verified_is_unknown_and_accepted(fake_idp: FakeIdP) -> None:
    """As in oauth2-proxy (provider_data.go: "must be present and explicitly set to false")."""
    identity = identity_from_claims({"sub": "s", "email": "a@x.test"}, settings(fake_idp))
    assert identity.email_verified is None


def test_namespaced_claim_names_win_over_paths() -> None:
    assert claim({"https://x.test/groups": ["g"]}, "https://x.test/groups") == ["g"]
    assert claim({"a": {"b": 1}}, "a.c") is None


def test_no_user_is_a_token_error(fake_idp: FakeIdP) -> None:
    with pytest.raises(TokenError, match="user_id_claim"):
        identity_from_claims({"email": "a@x.test"}, settings(fake_idp))
