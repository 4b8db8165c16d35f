"""The process: where it listens, what it answers, its logs, workers and shutdown."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from .listen import ListenAddress, parse_listen
from .loading import CommaList, Duration, Problems, parse_duration

#: defaults of the request-head bounds (also what `uvicorn_options()` uses without settings)
MAX_REQUEST_HEADER_BYTES = 64 * 1024
REQUEST_HEADER_TIMEOUT = 10.0


class ServerOptions(BaseModel):
    """Listeners, the auth answer, and operation (README, "Operating it")."""

    http_address: str = Field(
        "127.0.0.1:4180",
        description=(
            "where to listen: `[http://]host:port` (`0.0.0.0:4180` in a container; IPv6 in "
            "brackets, `[::1]:4180`), `unix:///path/authsvc.sock` with an optional `,mode=0660` "
            "(the socket file's mode; a stale socket is replaced), or `fd:3` (a socket systemd "
            "passes, `LISTEN_FDS`); who a unix-socket peer is: "
            "[docs/security.md](docs/security.md#unix-sockets-and-systemd-sockets)"
        ),
    )
    proxy_prefix: str = Field(
        "/oauth2",
        description="path prefix of authsvc's endpoints",
    )
    ping_path: str = Field(
        "/ping",
        description="the liveness path (always 200 `OK`)",
    )
    ready_path: str = Field(
        "/ready",
        description="the readiness path (200 once the IdP's metadata and the session store answer, else 503)",
    )
    gcp_healthchecks: bool = Field(
        False,
        description="also answer GKE's `/liveness_check` and `/readiness_check`",
    )
    auth_success_status: int = Field(
        202,
        description=(
            "status of an allowed `/oauth2/auth` answer; `200` for Envoy (it treats any "
            "other 2xx as a denial)"
        ),
    )
    any_path_auth_status: int = Field(
        0,
        description=(
            "answer the check at **every path** outside `proxy_prefix` (but `ping_path`, "
            "`ready_path`, `/metrics`, and `/robots.txt` but behind Envoy or under `auto`, where it is "
            "the app's) with this 2xx status, for forward-auth "
            "pointed at `/`; without a session a sign-in (a `302` to the IdP with "
            "`skip_provider_button`, else the sign-in page as a `403`; `401` for JSON and XHR "
            "calls), signed in but denied the forbidden page. oauth2-proxy's "
            "`upstreams = \"static://202\"` "
            "([docs/migrating-from-oauth2-proxy.md](docs/migrating-from-oauth2-proxy.md))"
        ),
        json_schema_extra={"default_note": "(off)"},
    )

    metrics_address: str = Field(
        "",
        description=(
            "a separate listener for `/metrics` (then not served on the main port), in "
            "`http_address`'s forms (`host:port`, `unix://path[,mode=0NNN]`, `fd:N`); another "
            "port than `http_address`; `-`: no `/metrics` at all "
            "(oauth2-proxy's default when its configuration is read)"
        ),
        json_schema_extra={"default_note": "(on `http_address`)"},
    )
    log_format: Literal["json", "text"] = Field(
        "json",
        description="`json` (one object per line) or `text`",
    )
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        "info",
        description="`debug`, `info`, `warning`, `error`, `critical`",
    )
    log_requests: bool = Field(
        False,
        description=(
            "also log one access line per `/oauth2/auth` request (the login endpoints "
            "always log one)"
        ),
    )
    auth_logging: bool = Field(
        True,
        description=(
            "log the login lines (`login`, `login denied`, `login failed`: oauth2-proxy's "
            "auth log); `false` leaves them out"
        ),
    )
    logging_local_time: bool = Field(
        False,
        description=(
            "log times in the local time zone (RFC 3339 with its offset); else UTC. "
            "`true` when oauth2-proxy's configuration is read (its default)"
        ),
    )
    exclude_logging_paths: CommaList = Field(
        default_factory=list,
        description=(
            "paths (exact, without the query) whose access lines are not logged, e.g. "
            "`/oauth2/auth`"
        ),
    )
    logging_filename: str = Field(
        "",
        description=(
            "write the log lines to this file instead of stderr, rotated by the "
            "`logging_max_*` options (one worker only)"
        ),
    )
    logging_max_size: int = Field(
        100,
        description="megabytes at which the log file is rotated (`0`: 100)",
    )
    logging_max_age: int = Field(
        7,
        description="days a rotated log file is kept (`0`: no age limit)",
    )
    logging_max_backups: int = Field(
        0,
        description=(
            "rotated log files kept at most (`0`: no count limit; with `logging_max_age = 0` "
            "too, every one is kept)"
        ),
    )
    logging_compress: bool = Field(
        False,
        description="gzip the rotated log files",
    )
    workers: int = Field(
        1,
        description="worker processes (1 to 64); each is a full authsvc, `/metrics` sums them all",
    )
    shutdown_timeout: Duration = Field(
        25.0,
        description=(
            "after SIGTERM, how long in-flight requests may run before they are cut; "
            "keep it below the pod's `terminationGracePeriodSeconds` (30s)"
        ),
    )

    # Bounds on what an unauthenticated client can make one connection hold (protocol.py,
    # bodies.py). Headers: nginx passes at most 4 x 8 KiB (large_client_header_buffers) plus
    # the few it adds to the auth subrequest; Envoy's own default is 60 KiB.
    max_request_header_bytes: int = Field(
        MAX_REQUEST_HEADER_BYTES,
        description=(
            "the request line and headers of one request, at most; more is answered "
            "`431` without being read (nginx forwards at most 4 x 8 KiB of client "
            "headers, Envoy's own cap is 60 KiB). See docs/security.md, \"Limits\""
        ),
        json_schema_extra={"default_note": "(64 KiB)"},
    )
    request_header_timeout: Duration = Field(
        REQUEST_HEADER_TIMEOUT,
        description=(
            "a client must send a request's whole head within this long of connecting "
            "(or of its first byte, on a kept-alive connection); else `408` and the "
            "connection is closed"
        ),
    )
    max_request_body_bytes: int = Field(
        64 * 1024,
        description=(
            "the body any endpoint reads, at most (a logout token is a few KB); more, or "
            "a larger `Content-Length`, is `413`"
        ),
        json_schema_extra={"default_note": "(64 KiB)"},
    )
    request_body_timeout: Duration = Field(
        10.0,
        description=(
            "a body an endpoint reads must arrive whole within this long of the first "
            "read; else `408` and the connection is closed"
        ),
    )

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _server_lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("shutdown_timeout", "request_header_timeout", "request_body_timeout", mode="before")
    @classmethod
    def _server_duration(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("exclude_logging_paths")
    @classmethod
    def _server_exclude_paths(cls, value: list[str]) -> list[str]:
        # matched against the request's path, which never has a query (oauth2-proxy: exact paths)
        for path in value:
            if not path.startswith("/") or any(c in path for c in "?#"):
                raise ValueError(f"{path!r} must be a path starting with '/', without ? or #")
        return value

    @field_validator("metrics_address")
    @classmethod
    def _server_metrics_address(cls, value: str) -> str:
        if value in ("-", ""):  # "-": oauth2-proxy's spelling of "off"; "": on the main port
            return value
        try:
            return parse_listen(value, "0.0.0.0:9090").text
        except ValueError as exc:
            raise ValueError(f"{exc}; leave empty for the main port") from None

    @field_validator("http_address")
    @classmethod
    def _server_address(cls, value: str) -> str:
        return parse_listen(value).text  # config/listen.py: oauth2-proxy's forms

    @field_validator("ping_path", "ready_path")
    @classmethod
    def _server_probe_path(cls, value: str) -> str:
        # braces would be a Starlette route parameter ({name:convertor}), failing at start-up
        if not value.startswith("/") or len(value) > 200 or any(c in value for c in " ?#%{}"):
            raise ValueError(f"{value!r} must be a plain path starting with '/' (e.g. /ping)")
        return value

    @field_validator("proxy_prefix")
    @classmethod
    def _server_prefix(cls, value: str) -> str:
        if not value.startswith("/") or value.endswith("/") or any(c in value for c in " ?#%{}"):
            raise ValueError(f"{value!r} must start with '/', not end with '/' and hold no space, ?, #, %, "
                             "{ or } (e.g. /oauth2)")
        return value

    @field_validator("auth_success_status")
    @classmethod
    def _server_status(cls, value: int) -> int:
        if not 200 <= value <= 299:
            raise ValueError(f"{value} is not a 2xx status (use 202, or 200 for Envoy)")
        return value

    @field_validator("any_path_auth_status")
    @classmethod
    def _server_any_path(cls, value: int) -> int:
        if value and not 200 <= value <= 299:
            raise ValueError(f"{value} is not a 2xx status (202 as oauth2-proxy's static://202; 0 = off)")
        return value

    @model_validator(mode="after")
    def _server_operation(self) -> Self:
        problems = Problems()
        if not 1 <= self.workers <= 64:
            problems.add("workers", f"{self.workers} is not between 1 and 64")
        if self.logging_filename and self.workers > 1:
            # several processes rotating one file would rename it under each other
            problems.add("logging_filename", "needs workers = 1 (each worker would rotate the file)")
        for option in ("logging_max_size", "logging_max_age", "logging_max_backups"):
            if not 0 <= getattr(self, option) <= 1_000_000:
                problems.add(option, "must be between 0 and 1000000")
        if not 0 < self.shutdown_timeout <= 3600:
            problems.add("shutdown_timeout", "must be more than 0 and at most 1h (e.g. 25s)")
        if not 8 * 1024 <= self.max_request_header_bytes <= 16 * 1024 * 1024:
            problems.add("max_request_header_bytes", "must be between 8192 and 16777216 (16 MiB)")
        if not 0 < self.request_header_timeout <= 300:
            problems.add("request_header_timeout", "must be more than 0 and at most 5m (e.g. 10s)")
        if not 0 < self.request_body_timeout <= 300:
            problems.add("request_body_timeout", "must be more than 0 and at most 5m (e.g. 10s)")
        if not 1024 <= self.max_request_body_bytes <= 16 * 1024 * 1024:
            problems.add("max_request_body_bytes", "must be between 1024 and 16777216 (16 MiB)")
        if self.metrics_listener and parse_listen(self.metrics_listener).key == self.listener.key:
            problems.add("metrics_address", "must use another port (or socket) than http_address")
        problems.raise_any()
        return self

    @property
    def listener(self) -> ListenAddress:
        """http_address, parsed (config/listen.py)."""
        return parse_listen(self.http_address)

    @property
    def metrics_listener(self) -> str:
        """host:port of the separate /metrics listener, or "" when there is none."""
        return "" if self.metrics_address == "-" else self.metrics_address

    @property
    def metrics_on_main_port(self) -> bool:
        """Whether /metrics is served on http_address (no metrics listener of its own)."""
        return not self.metrics_address and not getattr(self, "metrics_secure_address", "")
