"""`authenticated_emails_file`: allowed addresses, one a line, reloaded when the file changes.

The format is oauth2-proxy's: the first CSV column, lower-cased; blank lines and `#` comments are
ignored. The file is stat'ed at most once per `CHECK_INTERVAL` (on a request, not in a thread), and
re-read only when its mtime or size changed. A file that vanishes or cannot be read keeps the last
good list (an editor's rename-and-replace must not lock everyone out) and is logged.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..clock import Clock
from ..errors import ConfigError

log = logging.getLogger("authsvc.rules")

#: seconds between two stat() calls of the file
CHECK_INTERVAL = 1.0


def parse_emails(text: str) -> frozenset[str]:
    """The addresses in a file's text (first CSV column, lower-cased)."""
    out = set()
    for line in text.splitlines():
        entry = line.split(",", 1)[0].strip().strip('"').lower()
        if entry and not entry.startswith("#"):
            out.add(entry)
    return frozenset(out)


class EmailsFile:
    """The current contents of one e-mails file."""

    def __init__(self, path: str, clock: Clock) -> None:
        self._path = Path(path)
        self._clock = clock
        self._stamp: tuple[int, int] | None = None
        self._next_check = float("-inf")
        self._emails: frozenset[str] = frozenset()
        try:
            self._reload()
        except OSError as exc:
            raise ConfigError(
                f"invalid option authenticated_emails_file: cannot read {path}: {exc.strerror}"
            ) from None

    def __contains__(self, email: str) -> bool:
        """Whether the (already lower-cased) address is listed."""
        now = self._clock()
        if now >= self._next_check:
            self._next_check = now + CHECK_INTERVAL
            try:
                self._reload()
            except OSError as exc:
                log.warning("authenticated_emails_file %s: %s; keeping the last list", self._path, exc)
        return email in self._emails

    def _reload(self) -> None:
        st = os.stat(self._path)
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        self._emails = parse_emails(self._path.read_text(encoding="utf-8-sig", errors="replace"))
        self._stamp = stamp
        log.info("authenticated_emails_file %s: %d addresses", self._path, len(self._emails))
