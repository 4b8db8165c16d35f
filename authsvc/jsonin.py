"""JSON from outside (tokens, IdP answers): malformed in any way is a ValueError, never a crash.

`json.loads` recurses once per nesting level, so `[[[[…` a few thousand deep raises
RecursionError, which no `except ValueError` catches: a 16 KB bearer token or logout token of
brackets was a 500 with a traceback on every request. Every parse of JSON authsvc did not write
itself goes through here.
"""

from __future__ import annotations

import json
from typing import Any

import httpx


def loads(data: str | bytes) -> Any:
    """`json.loads`, with too deep a nesting refused as a ValueError like any other bad JSON."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def response_json(response: httpx.Response) -> Any:
    """`response.json()` through `loads` (json.loads finds the UTF-8/16/32 encoding itself)."""
    return loads(response.content)
