"""Path rules on the original request: `skip_auth_routes`, `skip_auth_preflight`, `api_routes`.

Every rule sees the path only, never the query or a fragment (GHSA-7rh7-c77v-6434:
`^/api/.*/status` matched `/api/private?x=/status`; GHSA-pxq7-h93f-9jrg: `/admin#/public`
matched `^/public`). The path is the percent-decoded one, like oauth2-proxy's `URL.Path`; a
path that a backend could read as another path (dot segments, `..;`, encoded or back-slashes,
control characters) is never skipped, since `^/public/` must not admit `/public/%2e%2e/admin`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import unquote

from ..config.access import ROUTE_FLAGS, split_skip_route
from ..models import OriginalRequest

log = logging.getLogger("authsvc.rules")

_AMBIGUOUS = re.compile(r"(?i)%2f|%5c|%00|\\|[\x00-\x1f\x7f]")
_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")


@dataclass(frozen=True, slots=True)
class SkipRule:
    """One `skip_auth_routes` entry: an optional method and a path regex (`!=` never gets
    here: config/access.py refuses it, config/o2p_routes.py rewrites oauth2-proxy's)."""

    method: str
    pattern: re.Pattern[str]

    def matches(self, method: str, path: str) -> bool:
        """Whether the entry covers this method and (decoded, canonical) path."""
        if self.method and method != self.method:
            return False
        # search, not match: oauth2-proxy semantics; anchor your regexes with ^ and $
        return self.pattern.search(path) is not None


def parse_route(entry: str) -> SkipRule:
    """`METHOD=regex` or `regex`; re.error when the regex does not compile."""
    method, regex = split_skip_route(entry)
    return SkipRule(method, re.compile(regex, ROUTE_FLAGS))


def canonical_path(raw_path: str) -> str | None:
    """The decoded path, or None when it could mean another path to some backend."""
    if _AMBIGUOUS.search(raw_path):
        return None
    path = unquote(raw_path, errors="strict") if "%" in raw_path else raw_path
    # double encoding (%252e -> %2e): a backend that decodes again would see another path
    if _AMBIGUOUS.search(path) or _ENCODED.search(path):
        return None
    if "/." not in path:  # the common case: no segment can be a dot segment
        return path
    for segment in path.split("/"):
        # Tomcat-style path parameters: "/..;/" is "/../" to some servers
        name = segment.split(";", 1)[0]
        if name in (".", ".."):
            return None
    return path


class PathRules:
    """The compiled path rules; built once from settings."""

    def __init__(
        self, skip_auth_routes: list[str], api_routes: list[str], skip_auth_preflight: bool
    ) -> None:
        self._skip = tuple(parse_route(e) for e in skip_auth_routes)
        for entry, route in zip(skip_auth_routes, self._skip, strict=True):
            if not route.pattern.pattern.startswith("^"):
                # regexes search: "/status" also makes /api/private/status public
                log.warning("skip_auth_routes entry %r is not anchored with ^: it matches "
                            "anywhere in the path", entry)
        self._api = tuple(re.compile(e, ROUTE_FLAGS) for e in api_routes)
        self._preflight = skip_auth_preflight
        #: checks an unverified description would have made public (logged once, counted)
        self._refused = 0

    def skipped(self, original: OriginalRequest) -> bool:
        """Whether the request is public: a CORS preflight (if enabled) or a skip route.

        Only a verified original request can be public (forwarded.py): an unverified one may
        have been described by the client, so it always goes through the session check.
        """
        if not self._preflight and not self._skip:
            return False
        if not original.verified:
            if self._would_skip(original):
                self._refused += 1
                # the first one says why; the rest (an attack, or every public hit of a
                # misconfigured proxy) would only repeat it
                log.log(
                    logging.WARNING if self._refused == 1 else logging.DEBUG,
                    "public route not applied to %s %.200s: the proxy's headers do not prove "
                    "the original request (proxy_kind, see docs/security.md)",
                    original.method, original.path,
                )
            return False
        return self._would_skip(original)

    def _would_skip(self, original: OriginalRequest) -> bool:
        if self._preflight and original.method == "OPTIONS":
            return True
        if not self._skip:
            return False
        path = _decoded(original.path)
        if path is None:
            return False
        return any(route.matches(original.method, path) for route in self._skip)

    def is_api(self, original: OriginalRequest) -> bool:
        """Whether the path is in `api_routes` (always 401, never a sign-in redirect)."""
        if not self._api:
            return False
        path = _decoded(original.path)
        # an odd path is nobody's page: treat it as an API call (no redirect)
        return path is None or any(p.search(path) for p in self._api)


def _decoded(raw_path: str) -> str | None:
    try:
        return canonical_path(raw_path)
    except UnicodeDecodeError:
        return None
