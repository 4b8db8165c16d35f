"""Logging: one JSON object per line (or plain text), with the request id of the request at hand.

Stdlib `logging` only: a small formatter is all JSON lines need, and it keeps the dependency
list short. Every record gets `time` (RFC 3339, UTC), `level`, `logger`, `event` (the message)
and `request_id` (when logged while a request is served); anything passed as
`extra={"user": ..., "outcome": ..., "reason": ...}` becomes a field of its own.

Never log a token, a cookie value or a secret: log who (`user`), what happened (`outcome`) and
why (`reason`). tests/unit/test_logs.py drives whole logins and greps every line for them.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import logging.handlers
import os
import re
import shutil
import sys
import time
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from .request_id import HEADER as REQUEST_ID
from .request_id import new_request_id, request_id

if TYPE_CHECKING:
    from ..config import Settings

LogFormat = Literal["json", "text"]

#: attributes every LogRecord has; anything else on a record came from `extra=`
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "request_id", "color_message", "taskName"}
)


class RequestContext:
    """What the log lines of one request share. The id is made only when a line needs it."""

    __slots__ = ("_id", "header", "headers", "outcome", "reason", "trusted", "user")

    def __init__(self, headers: list[tuple[bytes, bytes]], trusted: bool = False,
                 header: bytes = REQUEST_ID) -> None:
        self.headers = headers
        #: the peer is a trusted proxy: its X-Request-ID is believed (web/request_id.py)
        self.trusted = trusted
        #: request_id_header, lower-case: where the id is read from and echoed to
        self.header = header
        self._id: str | None = None
        self.user: str | None = None
        self.outcome: str | None = None
        self.reason: str | None = None

    @property
    def id(self) -> str:
        """A trusted proxy's plain X-Request-ID, else a new id (made on first use)."""
        if self._id is None:
            self._id = request_id(self.headers, self.trusted, self.header)
        return self._id


_current: ContextVar[RequestContext | None] = ContextVar("authsvc_request", default=None)


def begin_request(scope_headers: list[tuple[bytes, bytes]], trusted: bool = False,
                  header: bytes = REQUEST_ID) -> RequestContext:
    """Start the log context of a request (cheap: no id is made until one is asked for)."""
    ctx = RequestContext(scope_headers, trusted, header)
    _current.set(ctx)
    return ctx


def request_for(scope_headers: list[tuple[bytes, bytes]]) -> RequestContext:
    """The context the app began for this request (same headers list), else a new one."""
    ctx = _current.get()
    if ctx is not None and ctx.headers is scope_headers:
        return ctx
    return begin_request(scope_headers)


def current_id() -> str:
    """The id of the request being served (for its page), or a fresh one outside a request."""
    ctx = _current.get()
    return ctx.id if ctx is not None else new_request_id()


