"""DPoP (RFC 9449): a sender-constrained access token passes only with a proof of its key.

A token is DPoP-bound when its claims (JWT or introspection answer) hold `cnf.jkt`, the
RFC 7638 thumbprint of the client's key (RFC 9449 §6). Such a token must come as
`Authorization: DPoP <token>` with exactly one `DPoP` header holding a proof (§4.3, §7.1):

- a compact JWS with `typ: dpop+jwt`, an asymmetric `alg` (never `none` or HS*, §4.3 step 5)
  and a public `jwk` in its header (no private parts), signed by that key;
- `htm` the original request's method and `htu` its URL (scheme, host, path; query and
  fragment ignored, §4.3 step 9; compared after RFC 3986 §6.2.2/§6.2.3 normalisation);
- `iat` within IAT_WINDOW of our clock (§11.1), `jti` never seen before in that window (the
  replay cache: in Redis when sessions are there, so every replica refuses a replay; else this
  process's, bounded), `ath` the base64url SHA-256 of the access token (§4.3 step 11);
- the proof key's thumbprint equal to the token's `cnf.jkt`.

The original method and URL must be evidence (check/forwarded.py `verified`: a configured
proxy_kind): a proof bound to a URL is worth nothing if the client names the URL. A bound
token sent as `Bearer` is refused (§7.2: else the binding could be stripped), and so is an
unbound token sent as `DPoP`.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry
from joserfc.jws import JWSRegistry

from ..clock import Clock
from ..errors import TokenError
from ..jsonin import loads
from ..models import Identity, OriginalRequest
from ..sessions.base import LogoutIndex
from .jws import SUPPORTED_ALGS, unverified_header

#: seconds a proof's iat may be away from our clock (RFC 9449 §11.1 leaves it to us)
IAT_WINDOW = 60
#: longest proof considered (a proof with an RSA-4096 jwk is under 2 KB)
MAX_PROOF = 8192
REPLAY_CACHE = 16384
#: the claim authsvc keeps in Identity.extra for a bound token
JKT = "cnf.jkt"
ALGS = " ".join(sorted(SUPPORTED_ALGS))


class _ProofRegistry(JWSRegistry):
    #: the proof's header carries its public key: an RSA-4096 jwk is ~800 bytes (joserfc: 512)
    max_header_length = 2048


#: one registry per algorithm: a proof is verified only with the alg its header names
_REGISTRIES = {alg: _ProofRegistry(algorithms=[alg]) for alg in SUPPORTED_ALGS}


def token_jkt(claims: Mapping[str, Any]) -> str:
    """The `cnf.jkt` of a token's claims, "" when it is not DPoP-bound."""
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    return jkt if isinstance(jkt, str) else ""


def identity_jkt(identity: Identity) -> str:
    """The binding an Identity carries (providers/bearer.py puts it in `extra`)."""
    for name, value in identity.extra:
        if name == JKT:
            return value
    return ""


class DPoPError(TokenError):
    """A missing or invalid proof (RFC 9449 §7.1: error="invalid_dpop_proof")."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def normalise_htu(url: str) -> str:
    """scheme://host[:port]/path, lower-cased scheme and host, no default port, no query."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path or '/'}"


class ReplayCache:
    """jti values seen within the window: shared through the store when it can, else local."""

    def __init__(self, store: object, clock: Clock) -> None:
        self._shared = store if isinstance(store, LogoutIndex) else None
        self._clock = clock
        self._local: OrderedDict[bytes, float] = OrderedDict()

    async def first_use(self, jkt: str, jti: str) -> bool:
        """Record the proof's jti (hashed with its key); False for a replay or a full cache."""
        marker = hashlib.sha256(f"dpop\x00{jkt}\x00{jti}".encode()).digest()
        ttl = 2 * IAT_WINDOW + 1  # a proof is usable from iat - window to iat + window
        if self._shared is not None:
            return await self._shared.first_use("dpop:" + marker.hex(), ttl)
        now = self._clock()
        while self._local:
            until = next(iter(self._local.values()))
            if until > now and len(self._local) < REPLAY_CACHE:
                break
            if until > now:
                # full of live entries: refuse rather than forget one (fail closed)
                return False
            self._local.popitem(last=False)
        if marker in self._local:
            return False
        self._local[marker] = now + ttl
        return True


class DPoPVerifier:
    """Checks the proof of one request for one bound token."""

    def __init__(self, store: object, clock: Clock = time.time) -> None:
        self._clock = clock
        self._replays = ReplayCache(store, clock)

    async def verify(self, proof: str | None, token: str, jkt: str, original: OriginalRequest) -> None:
        """Nothing when the proof holds; DPoPError (with a reason for the log) otherwise."""
        if not proof:
            raise DPoPError("DPoP-bound token without a DPoP proof")
        if len(proof) > MAX_PROOF:
            raise DPoPError("DPoP proof too long")
        if not original.verified:
            raise DPoPError("the original method and URL are not evidence (set proxy_kind): "
                            "a DPoP proof cannot be checked")
        try:
            header = unverified_header(proof)
        except TokenError:
            raise DPoPError("DPoP proof malformed: not a compact JWS") from None
        alg = header.get("alg")
        if header.get("typ") != "dpop+jwt" or alg not in SUPPORTED_ALGS:
            raise DPoPError("DPoP proof header: typ must be dpop+jwt and alg asymmetric")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict) or any(p in jwk for p in ("d", "p", "q", "dp", "dq", "qi", "k")):
            raise DPoPError("DPoP proof header: jwk missing or not a public key")
        try:
            key = JWKRegistry.import_key(jwk)
            obj = jws.deserialize_compact(proof, key, registry=_REGISTRIES[str(alg)])
        except (JoseError, ValueError, TypeError):
            raise DPoPError("DPoP proof signature invalid") from None
        if key.thumbprint() != jkt:
            raise DPoPError("DPoP proof key is not the one the token is bound to")
        try:
            claims = loads(obj.payload)
        except ValueError:
            raise DPoPError("DPoP proof payload is not JSON") from None
        if not isinstance(claims, dict):
            raise DPoPError("DPoP proof payload is not a JSON object")
        jti, htm, htu, iat = (claims.get(n) for n in ("jti", "htm", "htu", "iat"))
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise DPoPError("DPoP proof jti missing")
        if htm != original.method:
            raise DPoPError("DPoP proof htm is not the request's method")
        if not isinstance(htu, str) or normalise_htu(htu) != normalise_htu(original.url):
            raise DPoPError("DPoP proof htu is not the request's URL")
        now = self._clock()
        if not isinstance(iat, int | float) or isinstance(iat, bool) or abs(now - iat) > IAT_WINDOW:
            raise DPoPError("DPoP proof iat outside the accepted window")
        if claims.get("ath") != _b64(hashlib.sha256(token.encode("ascii", "replace")).digest()):
            raise DPoPError("DPoP proof ath is not the access token's hash")
        # last: a proof that fails a check above does not spend its jti
        if not await self._replays.first_use(jkt, jti):
            raise DPoPError("DPoP proof replayed (jti seen before)")
