"""`authsvc demo`: the real service plus a built-in DEVELOPMENT identity provider.

Nothing to configure: a fresh cookie secret, cookie sessions, plain http on loopback, and an
IdP at /_demo/idp that signs in anyone. The OIDC code path is the production one.
"""

from __future__ import annotations

import secrets

from ..cli import generate_secret
from ..config import Settings, load_settings
from .idp import BANNER, DemoIdP


def demo_settings(host: str, port: int) -> Settings:
    """Settings for the demo on http://host:port."""
    base = f"http://{host}:{port}"
    return load_settings(
        None,
        http_address=f"{host}:{port}",
        oidc_issuer_url=f"{base}/_demo/idp",
        client_id="authsvc-demo",
        client_secret=secrets.token_urlsafe(24),
        cookie_secret=[generate_secret()],
        cookie_secure=False,
        email_domains=["*"],
        proxy_kind="auto",
    )


def _banner(base: str, prefix: str) -> str:
    line = "!" * 78
    return f"""
{line}
  authsvc demo: {BANNER}
{line}
  Try it:
    1. open  {base}{prefix}/start?rd=/oauth2/userinfo   (sign in with any e-mail)
    2. curl -i {base}{prefix}/auth                      -> 401 (no session)
    3. copy the _authsvc cookie from the browser, then
       curl -i -H 'Cookie: _authsvc=...' {base}{prefix}/auth   -> 202 + X-Auth-Request-* headers
    4. open  {base}{prefix}/sign_out                   (then step 2 again)
  Stop with Ctrl-C.
"""


def run_demo(host: str = "127.0.0.1", port: int = 4180) -> None:
    """Serve the demo until interrupted."""
    import uvicorn

    from ..context import Context
    from ..web.app import create_app

    settings = demo_settings(host, port)
    idp = DemoIdP(
        settings.oidc_issuer_url, settings.client_id, settings.client_secret.get_secret_value()
    )
    app = create_app(Context.build(settings), extra_routes=[idp.mount()])
    print(_banner(f"http://{host}:{port}", settings.proxy_prefix), flush=True)
    from ..cli import uvicorn_options

    options = uvicorn_options(settings.max_request_header_bytes, settings.request_header_timeout)
    uvicorn.run(app, **{**options, "host": host, "port": port})
