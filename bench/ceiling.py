"""The framework ceiling: a bare Starlette endpoint answering 202, on authsvc's uvicorn settings.

`python -m bench.ceiling HOST PORT`. Whatever authsvc does per check costs on top of this.
"""

from __future__ import annotations

import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authsvc.cli import uvicorn_options
from authsvc.web.app import ANY_METHOD


async def accepted(request: Request) -> Response:
    return Response(status_code=202)


def app() -> Starlette:
    return Starlette(routes=[Route("/oauth2/auth", accepted, methods=ANY_METHOD)])


def main(argv: list[str]) -> int:
    import uvicorn

    host, port = argv
    uvicorn.run(app(), host=host, port=int(port), **uvicorn_options())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
