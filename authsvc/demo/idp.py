"""A DEVELOPMENT OpenID provider, mounted only by `authsvc demo`.

It accepts any e-mail address typed into its form, so it must never protect anything real.
It exists so that the demo runs the very same OIDC code path (discovery, PKCE, ID-token
verification) as a real deployment, with no identity provider to set up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from ..clock import Clock, system_clock

BANNER = "DEVELOPMENT IDENTITY PROVIDER: accepts anyone. For `authsvc demo` only."
_CODE_TTL = 120


@dataclass
class _Grant:
    email: str
    groups: list[str]
    nonce: str
    challenge: str
    redirect_uri: str
    issued: float


class DemoIdP:
    """An in-process OIDC issuer at `issuer` (e.g. http://127.0.0.1:4180/_demo/idp)."""

    def __init__(self, issuer: str, client_id: str, client_secret: str, clock: Clock = system_clock):
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock = clock
        self.key = RSAKey.generate_key(2048, parameters={"kid": "demo-1", "use": "sig"})
        self._codes: dict[str, _Grant] = {}
        self._access: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}

    def mount(self) -> Mount:
        """The routes, mounted at the issuer's path."""
        path = urlsplit(self.issuer).path
        return Mount(
            path,
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize, methods=["GET", "POST"]),
                Route("/token", self.token, methods=["POST"]),
                Route("/userinfo", self.userinfo, methods=["GET", "POST"]),
                Route("/end_session", self.end_session),
            ],
        )

    async def discovery(self, request: Request) -> Response:
        i = self.issuer
        return JSONResponse({
            "issuer": i,
            "authorization_endpoint": f"{i}/authorize",
            "token_endpoint": f"{i}/token",
            "userinfo_endpoint": f"{i}/userinfo",
            "jwks_uri": f"{i}/jwks",
            "end_session_endpoint": f"{i}/end_session",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
        })

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False, alg="RS256")]})

    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.form()).items()})
        problem = self._check_authorize(params)
        if problem:
            return HTMLResponse(f"<h1>Bad request</h1><p>{html.escape(problem)}</p>", 400)
        if request.method == "GET" or not params.get("email"):
            return HTMLResponse(_login_form(params))
        code = secrets.token_urlsafe(24)
        groups = [g.strip() for g in params.get("groups", "").split(",") if g.strip()]
        self._codes[code] = _Grant(
            params["email"].strip(), groups, params.get("nonce", ""),
            params["code_challenge"], params["redirect_uri"], self.clock(),
        )
        query = urlencode({"code": code, "state": params.get("state", "")})
        return RedirectResponse(f"{params['redirect_uri']}?{query}", 302)

    def _check_authorize(self, params: dict[str, str]) -> str:
        if params.get("client_id") != self.client_id:
            return "unknown client_id"
        if params.get("response_type") != "code":
            return "response_type must be code"
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return "PKCE S256 is required"
        if not urlsplit(params.get("redirect_uri", "")).scheme.startswith("http"):
            return "redirect_uri must be an http(s) URL"
        return ""

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        if not self._client_ok(request, form):
            return JSONResponse({"error": "invalid_client"}, 401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            grant = self._codes.pop(form.get("code", ""), None)
            if grant is None or self.clock() - grant.issued > _CODE_TTL:
                return JSONResponse({"error": "invalid_grant"}, 400)
            if form.get("redirect_uri") != grant.redirect_uri:
                return JSONResponse({"error": "invalid_grant", "error_description": "redirect_uri"}, 400)
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not hmac.compare_digest(challenge, grant.challenge):
                return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, 400)
            return JSONResponse(self._tokens(grant, with_nonce=True))
        if grant_type == "refresh_token":
            grant = self._refresh.pop(form.get("refresh_token", ""), None)
            if grant is None:
                return JSONResponse({"error": "invalid_grant"}, 400)
            return JSONResponse(self._tokens(grant, with_nonce=False))
        return JSONResponse({"error": "unsupported_grant_type"}, 400)

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return False
        else:
            user, pw = form.get("client_id", ""), form.get("client_secret", "")
        # RFC 6749 §2.3.1: the Basic credentials are form-encoded first
        return hmac.compare_digest(unquote_plus(user), self.client_id) and hmac.compare_digest(
            unquote_plus(pw), self.client_secret
        )

    def _tokens(self, grant: _Grant, with_nonce: bool) -> dict[str, Any]:
        now = int(self.clock())
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self._access[access], self._refresh[refresh] = grant, grant
        claims = {**self._claims(grant), "aud": self.client_id, "iat": now, "exp": now + 3600}
        if with_nonce and grant.nonce:
            claims["nonce"] = grant.nonce
        id_token = jwt.encode({"alg": "RS256", "kid": "demo-1"}, claims, self.key)
        return {
            "access_token": access, "token_type": "Bearer", "expires_in": 3600,
            "refresh_token": refresh, "id_token": id_token,
        }

    def _claims(self, grant: _Grant) -> dict[str, Any]:
        return {
            "iss": self.issuer,
            "sub": hashlib.sha256(grant.email.lower().encode()).hexdigest()[:16],
            "email": grant.email,
            "email_verified": True,
            "preferred_username": grant.email.split("@", 1)[0],
            "groups": grant.groups,
        }

    async def userinfo(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        grant = self._access.get(token)
        if grant is None:
            return JSONResponse({"error": "invalid_token"}, 401)
        return JSONResponse(self._claims(grant))

    async def end_session(self, request: Request) -> Response:
        target = request.query_params.get("post_logout_redirect_uri", "")
        if target.startswith(("http://", "https://")):
            return RedirectResponse(target, 302)
        return HTMLResponse("<p>Signed out of the development identity provider.</p>")


def _login_form(params: dict[str, str]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k not in ("email", "groups")
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>authsvc demo sign-in</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto}}
.warn{{background:#fee;border:2px solid #c00;padding:1rem}}label{{display:block;margin:1rem 0}}
input[type=text],input[type=email]{{width:100%;padding:.4rem}}</style></head><body>
<p class="warn"><strong>{BANNER}</strong></p>
<h1>Sign in (demo)</h1>
<form method="post" action="authorize">{hidden}
<label>E-mail <input type="email" name="email" required placeholder="alice@example.com"></label>
<label>Groups (comma-separated, optional) <input type="text" name="groups" placeholder="admins,devs"></label>
<button type="submit">Sign in</button></form></body></html>"""
