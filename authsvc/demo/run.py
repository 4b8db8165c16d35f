"""`authsvc demo`: the real service plus a built-in DEVELOPMENT identity provider.

Nothing to configure: a fresh cookie secret, cookie sessions, plain http on loopback, and an
IdP at /_demo/idp that signs in anyone. The OIDC code path is the production one. `/` is the
demo's own page: who you are, a curl line to try, sign in or out (the sign-in button and
sign-out both come back to it).
"""

from __future__ import annotations

import re
import secrets
import socket
import sys

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import cookies
from ..cli import generate_secret
from ..config import Settings, load_settings
from ..context import Context
from ..web.logs import current_id
from .idp import BANNER, DemoIdP


def demo_settings(host: str, port: int) -> Settings:
    """Settings for the demo on http://host:port."""
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # IPv6 in brackets
    base = f"http://{address}"
    return load_settings(
        None,
        http_address=address,
        oidc_issuer_url=f"{base}/_demo/idp",
        client_id="authsvc-demo",
        client_secret=secrets.token_urlsafe(24),
        cookie_secret=[generate_secret()],
        cookie_secure=False,
        email_domains=["*"],
        proxy_kind="auto",
    )


async def home(request: Request) -> Response:
    """GET /: the signed-in identity and a curl line with its cookie, or the way to sign in."""
    context: Context = request.app.state.context
    settings = context.settings
    client = request.scope.get("client")
    scheme, host = context.forwarded.public_origin(
        request.url.scheme, request.headers, client[0] if client else None
    )
    prefix, name = settings.proxy_prefix, settings.cookie_name
    session = (await context.loader.load(request.headers.get("cookie", ""))).session
    check = f"{scheme}://{host}{prefix}/auth"
    rows: list[tuple[str, str]] = []
    curl = f"curl -i {check}"
    if session is not None:
        ident = session.identity
        rows = [("user", ident.user), ("e-mail", ident.email),
                ("groups", ", ".join(ident.groups) or "(none)"),
                ("username", ident.preferred_username or "(none)")]  # fmt: skip
        jar = cookies.parse_cookie_header(request.headers.get("cookie", ""))
        # the session cookie and its chunks (name_0, name_1...), never the login-state cookies
        ours = "; ".join(f"{k}={v}" for k, v in jar.items() if re.fullmatch(rf"{re.escape(name)}(_\d+)?", k))
        curl = f"curl -i -H 'Cookie: {ours}' {check}"
    return context.pages.demo_home(
        host=host, request_id=current_id(), identity=rows, curl=curl,
        sign_in_url=f"{prefix}/sign_in?rd=%2F", sign_out_url=f"{prefix}/sign_out?rd=%2F",
    )


def _banner(base: str, prefix: str) -> str:
    line = "!" * 78
    return f"""
{line}
  authsvc demo: {BANNER}
{line}
  Try it:
    1. open  {base}/   and sign in with any e-mail (the page shows who you are)
    2. curl -i {base}{prefix}/auth                      -> 401 (no session)
    3. the page at {base}/ shows a curl line with your session cookie:
       curl -i -H 'Cookie: _authsvc=...' {base}{prefix}/auth   -> 202 + X-Auth-Request-* headers
    4. sign out on that page (then step 2 again)
  Stop with Ctrl-C.
"""


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is printed: a busy port is one clear line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        print(f"authsvc demo: cannot listen on {host}:{port}: {exc.strerror} "
              f"(is another demo running? try --port {port + 1})", file=sys.stderr)
        raise SystemExit(2) from None
    return sock


def run_demo(host: str = "127.0.0.1", port: int = 4180) -> None:
    """Serve the demo until interrupted."""
    import uvicorn

    from ..cli import uvicorn_options
    from ..web.app import create_app

    sock = _listen(host, port)
    settings = demo_settings(host, port)
    idp = DemoIdP(
        settings.oidc_issuer_url, settings.client_id, settings.client_secret.get_secret_value()
    )
    app = create_app(Context.build(settings), extra_routes=[idp.mount(), Route("/", home, methods=["GET"])])
    print(_banner(f"http://{host}:{port}", settings.proxy_prefix), flush=True)
    options = uvicorn_options(settings.max_request_header_bytes, settings.request_header_timeout)
    config = uvicorn.Config(app, **{**options, "host": host, "port": port})
    uvicorn.Server(config).run(sockets=[sock])
