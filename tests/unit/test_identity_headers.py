"""The identity headers' encoding is injective: two identities never give the same headers.

Property tests (hypothesis) over arbitrary text and group lists, the concrete collisions of
issue 11 §2, and what /oauth2/auth answers for an identity no header can carry.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authsvc.check.headers import (
    IdentityHeaders,
    Unrepresentable,
    decode_list,
    decode_value,
    encode_list,
    encode_value,
    token_value,
)
from authsvc.models import Identity, LoginState, Session, Tokens
from tests.conftest import make_settings
from tests.support.app_driver import browser_on, fake_idp_settings
from tests.support.auth_app import AuthApp
from tests.support.fake_idp import FakeIdP

#: any Unicode text, lone surrogates excluded (they have no UTF-8 form: see the 403 test)
TEXT = st.text(st.characters(exclude_categories=["Cs"]))
#: mostly the characters that matter: the escape, the separator, spaces, controls, Latin-1, more
NASTY = st.text(st.sampled_from(list("%, \t\x00\x7f\r\na1éĀ日🙂")))
VALUE = st.one_of(TEXT, NASTY)
GROUP = VALUE.filter(bool)  # group names are never empty (claims.py drops empty ones)
GROUPS = st.lists(GROUP, max_size=8)
PROPERTY = settings(max_examples=400, deadline=None)


def is_visible_ascii(value: str) -> bool:
    return all(0x20 <= ord(c) < 0x7F for c in value) and value == value.strip(" ")


@PROPERTY
@given(VALUE)
def test_a_value_decodes_to_itself_and_is_a_safe_header_value(text: str) -> None:
    encoded = encode_value(text)
    assert decode_value(encoded) == text
    # visible ASCII with no space at either end: no parser trims, splits or re-decodes it
    assert is_visible_ascii(encoded), encoded
    assert "," not in encoded


@PROPERTY
@given(VALUE, VALUE)
def test_different_values_never_give_the_same_header(a: str, b: str) -> None:
    if a != b:
        assert encode_value(a) != encode_value(b)


@PROPERTY
@given(GROUPS)
def test_a_group_list_decodes_to_itself(groups: list[str]) -> None:
    encoded = encode_list(groups)
    assert decode_list(encoded) == groups
    assert is_visible_ascii(encoded), encoded
    # an app that splits on "," and trims each item (RFC 9110 §5.6.1) gets the same items
    assert [decode_value(item.strip()) for item in encoded.split(",")] == groups or not groups


@PROPERTY
@given(GROUPS, GROUPS)
def test_different_group_lists_never_give_the_same_header(a: list[str], b: list[str]) -> None:
    if a != b:
        assert encode_list(a) != encode_list(b)


@PROPERTY
@given(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E).filter(lambda c: c not in "%,")))
def test_plain_ascii_is_sent_unchanged(text: str) -> None:
    """oauth2-proxy compatibility: what apps see today for ordinary names does not change."""
    assert encode_value(text) == text


@pytest.mark.parametrize(
    ("what", "a", "b"),
    [
        ("a comma in a group name", ("x,admins",), ("x", "admins")),
        ("a trailing space is not trimmed away", ("admins ",), ("admins",)),
        ("a leading space is not trimmed away", ("x", " admins"), ("x", "admins")),
        ("a control character is not dropped", ("ad\nmins",), ("admins",)),
        ("non-Latin-1 and a literal escape", ("Ā",), ("%100",)),
        ("a literal %2C is not a comma", ("x%2Cadmins",), ("x,admins",)),
    ],
)
def test_the_collisions_of_issue_11(what: str, a: tuple[str, ...], b: tuple[str, ...]) -> None:
    assert encode_list(a) != encode_list(b), what
    assert decode_list(encode_list(a)) == list(a)


@pytest.mark.parametrize(
    ("text", "header"),
    [
        ("alice@example.com", "alice@example.com"),
        ("Ada Lovelace", "Ada Lovelace"),
        ("alice\x00", "alice%00"),
        ("Ā", "%C4%80"),
        ("%100", "%25100"),
        ("é", "%C3%A9"),
        (" x ", "%20x%20"),
        ("a,b", "a%2Cb"),
        ("{http.request.header.Cookie}", "{http.request.header.Cookie}"),
    ],
)
def test_examples(text: str, header: str) -> None:
    assert encode_value(text) == header


def test_groups_examples() -> None:
    assert encode_list(["admins", "dev", "org:team"]) == "admins,dev,org:team"
    assert encode_list(["x,admins"]) == "x%2Cadmins"
    assert encode_list([]) == "" and decode_list("") == []
    assert encode_list(["", "a"]) == "a"  # an empty name is no group


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb"])
def test_text_without_a_utf8_form_is_refused(text: str) -> None:
    with pytest.raises(Unrepresentable):
        encode_value(text)


@pytest.mark.parametrize("token", ["at\r\nX-Evil: 1", " at", "at ", "tök", "\x00", "a\tb"])
def test_tokens_are_passed_on_unchanged_or_refused(token: str) -> None:
    assert token_value("eyJ.a-b_c~d+e/f=") == "eyJ.a-b_c~d+e/f="
    assert token_value("opaque with %, and spaces") == "opaque with %, and spaces"  # RFC 6749 A.12
    with pytest.raises(Unrepresentable):
        token_value(token)


@pytest.mark.parametrize(
    "fields",
    [{"user": "ada\ud800"}, {"groups": ("admins", "x\udc00")}, {"preferred_username": "\udfff"}],
)
def test_an_identity_no_header_can_carry_is_refused_once_and_logged(
    fields: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Such a session exists only in memory (a bearer token's claims; the store cannot even
    write it): /oauth2/auth then answers 403 (app.py), and the refusal is remembered."""
    headers = IdentityHeaders(make_settings())
    session = Session(Identity(**{"user": "ada", **fields}))
    with caplog.at_level(logging.WARNING, logger="authsvc"):
        assert headers.raw_for_session(session) is None
        assert headers.raw_for_session(session) is None
    assert headers.refusal(session) == "not valid Unicode text (a lone surrogate)"
    assert [r.getMessage() for r in caplog.records if "cannot be sent as headers" in r.getMessage()] != []
    assert len(caplog.records) == 1  # once per remembered session, not once per request


