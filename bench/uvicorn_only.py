"""`python -m bench.uvicorn_only serve --config FILE`: authsvc as before issue 17, every request
on uvicorn's protocol (web/protocol.py), none on web/lean.py's: the before row of the same run."""

from __future__ import annotations

import sys
from typing import Any

from authsvc import cli

_serves = cli.uvicorn_options


def uvicorn_options(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """serve's uvicorn settings with the lean check protocol off, whatever serve asks for (a
    partial with lean_check=False was overridden by serve's own lean_check=True, so this row
    measured the lean protocol until 2026-12-01)."""
    return _serves(*args, **{**kwargs, "lean_check": False})


def main(argv: list[str]) -> int:
    cli.uvicorn_options = uvicorn_options
    return cli.main(argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
