"""From verified OIDC claims (ID token, userinfo) to our own Identity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config.provider import ProviderOptions
from ..errors import TokenError
from ..models import Identity

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


def _verified(value: Any) -> bool | None:
    """email_verified as a bool; some IdPs (e.g. Cognito) send the strings "true"/"false"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def has_claim(claims: Mapping[str, Any], path: str) -> bool:
    """Whether the claim is present and not empty."""
    return claim(claims, path) not in (None, "", [], {})


def identity_from_claims(claims: Mapping[str, Any], settings: ProviderOptions) -> Identity:
    """The Identity described by `claims`; TokenError when they must be refused."""
    subject = _text(claims.get("sub"))
    user = _text(claim(claims, settings.user_id_claim)) or subject
    if not user:
        raise TokenError(f"claims hold no {settings.user_id_claim!r} (user_id_claim) nor sub")
    email = _text(claim(claims, settings.oidc_email_claim))
    verified = _verified(claims.get("email_verified"))
    # an address the IdP has not verified may belong to someone else (oauth2-proxy refuses it too)
    if verified is False and not settings.insecure_oidc_allow_unverified_email:
        raise TokenError(
            "email_verified is false (set insecure_oidc_allow_unverified_email to accept it)"
        )
    return Identity(
        user=user,
        email=email,
        groups=_groups(claim(claims, settings.oidc_groups_claim)),
        preferred_username=_text(claims.get("preferred_username")),
        email_verified=verified,
        subject=subject,
        sid=_text(claims.get("sid")),
    )
