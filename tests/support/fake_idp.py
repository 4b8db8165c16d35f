"""A fake OpenID Provider on respx routes that asserts on every request it receives.

Usage (the `fake_idp` fixture in tests/conftest.py mounts one):

    url = await provider.login_url(login, redirect_uri)
    grant = fake_idp.authorize(url, email="ada@example.com", groups=["admins"])
    identity, tokens = await provider.redeem(grant.code, login, redirect_uri)

A request that breaks the protocol (wrong PKCE verifier, wrong client authentication, a
redirect_uri other than the authorize one) is recorded in `errors` and raises AssertionError;
the fixture also fails the test at teardown, in case the app swallowed the exception.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import respx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

DEFAULT_ISSUER = "https://idp.example.test"
_KEY_POOL: dict[int, RSAKey] = {}
_STRANGER = -1  # the pool index of a key the IdP never publishes
_CLIENT = -2  # the pool index of the client's own key (private_key_jwt)
#: RFC 7523 §2.2
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: the longest client assertion lifetime the fake accepts (login.gov's docs: a few minutes)
MAX_ASSERTION_LIFETIME = 300


def _rsa_key(index: int) -> RSAKey:
    """RSA keys are slow to generate: share a small pool across the test session."""
    if index not in _KEY_POOL:
        _KEY_POOL[index] = RSAKey.generate_key(2048, private=True)
    return _KEY_POOL[index]


def client_key() -> RSAKey:
    """The RSA private key test clients sign their private_key_jwt assertions with."""
    return _rsa_key(_CLIENT)


def client_key_pem() -> str:
    """client_key() as PEM (PKCS#8), what jwt_key / jwt_key_file hold."""
    return client_key().as_pem(private=True).decode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _s256(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode()).digest())


class Grant(NamedTuple):
    """What the IdP hands the browser after a login: the code and the state to echo."""

    code: str
    state: str


@dataclass
class _Pending:
    """An issued authorization code, waiting for its token request."""

    redirect_uri: str
    code_challenge: str
    nonce: str
    claims: dict[str, Any]
    userinfo_only: frozenset[str]
    used: bool = False


@dataclass
class _Refresh:
    claims: dict[str, Any]
    userinfo_only: frozenset[str]


