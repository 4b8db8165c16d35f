"""oauth2-proxy's `skip_auth_routes` and `skip_auth_regex` entries, written as authsvc reads them.

oauth2-proxy (oauthproxy.go `buildRoutesAllowlist`, `isAllowedPath`) splits an entry at its
first `=` or `!=`: the text before is the method (upper-cased; none: every method), the text
after is the path regex, and an entry that holds `!=` anywhere is *negated on the path*:
`GET!=^/admin` skips auth for GET requests whose path does NOT match `^/admin`, `!=^/api` for
any request outside `/api` (docs/docs/configuration/overview.md: "method!=path_regex ... For
all methods: path_regex OR !=path_regex").

authsvc read its own `METHOD!=regex` as every method but that one up to 0.1, and now refuses
`!=` in its own settings (config/access.py), so an oauth2-proxy entry with `!=` is rewritten
into a regex that matches where oauth2-proxy's does not: `GET=^(?!.*(?:^/admin))`. Entries
oauth2-proxy reads with a method no request has (an "=" inside a bare regex, `^/q\\?x=1`:
method `^/Q\\?X`) never match there and are dropped with a warning rather than made public
here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .access import not_equal_form, split_skip_route

#: oauth2-proxy's split: the first "=" or "!=" (oauthproxy.go)
_SPLIT = re.compile(r"!?=")
_LETTERS = re.compile(r"[A-Z]{1,32}")
#: an HTTP method token (RFC 9110 §5.6.2 tchar): a method some request could have
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Z]+")
#: Go's flags at the start of a regex, which Python takes only as global flags
_LEADING_FLAGS = re.compile(r"\(\?([imsx]+)\)")


@dataclass
class Routes:
    """The entries in authsvc's grammar, and what was dropped (warnings) or cannot be kept."""

    entries: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _group(regex: str) -> str:
    """`regex` as one group, its leading Go flags (`(?i)`) kept as the group's own."""
    m = _LEADING_FLAGS.match(regex)
    if m:
        return f"(?{m.group(1)}:{regex[m.end():]})"
    return f"(?:{regex})"


#: an inline flag group turning on case folding: `(?i)`, `(?si)`, `(?i:...)`
_FOLDS_CASE = re.compile(r"\(\?[a-zA-Z]*i")


def _not_matching(regex: str) -> str:
    """A regex that `search` finds exactly where `regex` is found nowhere in the path.

    Route regexes compile with re.ASCII (config/access.py ROUTE_FLAGS), whose `(?i)` folds
    ASCII letters only, while Go's folds by Unicode (`s` also matches U+017F, `k` the Kelvin
    sign). Read so, a negated case-insensitive regex matched less than oauth2-proxy's and so
    made more paths public; it is negated in its Unicode reading too (a wider fold than Go's,
    never a narrower one), so that a path either reading finds stays private."""
    group = _group(regex)
    negated = f"^(?!.*{group})"
    return negated + f"(?!.*(?u:{group}))" if _FOLDS_CASE.search(regex) else negated


def _bare(regex: str) -> str:
    """`regex` for every method, protected from being read as `METHOD=...` (or as the `!=`
    authsvc refuses) by authsvc."""
    native = split_skip_route(regex)[0] or not_equal_form(regex)  # authsvc's own grammar
    return _group(regex) if native else regex


#: Go's POSIX classes (RE2 syntax, ASCII): Python's re has none, and reads `[[:digit:]]` as the
#: set `[:digt` then a `]` (negated, that made every digit path public)
_POSIX = re.compile(r"\[:\^?([a-z]+):\]")
_POSIX_RANGES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7F", "blank": "\\t ",
    "cntrl": "\\x00-\\x1F\\x7F", "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~",
    "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}


#: `{,n}`: text in Go (a repeat needs its minimum, regexp/syntax parseRepeat), {0,n} in Python
_NO_MINIMUM = re.compile(r"(?<!\\)\{,\d*\}")


def _invalid(regex: str) -> str:
    """Why `regex` does not compile on its own, or means another thing here, or "". Checked
    before it is wrapped in a group: `a)|(.*` would compile inside one (`(?:a)|(.*)`, every
    path), where oauth2-proxy's regexp.Compile refuses it and the proxy does not start."""
    posix = _POSIX.search(regex)
    if posix and posix.group(1) in _POSIX_RANGES:
        return (f"uses the POSIX class {posix.group(0)}, which Python's re reads as a set of its "
                f"characters: write the range it means, [{_POSIX_RANGES[posix.group(1)]}]")
    repeat = _NO_MINIMUM.search(regex)
    if repeat:
        return (f"has {repeat.group(0)}, which Go reads as that text and Python's re as a repeat "
                f"from 0: write \\{repeat.group(0)} for the text, {{0{repeat.group(0)[1:]} for the repeat")
    try:
        re.compile(regex)
    except re.error as exc:
        return f"is not a valid regex: {exc}"
    return ""


def skip_regexes(values: list[str]) -> list[str]:
    """`skip_auth_regex` entries (every method) as authsvc `skip_auth_routes` entries;
    ValueError for one that is no regex."""
    for value in values:
        if why := _invalid(value):
            raise ValueError(f"entry {value!r} {why}")
    return [_bare(v) for v in values]


def skip_routes(values: list[str]) -> Routes:
    """`skip_auth_routes` entries with oauth2-proxy's meaning, in authsvc's grammar."""
    out = Routes()
    for entry in values:
        negate = "!=" in entry
        parts = _SPLIT.split(entry, maxsplit=1)
        method, regex = ("", parts[0]) if len(parts) == 1 else (parts[0].upper(), parts[1])
        if method and not _LETTERS.fullmatch(method):
            if _TOKEN.fullmatch(method):
                out.errors.append(f"entry {entry!r}: authsvc matches methods of letters only, "
                                  f"not {method!r}")
            else:
                out.warnings.append(
                    f"entry {entry!r} is dropped: oauth2-proxy reads {method!r} (the text before "
                    "the first '=') as its method, which no request has, so it never matched; "
                    "write '=' in a regex as \\x3d")
            continue
        if why := _invalid(regex):
            out.errors.append(f"entry {entry!r} {why}")
            continue
        path = _not_matching(regex) if negate else regex
        out.entries.append(f"{method}={path}" if method else _bare(path))
    return out