@pytest.mark.anyio
async def test_a_login_whose_identity_no_header_can_carry_ends_on_403(
    fake_idp: FakeIdP, caplog: pytest.LogCaptureFixture
) -> None:
    """JSON (an ID token's claims, an API's answer) can hold a lone surrogate: the login is
    refused with a 403 page and a log line, not a 500 and not a session that reads as someone
    else. The provider's verified answer is stood in for (providers are tested on their own)."""
    async with browser_on(fake_idp_settings(fake_idp, email_domains=["*"]), fake_idp) as browser:
        verified = browser.services.provider.redeem

        async def redeem(code: str, login: LoginState, redirect_uri: str) -> tuple[Identity, Tokens]:
            identity, tokens = await verified(code, login, redirect_uri)
            return replace(identity, preferred_username="ada\ud800"), tokens

        browser.services.provider.redeem = redeem  # type: ignore[method-assign]
        with caplog.at_level(logging.WARNING, logger="authsvc"):
            callback = await browser.login(email="ada@example.com")
        assert callback.status_code == 403, callback.text
        assert not any(c.startswith("_authsvc=") for c in callback.headers.get_list("set-cookie"))
        assert (await browser.auth()).status_code == 401
    assert any("cannot be sent as headers" in r.getMessage() for r in caplog.records)


@pytest.mark.anyio
async def test_the_encoded_headers_are_remembered_per_session() -> None:
    """The hot path encodes a session's headers once, hit or refusal."""
    async with AuthApp.start(make_settings(email_domains=["*"])) as app:
        headers = app.services.headers
        cookie = await app.cookie(user="ada", groups=("x,admins",))
        session = (await app.services.loader.load(cookie)).session
        assert session is not None
        first = headers.raw_for_session(session)
        assert first is headers.raw_for_session(session)
        assert first is not None and (b"x-auth-request-groups", b"x%2Cadmins") in first
