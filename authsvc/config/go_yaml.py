"""YAML laid out as oauth2-proxy's `--convert-config-to-alpha` prints it (go.yaml.in/yaml/v3).

yaml.v3's `Marshal` (encode.go, emitterc.go) indents by 4; a sequence under a key is indented
too (`key:` then `    - item`), a mapping in a sequence item starts on the `- ` line and its
other keys line up after it; empty mappings and sequences are `{}` and `[]`. A string is plain
unless it would read back as something else (null, a bool, a number, a YAML 1.1 bool such as
`yes`, a base-60 number, `<<`): then it is double-quoted. A string that plain style cannot carry
(`Basic ` with its trailing space, `a: b`) is single-quoted. The key order is the caller's:
Go maps come sorted (encode.go `mapv`), structs in field order (`structv`).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from typing import Any

import yaml
from yaml.emitter import Emitter
from yaml.resolver import Resolver

#: YAML 1.1 booleans (encode.go isOldBool): quoted so that YAML 1.1 parsers read strings
_OLD_BOOLS = frozenset({"y", "Y", "yes", "Yes", "YES", "on", "On", "ON",
                        "n", "N", "no", "No", "NO", "off", "Off", "OFF"})
_BASE60 = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")


def dump(document: Mapping[str, Any]) -> str:
    """The document (a mapping) as yaml.v3 writes it, ending in a newline."""
    if not document:
        return "{}\n"
    out: list[str] = []
    _mapping(document, 0, None, out)
    return "\n".join(out) + "\n"


def _child(column: int) -> int:
    # emitterc.go increaseIndent: "everything else aligns to the chosen indentation"
    return 4 * ((column + 4) // 4)


def _mapping(node: Mapping[str, Any], column: int, lead: str | None, out: list[str]) -> None:
    for n, (key, value) in enumerate(node.items()):
        start = lead if n == 0 and lead is not None else " " * column
        name = scalar(key, key=True)
        if isinstance(value, Mapping) and value:
            out.append(f"{start}{name}:")
            _mapping(value, _child(column), None, out)
        elif isinstance(value, list) and value:
            out.append(f"{start}{name}:")
            _sequence(value, _child(column), out)
        else:
            out.append(f"{start}{name}: {scalar(value)}")


def _sequence(items: list[Any], column: int, out: list[str]) -> None:
    for item in items:
        if isinstance(item, Mapping) and item:
            # the first indent inside a sequence only skips the "- " indicator
            _mapping(item, column + 2, " " * column + "- ", out)
        elif isinstance(item, list) and item:
            raise ValueError("nested sequences are not laid out here")
        else:
            out.append(" " * column + "- " + scalar(item))


def scalar(value: Any, key: bool = False) -> str:
    """One scalar (or an empty collection) in yaml.v3's style."""
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if "\n" in text or not _plain_reads_back(text):
        return json.dumps(text, ensure_ascii=False)
    analysis = Emitter(io.StringIO()).analyze_scalar(text)
    if analysis.allow_block_plain and not (key and analysis.multiline) and text:
        return text
    if analysis.allow_single_quoted:
        return "'" + text.replace("'", "''") + "'"
    return json.dumps(text, ensure_ascii=False)


def _plain_reads_back(text: str) -> bool:
    """encode.go stringv: plain only when it resolves to a string again."""
    if text in _OLD_BOOLS or text == "<<" or _BASE60.match(text):
        return False
    tag = Resolver().resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return bool(tag == "tag:yaml.org,2002:str")


def struct(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A Go struct as yaml.v3 writes it with omitempty: nil, "" and empty slices and structs
    left out; false is kept, as it comes only from pointer fields here (`*bool`)."""
    return {k: v for k, v in fields.items()
            if v is not None and v != "" and not (isinstance(v, list | dict) and not v)}
