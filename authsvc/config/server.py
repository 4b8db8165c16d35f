"""The process: where it listens, what it answers, its logs, workers and shutdown."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, field_validator, model_validator

from .loading import Duration, option_error, parse_duration

#: defaults of the request-head bounds (also what `uvicorn_options()` uses without settings)
MAX_REQUEST_HEADER_BYTES = 64 * 1024
REQUEST_HEADER_TIMEOUT = 10.0


class ServerOptions(BaseModel):
    """Listeners, the auth answer, and operation (README, "Operating it")."""

    http_address: str = "127.0.0.1:4180"
    proxy_prefix: str = "/oauth2"
    #: the liveness and readiness paths (oauth2-proxy's ping_path / ready_path)
    ping_path: str = "/ping"
    ready_path: str = "/ready"
    #: also answer GKE's /liveness_check and /readiness_check (oauth2-proxy's, deprecated there)
    gcp_healthchecks: bool = False
    auth_success_status: int = 202

    #: host:port of a separate /metrics listener; empty serves /metrics on http_address, "-" nowhere
    metrics_address: str = ""
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    #: one access line per /oauth2/auth request (the login endpoints always log one)
    log_requests: bool = False
    workers: int = 1
    #: how long in-flight requests may take to finish after SIGTERM (below k8s's 30s grace)
    shutdown_timeout: Duration = 25.0

    # Bounds on what an unauthenticated client can make one connection hold (protocol.py,
    # bodies.py). Headers: nginx passes at most 4 x 8 KiB (large_client_header_buffers) plus
    # the few it adds to the auth subrequest; Envoy's own default is 60 KiB.
    max_request_header_bytes: int = MAX_REQUEST_HEADER_BYTES
    #: from connect (or a request's first byte) to its last header byte; slower clients are cut
    request_header_timeout: Duration = REQUEST_HEADER_TIMEOUT
    #: logout tokens and login forms are a few KB; nothing authsvc reads is bigger
    max_request_body_bytes: int = 64 * 1024
    #: from the first read of a body to its last byte (a few KB arrive in milliseconds)
    request_body_timeout: Duration = 10.0

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _server_lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("shutdown_timeout", "request_header_timeout", "request_body_timeout", mode="before")
    @classmethod
    def _server_duration(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("metrics_address")
    @classmethod
    def _server_metrics_address(cls, value: str) -> str:
        if value == "-":  # oauth2-proxy's spelling of "off"
            return value
        value = value.removeprefix("http://")
        _host, sep, port = value.rpartition(":")
        if value and (not sep or not port.isdigit() or not 0 < int(port) < 65536):
            raise ValueError(f"{value!r} is not host:port (e.g. 0.0.0.0:9090); leave empty for the main port")
        return value

    @field_validator("http_address")
    @classmethod
    def _server_address(cls, value: str) -> str:
        value = value.removeprefix("http://")  # oauth2-proxy's [http://]<addr>:<port>
        _host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r} is not host:port (e.g. 127.0.0.1:4180 or 0.0.0.0:4180)")
        return value

    @field_validator("ping_path", "ready_path")
    @classmethod
    def _server_probe_path(cls, value: str) -> str:
        if not value.startswith("/") or len(value) > 200 or any(c in value for c in " ?#%"):
            raise ValueError(f"{value!r} must be a plain path starting with '/' (e.g. /ping)")
        return value

    @field_validator("proxy_prefix")
    @classmethod
    def _server_prefix(cls, value: str) -> str:
        if not value.startswith("/") or value.endswith("/") or " " in value:
            raise ValueError(f"{value!r} must start with '/' and not end with '/' (e.g. /oauth2)")
        return value

    @field_validator("auth_success_status")
    @classmethod
    def _server_status(cls, value: int) -> int:
        if not 200 <= value <= 299:
            raise ValueError(f"{value} is not a 2xx status (use 202, or 200 for Envoy)")
        return value

    @model_validator(mode="after")
    def _server_operation(self) -> Self:
        if not 1 <= self.workers <= 64:
            raise option_error("workers", f"{self.workers} is not between 1 and 64")
        if not 0 < self.shutdown_timeout <= 3600:
            raise option_error("shutdown_timeout", "must be more than 0 and at most 1h (e.g. 25s)")
        if not 8 * 1024 <= self.max_request_header_bytes <= 16 * 1024 * 1024:
            raise option_error("max_request_header_bytes", "must be between 8192 and 16777216 (16 MiB)")
        if not 0 < self.request_header_timeout <= 300:
            raise option_error("request_header_timeout", "must be more than 0 and at most 5m (e.g. 10s)")
        if not 0 < self.request_body_timeout <= 300:
            raise option_error("request_body_timeout", "must be more than 0 and at most 5m (e.g. 10s)")
        if not 1024 <= self.max_request_body_bytes <= 16 * 1024 * 1024:
            raise option_error("max_request_body_bytes", "must be between 1024 and 16777216 (16 MiB)")
        if self.metrics_listener and (
            self.metrics_address.rpartition(":")[2] == self.http_address.rpartition(":")[2]
        ):
            raise option_error("metrics_address", "must use another port than http_address")
        return self

    @property
    def metrics_listener(self) -> str:
        """host:port of the separate /metrics listener, or "" when there is none."""
        return "" if self.metrics_address == "-" else self.metrics_address

    @property
    def metrics_on_main_port(self) -> bool:
        """Whether /metrics is served on http_address (no metrics listener of its own)."""
        return not self.metrics_address and not getattr(self, "metrics_secure_address", "")
