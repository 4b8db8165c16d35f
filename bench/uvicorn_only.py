"""`python -m bench.uvicorn_only serve --config FILE`: authsvc as before issue 17, every request
on uvicorn's protocol (web/protocol.py), none on web/lean.py's: the before row of the same run."""

from __future__ import annotations

import functools
import sys

from authsvc import cli


def main(argv: list[str]) -> int:
    cli.uvicorn_options = functools.partial(cli.uvicorn_options, lean_check=False)
    return cli.main(argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
