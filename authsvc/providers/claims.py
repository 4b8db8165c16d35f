"""From verified OIDC claims (ID token, userinfo) to our own Identity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config.provider import ProviderOptions
from ..errors import TokenError
from ..models import KEPT_CLAIM, Identity

_MISSING = object()


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by name, or by dotted path into nested objects ("realm_access.roles").

    The literal name wins, since namespaced claims ("https://example.com/groups") hold dots.
    Returns None when absent.
    """
    if path in claims:
        return claims[path]
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _groups(value: Any) -> tuple[str, ...]:
    """A list of names or a single name (some IdPs send one group as a plain string)."""
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list | tuple):
        return tuple(t for t in (_text(v) for v in value) if t)
    return ()


def _verified(claims: Mapping[str, Any]) -> bool | None:
    """email_verified: None when absent (OIDC Core §5.1 makes it optional; oauth2-proxy then
    accepts the address too), True only for JSON true or the string "true" (Amazon Cognito
    sends strings), False for anything else: "0", 0, "no", " false", null, 1, "1" all fail
    closed rather than reading as "unknown" (oauth2-proxy's strconv-style cast reads "1" and
    "t" as true; an IdP that means true says so)."""
    if "email_verified" not in claims:
        return None
    value = claims["email_verified"]
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _kept_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _text(value)


def kept_claims(claims: Mapping[str, Any], paths: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The claims `claim_headers` sends, as Identity.extra pairs: one pair per value, so a list
    claim is one pair per non-empty item (joined like groups in the header); objects and null
    are left out (the header is then empty)."""
    out: list[tuple[str, str]] = []
    for path in paths:
        value = claim(claims, path)
        items = value if isinstance(value, list) else [value]
        out += [(KEPT_CLAIM + path, t) for t in (_kept_text(v) for v in items) if t]
    return tuple(out)


def has_claim(claims: Mapping[str, Any], path: str) -> bool:
    """Whether the claim is present and not empty."""
    return claim(claims, path) not in (None, "", [], {})


def identity_from_claims(
    claims: Mapping[str, Any], settings: ProviderOptions, keep: tuple[str, ...] = ()
) -> Identity:
    """The Identity described by `claims`; TokenError when they must be refused. `keep`: the
    claim paths kept in `extra` for `claim_headers`."""
    subject = _text(claims.get("sub"))
    user = _text(claim(claims, settings.user_id_claim)) or subject
    if not user:
        raise TokenError(f"claims hold no {settings.user_id_claim!r} (user_id_claim) nor sub")
    email = _text(claim(claims, settings.oidc_email_claim))
    verified = _verified(claims)
    # an address the IdP has not verified may belong to someone else (oauth2-proxy refuses it too)
    if verified is False and not settings.insecure_oidc_allow_unverified_email:
        shown = repr(claims["email_verified"])[:20]
        raise TokenError(f"email_verified is {shown}, not true "
                         "(set insecure_oidc_allow_unverified_email to accept it)")
    return Identity(
        user=user,
        email=email,
        groups=_groups(claim(claims, settings.oidc_groups_claim)),
        preferred_username=_text(claims.get("preferred_username")),
        email_verified=verified,
        subject=subject,
        sid=_text(claims.get("sid")),
        extra=kept_claims(claims, keep),
    )
