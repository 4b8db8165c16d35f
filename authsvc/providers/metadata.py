"""OpenID Provider metadata (discovery) and JWKS: fetched lazily, cached, outage-tolerant.

Nothing is fetched at construction (the demo's IdP lives in the same server). After the TTL a
refetch that fails keeps the last good copy and retries later; only a cache that was never
loaded raises ProviderUnavailable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet

from ..clock import Clock
from ..config import Settings
from ..config.discovery import public_key
from ..errors import ProviderUnavailable
from . import http as idp

log = logging.getLogger(__name__)

T = TypeVar("T")

#: after a failed refetch, serve the cached copy this long before trying again
RETRY_AFTER = 30.0
#: at most one forced JWKS refetch (unknown kid) per this many seconds
KID_REFETCH_INTERVAL = 10.0


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """The parts of an OpenID Provider's discovery document authsvc uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str = ""
    end_session_endpoint: str = ""
    #: RFC 8414 §2 / RFC 7662: where opaque access tokens are checked
    introspection_endpoint: str = ""
    introspection_endpoint_auth_methods_supported: tuple[str, ...] = ()
    id_token_signing_alg_values_supported: tuple[str, ...] = ()
    token_endpoint_auth_methods_supported: tuple[str, ...] = ()
    #: RFC 9207 §3: the IdP puts `iss` in every authorization response
    authorization_response_iss_parameter_supported: bool = False

    @classmethod
    def from_json(cls, data: object, expected_issuer: str, any_issuer: bool = False) -> ProviderMetadata:
        """Validate a discovery document; ValueError names the field at fault.

        `any_issuer` (insecure_oidc_skip_issuer_verification) takes the document's own issuer,
        which ID tokens must then carry.
        """
        if not isinstance(data, dict):
            raise ValueError("discovery document is not a JSON object")
        if any_issuer and isinstance(data.get("issuer"), str) and data["issuer"]:
            expected_issuer = data["issuer"]
        # OIDC Discovery §4.3: the issuer MUST be identical to the one used for discovery
        if data.get("issuer") != expected_issuer:
            raise ValueError(
                f"discovery issuer {data.get('issuer')!r} differs from oidc_issuer_url "
                f"{expected_issuer!r} (they must match exactly, OIDC Discovery 4.3)"
            )
        required = ("authorization_endpoint", "token_endpoint", "jwks_uri")
        for name in required:
            if not isinstance(data.get(name), str) or not data[name]:
                raise ValueError(f"discovery document lacks {name}")
        return cls(
            issuer=expected_issuer,
            authorization_endpoint=data["authorization_endpoint"],
            token_endpoint=data["token_endpoint"],
            jwks_uri=data["jwks_uri"],
            userinfo_endpoint=_str(data.get("userinfo_endpoint")),
            end_session_endpoint=_str(data.get("end_session_endpoint")),
            introspection_endpoint=_str(data.get("introspection_endpoint")),
            introspection_endpoint_auth_methods_supported=_strs(
                data.get("introspection_endpoint_auth_methods_supported")
            ),
            id_token_signing_alg_values_supported=_strs(
                data.get("id_token_signing_alg_values_supported")
            ),
            token_endpoint_auth_methods_supported=_strs(
                data.get("token_endpoint_auth_methods_supported")
            ),
            authorization_response_iss_parameter_supported=(
                data.get("authorization_response_iss_parameter_supported") is True
            ),
        )


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _strs(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


class _Cached(Generic[T]):
    """One value with a TTL; a failed refetch serves the stale copy (and backs off)."""

    def __init__(self, what: str, fetch: Callable[[], Awaitable[T]], ttl: float, clock: Clock):
        self._what = what
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._lock = asyncio.Lock()
        self._value: T | None = None
        self._fresh_until = 0.0

    def _usable(self) -> T | None:
        return self._value if self._clock() < self._fresh_until else None

    async def get(self, force: bool = False) -> T:
        """The cached value, fetched (once, even for concurrent callers) when stale."""
        value = None if force else self._usable()
        if value is not None:
            return value
        seen = self._value
        async with self._lock:
            # another task may have refreshed while we waited for the lock
            if self._value is not seen or (not force and self._usable() is not None):
                assert self._value is not None
                return self._value
            try:
                value = await self._fetch()
            except ProviderUnavailable as exc:
                if self._value is None:
                    raise
                log.warning("%s refetch failed, serving the cached copy: %s", self._what, exc)
                self._fresh_until = self._clock() + min(RETRY_AFTER, self._ttl)
                return self._value
            self._value = value
            self._fresh_until = self._clock() + self._ttl
            return value


class MetadataCache:
    """Discovery and JWKS for one issuer."""

    def __init__(
        self, settings: Settings, http: httpx.AsyncClient, clock: Clock, issuer: str | None = None
    ) -> None:
        #: `issuer` names another issuer than the provider's (extra_jwt_issuers)
        self._issuer = issuer if issuer is not None else settings.oidc_issuer_url
        #: the provider's own endpoint options apply to its issuer, not to extra_jwt_issuers
        self._own = issuer is None or issuer == settings.oidc_issuer_url
        self._settings = settings
        self._http = http
        self._clock = clock
        ttl = settings.oidc_metadata_ttl
        self._metadata = _Cached("OIDC discovery", self._fetch_metadata, ttl, clock)
        self._jwks = _Cached("JWKS", self._fetch_jwks, ttl, clock)
        self._last_forced = float("-inf")
        #: oidc_public_key_files (the provider's own issuer only): no JWKS is fetched
        self._static: list[Key] = (
            [public_key(path) for path in settings.oidc_public_key_files] if self._own else [])

    async def metadata(self) -> ProviderMetadata:
        """The discovery document (ProviderUnavailable when it was never loadable)."""
        return await self._metadata.get()

    async def jwks(self) -> KeySet:
        """The IdP's signing keys (ProviderUnavailable when they were never loadable)."""
        if self._static:
            return KeySet(self._static)
        return await self._jwks.get()

    async def signing_keys(self, kid: str | None, alg: str) -> list[Key]:
        """The keys to try for a token: the static PEM keys all (they have no kid; go-oidc's
        StaticKeySet, as oauth2-proxy uses them, tries each), else `signing_key`'s one."""
        if self._static:
            return list(self._static)
        key = await self.signing_key(kid, alg)
        return [key] if key is not None else []

    async def signing_key(self, kid: str | None, alg: str) -> Key | None:
        """The key for `kid` and `alg`; one rate-limited JWKS refetch when it is unknown."""
        key = _find(await self.jwks(), kid, alg)
        if key is not None:
            return key
        # the IdP may have rotated its keys (OIDC Core 10.1.1); refetch, but rarely, so forged
        # kids cannot make us hammer the IdP
        now = self._clock()
        if now - self._last_forced < KID_REFETCH_INTERVAL:
            return None
        self._last_forced = now
        return _find(await self._jwks.get(force=True), kid, alg)

    async def _get_json(self, what: str, url: str) -> Any:
        # public documents: any failure means the IdP cannot be used now (providers/http.py)
        named = f"{what} {url}"
        response = await idp.call(
            self._http, "GET", url, what=named, service=True, headers={"Accept": "application/json"}
        )
        return idp.json_value(response, named, service=True)

    async def _fetch_metadata(self) -> ProviderMetadata:
        s = self._settings
        if self._own and s.skip_oidc_discovery:
            # the endpoints as configured (oauth2-proxy's skip_oidc_discovery); RS256 unless told
            return ProviderMetadata(
                issuer=self._issuer, authorization_endpoint=s.login_url, token_endpoint=s.redeem_url,
                jwks_uri=s.oidc_jwks_url, userinfo_endpoint=s.profile_url,
                id_token_signing_alg_values_supported=tuple(s.oidc_enabled_signing_algs or ("RS256",)),
            )
        url = f"{self._issuer.rstrip('/')}/.well-known/openid-configuration"
        data = await self._get_json("OIDC discovery", url)
        try:
            meta = ProviderMetadata.from_json(
                data, self._issuer, self._own and s.insecure_oidc_skip_issuer_verification
            )
        except ValueError as exc:
            raise ProviderUnavailable(f"OIDC discovery {url}: {exc}") from None
        if self._own and s.oidc_enabled_signing_algs:
            # only the algorithms both sides allow (an empty list leaves nothing acceptable)
            listed = meta.id_token_signing_alg_values_supported or ("RS256",)
            enabled = tuple(a for a in listed if a in s.oidc_enabled_signing_algs)
            meta = replace(meta, id_token_signing_alg_values_supported=enabled or ("-none-",))
        return meta

    async def _fetch_jwks(self) -> KeySet:
        url = (await self.metadata()).jwks_uri
        data = await self._get_json("JWKS", url)
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise ProviderUnavailable(f"JWKS {url}: no 'keys' list")
        # RFC 7517 §4.2: keys meant for encryption are no use for verifying signatures
        keys = [k for k in data["keys"] if isinstance(k, dict) and k.get("use", "sig") == "sig"]
        try:
            return KeySet.import_key_set({"keys": keys})
        except (JoseError, ValueError, TypeError) as exc:
            raise ProviderUnavailable(f"JWKS {url}: unusable keys ({exc})") from None


def _find(keys: KeySet, kid: str | None, alg: str) -> Key | None:
    """The key named `kid` fit for `alg` (without a kid, the only key there is)."""
    candidates = [k for k in keys if k.kid == kid] if kid else list(keys)
    candidates = [k for k in candidates if k.alg in (None, alg)]
    if kid is None and len(candidates) != 1:
        return None
    return candidates[0] if candidates else None
