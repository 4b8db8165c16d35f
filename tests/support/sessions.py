"""Session values for store and refresh tests."""

from __future__ import annotations

import hashlib

from authsvc.models import Identity, Session, Tokens

NOW = 1_700_000_000


def session(groups: int = 2, expires_in: int = 3600, user: str = "alice") -> Session:
    """A realistic session; `groups` makes it as large as an Entra ID token can get."""
    identity = Identity(
        user=user, email=f"{user}@example.com", preferred_username=user,
        groups=tuple(hashlib.sha256(str(i).encode()).hexdigest() for i in range(groups)),
        email_verified=True, subject=f"sub-{user}", sid=f"sid-{user}", extra=(("tenant", "t1"),),
    )  # fmt: skip
    tokens = Tokens(access_token="at", id_token="it", refresh_token="rt", expires_at=NOW + 300)
    return Session(identity, tokens, created_at=NOW, expires_at=NOW + expires_in, refreshed_at=NOW)
