"""A tiny local OpenID issuer for the bearer scenario: discovery and JWKS only.

`python -m bench.jwks HOST PORT JWKS_FILE`. The issuer is `http://HOST:PORT`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def app(issuer: str, jwks: dict[str, object]) -> Starlette:
    async def discovery(request: Request) -> Response:
        return JSONResponse({
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "jwks_uri": f"{issuer}/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
        })  # fmt: skip

    async def keys(request: Request) -> Response:
        return JSONResponse(jwks)

    return Starlette(routes=[
        Route("/.well-known/openid-configuration", discovery),
        Route("/jwks", keys),
        Route("/ping", keys),
    ])  # fmt: skip


def main(argv: list[str]) -> int:
    import uvicorn

    host, port, path = argv
    jwks = json.loads(Path(path).read_text())
    uvicorn.run(app(f"http://{host}:{port}", jwks), host=host, port=int(port), log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
