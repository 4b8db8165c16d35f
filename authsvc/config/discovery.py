"""Provider endpoints without discovery, and how strictly ID tokens are read (oauth2-proxy's names)."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey
from pydantic import BaseModel, Field, field_validator, model_validator

from .loading import CommaList, Problems, http_url

#: the JWS algorithms authsvc verifies: asymmetric only (providers/jws.py SUPPORTED_ALGS; never
#: "none" or HS*, RFC 8725 2.1 and 3.1)
ASYMMETRIC_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
                   "EdDSA")


class DiscoveryOptions(BaseModel):
    """Endpoints given by hand (skip_oidc_discovery) and the ID token checks one may tune."""

    skip_oidc_discovery: bool = Field(
        False,
        description=(
            "no discovery: use `login_url`, `redeem_url`, `oidc_jwks_url` (required; or "
            "`oidc_public_key_files`) and `profile_url`"
        ),
    )
    login_url: str = Field(
        "",
        description=(
            "the authorization endpoint (with `skip_oidc_discovery`, and for `login.gov`; for "
            "`github`, oauth2-proxy's GitHub Enterprise / Gitea spelling of `github_base_url`)"
        ),
    )
    redeem_url: str = Field(
        "",
        description="the token endpoint (with `skip_oidc_discovery`, and for `login.gov`)",
    )
    profile_url: str = Field(
        "",
        description="the userinfo endpoint (with `skip_oidc_discovery`, and for `login.gov`)",
    )
    oidc_jwks_url: str = Field(
        "",
        description=(
            "the JWKS URL (with `skip_oidc_discovery`, and for `login.gov`: oauth2-proxy's "
            "`pubjwk_url`)"
        ),
    )
    oidc_public_key_files: CommaList = Field(
        default_factory=list,
        description=(
            "PEM public keys that verify ID tokens instead of the JWKS (each token is "
            "tried against each key); with `skip_oidc_discovery`, in place of `oidc_jwks_url`"
        ),
    )
    validate_url: str = Field(
        "",
        description=(
            "after each refresh the new access token must be accepted here (GET with "
            "`Bearer`, 2xx) or the session ends"
        ),
    )
    oidc_enabled_signing_algs: CommaList = Field(
        default_factory=list,
        description="ID token algorithms accepted (asymmetric ones only)",
        json_schema_extra={"default_note": "(what discovery lists; `RS256` without it)"},
    )
    oidc_audience_claims: CommaList = Field(
        default_factory=lambda: ["aud"],
        description=(
            "claims that may name `client_id` (or `oidc_extra_audiences`) as audience, "
            "e.g. `[\"aud\", \"azp\"]`"
        ),
    )
    insecure_oidc_skip_issuer_verification: bool = Field(
        False,
        description=(
            "accept a discovery document whose `issuer` differs from `oidc_issuer_url`; "
            "ID tokens must then carry the document's issuer"
        ),
    )

    @field_validator("oidc_public_key_files")
    @classmethod
    def _discovery_public_keys(cls, value: list[str]) -> list[str]:
        for path in value:
            public_key(path)  # unreadable or not a public key: refused at start-up
        return value

    @field_validator("login_url", "redeem_url", "profile_url", "oidc_jwks_url", "validate_url")
    @classmethod
    def _discovery_url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("oidc_enabled_signing_algs")
    @classmethod
    def _discovery_algs(cls, value: list[str]) -> list[str]:
        for alg in value:
            if alg not in ASYMMETRIC_ALGS:
                raise ValueError(f"{alg!r} is not one of {', '.join(ASYMMETRIC_ALGS)} (symmetric and "
                                 "'none' are never accepted, RFC 8725 3.1)")
        return value

    @field_validator("oidc_audience_claims")
    @classmethod
    def _discovery_audience(cls, value: list[str]) -> list[str]:
        return value or ["aud"]

    @model_validator(mode="after")
    def _discovery_endpoints(self) -> Self:
        problems = Problems()
        if self.skip_oidc_discovery:
            for option in ("login_url", "redeem_url"):
                if not getattr(self, option):
                    problems.add(option, "is required with skip_oidc_discovery")
            if not self.oidc_jwks_url and not self.oidc_public_key_files:
                problems.add("oidc_jwks_url", "is required with skip_oidc_discovery (or "
                             "oidc_public_key_files)")
        problems.raise_any()
        return self


def public_key(path: str) -> Key:
    """The public key in the PEM file at `path` (RSA, EC or OKP); ValueError if it is not one.

    A private key is refused: the file is meant to be public, and a private key there would be
    a secret kept where nothing protects it as one.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror})") from None
    if len(data) > 64 * 1024:
        raise ValueError(f"{path}: is larger than 64 KiB, not a PEM public key")
    for kind in (RSAKey, ECKey, OKPKey):
        try:
            key: Key = kind.import_key(data)
        except (JoseError, ValueError, TypeError):
            continue
        if key.is_private:
            raise ValueError(f"{path}: holds a private key; give the public key only")
        return key
    raise ValueError(f"{path}: is not a PEM public key (RSA, EC or Ed25519)")