@dataclass
class FakeIdP:
    """An OpenID Provider double: discovery, JWKS, token, userinfo; knobs for negative tests."""

    issuer: str = DEFAULT_ISSUER
    client_id: str = "client"
    client_secret: str = "secret"
    clock: Callable[[], float] = time.time
    #: when False, protocol violations get an OAuth error answer instead of an AssertionError
    strict: bool = True
    #: merged into the discovery document (a None value deletes the field)
    discovery_overrides: dict[str, Any] = field(default_factory=dict)
    #: mint_id_token(**overrides) for every ID token the token endpoint issues
    id_token_overrides: dict[str, Any] = field(default_factory=dict)
    #: merged into every token endpoint answer (a None value deletes the field)
    token_overrides: dict[str, Any] = field(default_factory=dict)
    #: merged into every userinfo answer
    userinfo_overrides: dict[str, Any] = field(default_factory=dict)
    #: merged into the public JWK that the JWKS serves (e.g. {"use": "enc"})
    jwk_overrides: dict[str, Any] = field(default_factory=dict)
    #: refresh grant: an OAuth error code to answer with (e.g. "invalid_grant"), or None
    refresh_error: str | None = None
    rotate_refresh_tokens: bool = True
    id_token_on_refresh: bool = True
    expires_in: int = 3600
    calls: Counter[str] = field(default_factory=Counter)
    #: every token request's form, in order
    token_forms: list[dict[str, str]] = field(default_factory=list)
    #: private_key_jwt (OIDC Core §9): the client's public JWK; token requests must then
    #: authenticate with a client assertion it verifies, and never with a secret
    client_jwk: dict[str, Any] | None = None
    #: the verified claims of every client assertion accepted, in order
    client_assertions: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._key_index = 0
        self.key = _rsa_key(0).as_dict(private=True, kid="key-0")
        self._failures: list[tuple[str | None, int]] = []
        self._answers: list[tuple[str, httpx.Response]] = []
        self._codes: dict[str, _Pending] = {}
        self._access: dict[str, dict[str, Any]] = {}
        self._refresh: dict[str, _Refresh] = {}

    # --- endpoints ----------------------------------------------------------------------
    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def url(self, name: str) -> str:
        """The URL of one of our endpoints: authorize, token, jwks, userinfo, logout."""
        return f"{self.issuer}/{name}"

    def mount(self, router: respx.MockRouter) -> None:
        """Add our routes to a respx router."""
        router.get(self.discovery_url).mock(side_effect=self._guard("discovery", self._discovery))
        router.get(self.url("jwks")).mock(side_effect=self._guard("jwks", self._jwks))
        router.post(self.url("token")).mock(side_effect=self._guard("token", self._token))
        router.get(self.url("userinfo")).mock(side_effect=self._guard("userinfo", self._userinfo))

    def discovery(self) -> dict[str, Any]:
        """The discovery document as served (after discovery_overrides)."""
        doc: dict[str, Any] = {
            "issuer": self.issuer,
            "authorization_endpoint": self.url("authorize"),
            "token_endpoint": self.url("token"),
            "jwks_uri": self.url("jwks"),
            "userinfo_endpoint": self.url("userinfo"),
            "end_session_endpoint": self.url("logout"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        }
        doc.update(self.discovery_overrides)
        return {k: v for k, v in doc.items() if v is not None}

    # --- knobs --------------------------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 503, endpoint: str | None = None) -> None:
        """The next `n` requests (to `endpoint`, or any) fail; status 0 = connection error."""
        self._failures.extend([(endpoint, status)] * n)

    @property
    def kid(self) -> str:
        """The kid of the key we sign with now."""
        return str(self.key["kid"])

    def answer_next(self, endpoint: str, response: httpx.Response) -> None:
        """The next request to `endpoint` gets `response` (e.g. an oversized body) instead."""
        self._answers.append((endpoint, response))

    def recover(self) -> None:
        """The outage is over: forget the failures fail_next() queued."""
        self._failures.clear()

    def rotate_key(self) -> None:
        """Sign with a new key (new kid); the JWKS no longer lists the old one."""
        self._key_index += 1
        self.key = _rsa_key(self._key_index).as_dict(private=True, kid=f"key-{self._key_index}")

    def public_jwk(self) -> dict[str, Any]:
        """The public half of the current signing key, as the JWKS lists it."""
        public = {k: v for k, v in self.key.items() if k in ("kty", "n", "e", "kid")}
        return {**public, "use": "sig", "alg": "RS256", **self.jwk_overrides}

    def mint_id_token(
        self,
        *,
        alg: str = "RS256",
        kid: str | None = "",
        signing: str = "good",
        jose_typ: Any = "JWT",
        **claims: Any,
    ) -> str:
        """A signed ID token for the client; claims override defaults (None deletes one).

        signing: "good"; "bad_signature" (signed by another key, same kid); "none" (alg none,
        empty signature); "hs_public" (HS256 keyed with our public key's PEM, the classic
        algorithm-confusion forgery). kid "" means our current kid, None omits it. jose_typ is
        the header's typ (None omits it).
        """
        now = int(self.clock())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "user-1",
            "aud": self.client_id,
            "exp": now + 300,
            "iat": now,
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        header: dict[str, Any] = {"alg": alg}
        if jose_typ is not None:
            header["typ"] = jose_typ
        if kid is not None:
            header["kid"] = kid or self.kid
        if signing == "none":
            header["alg"] = "none"
        if signing == "hs_public":
            header["alg"] = "HS256"
        if signing in ("none", "hs_public"):
            signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
            if signing == "none":
                return signing_input + "."
            public = {k: v for k, v in self.key.items() if k in ("kty", "n", "e")}
            pem = RSAKey.import_key(public).as_pem(private=False)
            mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
            return f"{signing_input}.{_b64(mac)}"
        key_dict = self.key if signing == "good" else _rsa_key(_STRANGER).as_dict(private=True)
        if jose_typ is not None and not isinstance(jose_typ, str):
            # joserfc will not write a malformed header: sign it by hand (RS256)
            signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
            private = RSAKey.import_key(key_dict).private_key
            assert private is not None
            signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
            return f"{signing_input}.{_b64(signature)}"
        return jwt.encode(header, payload, RSAKey.import_key(key_dict), algorithms=[alg])

    # --- the user's side --------------------------------------------------------------
    def authorize(
        self,
        login_url: str,
        *,
        sub: str = "user-1",
        email: str = "user@example.com",
        groups: Iterable[str] = (),
        userinfo_only: Collection[str] = (),
        **claims: Any,
    ) -> Grant:
        """Play the user signing in at `login_url`: check the request, issue a code."""
        self.calls["authorize"] += 1
        parts = urlsplit(login_url)
        self._check(f"{parts.scheme}://{parts.netloc}{parts.path}" == self.url("authorize"),
                    f"login URL is not our authorization endpoint: {login_url}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self._check(query.get("response_type") == "code", "response_type is not code")
        self._check(query.get("client_id") == self.client_id, "wrong client_id at authorize")
        self._check("openid" in query.get("scope", "").split(), "scope lacks openid")
        for name in ("redirect_uri", "state", "nonce", "code_challenge"):
            self._check(bool(query.get(name)), f"authorize request lacks {name}")
        self._check(query.get("code_challenge_method") == "S256", "PKCE method is not S256")
        user: dict[str, Any] = {"sub": sub, "email": email, "email_verified": True}
        if groups:
            user["groups"] = list(groups)
        user.update(claims)
        code = secrets.token_urlsafe(16)
        self._codes[code] = _Pending(
            query["redirect_uri"], query["code_challenge"], query["nonce"], user,
            frozenset(userinfo_only),
        )
        return Grant(code, query["state"])

    def callback_url(self, login_url: str, **user: Any) -> str:
        """The URL the browser comes back to after `authorize(login_url, **user)`."""
        grant = self.authorize(login_url, **user)
        redirect_uri = self._codes[grant.code].redirect_uri
        return str(httpx.URL(redirect_uri).copy_merge_params(grant._asdict()))

    # --- internals ----------------------------------------------------------------------
    def _check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.errors.append(problem)
            raise AssertionError(f"FakeIdP: {problem}")

    def _guard(
        self, name: str, handler: Callable[[httpx.Request], httpx.Response]
    ) -> Callable[[httpx.Request], httpx.Response]:
        def side_effect(request: httpx.Request) -> httpx.Response:
            self.calls[name] += 1
            for i, (target, answer) in enumerate(self._answers):
                if target == name:
                    del self._answers[i]
                    return answer
            for i, (endpoint, status) in enumerate(self._failures):
                if endpoint in (None, name):
                    del self._failures[i]
                    if status == 0:
                        raise httpx.ConnectError("FakeIdP: connection refused", request=request)
                    return httpx.Response(status, text="unavailable")
            return handler(request)

        return side_effect

    def _discovery(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=self.discovery())

    def _jwks(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"keys": [self.public_jwk()]})

    def _oauth_error(self, error: str, status: int = 400) -> httpx.Response:
        return httpx.Response(status, json={"error": error})

    def _client_ok(self, request: httpx.Request, form: dict[str, str]) -> bool:
        """RFC 6749 §2.3.1: exactly one client authentication method, with the right secret."""
        basic = request.headers.get("authorization", "")
        if self.client_jwk is not None:
            return not basic and "client_secret" not in form and self._assertion_ok(form)
        in_body = "client_secret" in form
        if basic.startswith("Basic ") and not in_body:
            ident, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            return (unquote(ident), unquote(secret)) == (self.client_id, self.client_secret)
        if in_body and not basic:
            return (form.get("client_id"), form["client_secret"]) == (
                self.client_id, self.client_secret
            )
        return False

    def _assertion_ok(self, form: dict[str, str]) -> bool:
        """OIDC Core §9 / RFC 7523 §3: the assertion is signed RS256 by the client's key, names
        the client as iss and sub and our token endpoint as aud, is fresh and not replayed."""
        assert self.client_jwk is not None
        if form.get("client_assertion_type") != JWT_BEARER or form.get("client_id", self.client_id) \
                != self.client_id:
            return False
        try:
            token = jwt.decode(form.get("client_assertion", ""), RSAKey.import_key(self.client_jwk),
                               algorithms=["RS256"])
        except (JoseError, ValueError):
            return False  # not a JWT, or not signed by the client's key
        claims, now = token.claims, int(self.clock())
        exp, iat = claims.get("exp"), claims.get("iat", now)
        ok = (
            token.header.get("alg") == "RS256"
            and claims.get("iss") == claims.get("sub") == self.client_id
            and claims.get("aud") in (self.url("token"), [self.url("token")])
            and isinstance(claims.get("jti"), str) and len(claims["jti"]) >= 16
            and all(claims["jti"] != seen.get("jti") for seen in self.client_assertions)
            and isinstance(exp, int) and now < exp <= now + MAX_ASSERTION_LIFETIME
            and isinstance(iat, int) and iat <= now
        )
        if ok:
            self.client_assertions.append(dict(claims))
        return ok

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[-1] for k, v in parse_qs(request.content.decode()).items()}
        self.token_forms.append(form)
        if not self._client_ok(request, form):
            self._violation("client authentication is wrong or ambiguous")
            return self._oauth_error("invalid_client", 401)
        if form.get("grant_type") == "authorization_code":
            return self._code_grant(form)
        if form.get("grant_type") == "refresh_token":
            return self._refresh_grant(form)
        self._violation(f"unexpected grant_type {form.get('grant_type')!r}")
        return self._oauth_error("unsupported_grant_type")

    def _violation(self, problem: str) -> None:
        if self.strict:
            self._check(False, problem)

    def _code_grant(self, form: dict[str, str]) -> httpx.Response:
        pending = self._codes.get(form.get("code", ""))
        if pending is None or pending.used:
            return self._oauth_error("invalid_grant")  # unknown or replayed code, RFC 6749 §4.1.2
        pending.used = True
        if form.get("redirect_uri") != pending.redirect_uri:
            self._violation("redirect_uri differs from the authorize request (RFC 6749 §4.1.3)")
            return self._oauth_error("invalid_grant")
        if _s256(form.get("code_verifier", "")) != pending.code_challenge:
            self._violation("code_verifier does not match the code_challenge (RFC 7636 §4.6)")
            return self._oauth_error("invalid_grant")
        return self._issue(pending.claims, pending.userinfo_only, nonce=pending.nonce)

    def _refresh_grant(self, form: dict[str, str]) -> httpx.Response:
        if self.refresh_error:
            return self._oauth_error(self.refresh_error)
        old = form.get("refresh_token", "")
        grant = self._refresh.get(old)
        if grant is None:
            return self._oauth_error("invalid_grant")
        if self.rotate_refresh_tokens:
            del self._refresh[old]
        return self._issue(grant.claims, grant.userinfo_only, nonce=None, old_refresh=old)

    def _issue(
        self, user: dict[str, Any], userinfo_only: frozenset[str], nonce: str | None,
        old_refresh: str | None = None,
    ) -> httpx.Response:
        access = secrets.token_urlsafe(16)
        self._access[access] = user
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer",
                                "expires_in": self.expires_in}
        if old_refresh is None or self.rotate_refresh_tokens:
            refresh = secrets.token_urlsafe(16)
            self._refresh[refresh] = _Refresh(user, userinfo_only)
            body["refresh_token"] = refresh
        if old_refresh is None or self.id_token_on_refresh:
            claims = {k: v for k, v in user.items() if k not in userinfo_only}
            if nonce is not None:
                claims["nonce"] = nonce
            body["id_token"] = self.mint_id_token(**{**claims, **self.id_token_overrides})
        body.update(self.token_overrides)
        return httpx.Response(200, json={k: v for k, v in body.items() if v is not None})

    def _userinfo(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization", "")
        user = self._access.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        if user is None:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return httpx.Response(200, json={**user, **self.userinfo_overrides})


class ManualClock:
    """A clock that tests move by hand (share it between FakeIdP and the code under test)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