class _RequestIdFilter(logging.Filter):
    """Stamps the request id on every record logged while a request is served, and keeps the
    first `user` and `reason` logged for the request's access line."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _current.get()
        if ctx is None:
            record.request_id = None
            return True
        record.request_id = ctx.id
        if ctx.reason is None:
            ctx.reason = getattr(record, "reason", None)
        if ctx.user is None:
            ctx.user = getattr(record, "user", None)
        return True


def _utc(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _local(created: float) -> str:
    # RFC 3339 with the local zone's offset (logging_local_time, oauth2-proxy's default)
    return datetime.fromtimestamp(created).astimezone().isoformat(timespec="milliseconds")


class _Formatter(logging.Formatter):
    def __init__(self, local_time: bool = False) -> None:
        super().__init__()
        self.stamp = _local if local_time else _utc


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(_Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.stamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            out["request_id"] = request_id
        out.update(_extras(record))
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False, separators=(",", ":"))


class TextFormatter(_Formatter):
    """`time level logger [request id] message key=value ...` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        parts = [self.stamp(record.created), record.levelname, record.name]
        if request_id:
            parts.append(f"[{request_id}]")
        parts.append(record.getMessage())
        parts += [f"{k}={json.dumps(v, default=str)}" for k, v in _extras(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _NoAuthLines(logging.Filter):
    """auth_logging = false (oauth2-proxy's auth log off): drops the login lines, the records
    of `authsvc.login` that say how a login ended (they carry an `outcome`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "authsvc.login" and hasattr(record, "outcome"))


@dataclass(frozen=True)
class LogFile:
    """logging_filename and its rotation (oauth2-proxy's, which lumberjack does)."""

    path: str
    max_mb: int = 100
    max_age_days: int = 7
    max_backups: int = 0
    compress: bool = False


class RotatingLogFile(logging.handlers.RotatingFileHandler):
    """Rotated at `max_mb` to `<name>-<UTC time><ext>` (gzipped with `compress`); rotated files
    older than `max_age_days` or beyond the newest `max_backups` are removed (0: no limit)."""

    def __init__(self, spec: LogFile, clock: Any = time.time) -> None:
        super().__init__(spec.path, maxBytes=(spec.max_mb or 100) * 1024 * 1024, encoding="utf-8")
        self.spec = spec
        self._clock = clock
        directory, name = os.path.split(os.path.abspath(spec.path))
        self._dir = directory
        self._stem, self._ext = os.path.splitext(name)

    def doRollover(self) -> None:
        if self.stream:
            self.stream.close()
            self.stream = None
        rotated, at = "", self._clock()
        while not rotated or os.path.exists(rotated) or os.path.exists(rotated + ".gz"):
            # two rotations in one millisecond must not overwrite the first one's file
            stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H-%M-%S.%f")[:-3]
            rotated, at = os.path.join(self._dir, f"{self._stem}-{stamp}{self._ext}"), at + 0.001
        if os.path.exists(self.baseFilename):
            os.replace(self.baseFilename, rotated)
            if self.spec.compress:
                with open(rotated, "rb") as src, gzip.open(rotated + ".gz", "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.remove(rotated)
        self._prune()
        self.stream = self._open()

    def backups(self) -> list[str]:
        """The rotated files, oldest first (their names sort by time)."""
        named = re.compile(re.escape(self._stem) + r"-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}"
                           + re.escape(self._ext) + r"(\.gz)?")
        return sorted(os.path.join(self._dir, n) for n in os.listdir(self._dir) if named.fullmatch(n))

    def _prune(self) -> None:
        backups = self.backups()
        doomed = set()
        if self.spec.max_backups:
            doomed.update(backups[:-self.spec.max_backups])
        if self.spec.max_age_days:
            cutoff = self._clock() - self.spec.max_age_days * 86400
            doomed.update(b for b in backups if os.path.getmtime(b) < cutoff)
        for path in doomed:
            # gone already, or not ours to remove: logging must not fail for it
            with contextlib.suppress(OSError):
                os.remove(path)


def configure(log_format: LogFormat = "json", level: str = "info", stream: Any = None,
              auth_logging: bool = True, local_time: bool = False,
              log_file: LogFile | None = None) -> None:
    """Send every logger's records (authsvc, uvicorn, libraries) to one formatted handler."""
    handler: logging.Handler = (RotatingLogFile(log_file) if log_file
                                else logging.StreamHandler(stream or sys.stderr))
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    handler.setFormatter(formatter(local_time))
    handler.addFilter(_RequestIdFilter())  # first: a dropped login line still names the user
    if not auth_logging:
        handler.addFilter(_NoAuthLines())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs full URLs at INFO (a token endpoint's query may hold a code)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def note_outcome(outcome: str, reason: str | None = None) -> None:
    """Tell the request's metrics and access line how it ended when the status cannot (e.g.
    a 2xx for a public route is `skipped`, not `allowed`)."""
    ctx = _current.get()
    if ctx is not None:
        ctx.outcome = outcome
        if reason is not None:
            ctx.reason = reason


def log_file(settings: Settings) -> LogFile | None:
    """The LogFile `settings` ask for (logging_filename), else None: stderr."""
    if not settings.logging_filename:
        return None
    return LogFile(settings.logging_filename, settings.logging_max_size, settings.logging_max_age,
                   settings.logging_max_backups, settings.logging_compress)
