"""Start real programs on free loopback ports for integration tests, and stop them again.

Every process gets its own free port on 127.0.0.1, its stdout and stderr in a log file, and is
ready only when its port answers (polled against a deadline, never a fixed sleep). `stop()`
sends SIGTERM, then SIGKILL to the process group it started if it does not exit in time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx

HOST = "127.0.0.1"

#: processes started and not yet stopped (a failing test's report shows their logs)
RUNNING: list[Process] = []


@dataclass
class Served:
    """An in-process http.server on a loopback port, answering from a daemon thread."""

    server: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def serve_forever(server: ThreadingHTTPServer, name: str) -> threading.Thread:
    """Start `server` in a daemon thread called `name` (its handler threads daemons too)."""
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    return thread


#: ports free_port has handed out in this process: the kernel may offer a port again once its
#: probe socket is closed, so two ports taken for one set-up (an app and its metrics) could be
#: the same one
_GIVEN: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now and that this process has not
    been given before."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


class StartError(RuntimeError):
    """A process exited or did not become ready before its deadline; carries its log tail."""


@dataclass
class Process:
    """A started program: its Popen, the port it serves and the file that holds its output."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log_path: Path
    _log_file: object = field(repr=False, default=None)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log(self, tail: int = 4000) -> str:
        """The last `tail` characters this process printed."""
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL (to the whole group this process leads) after `timeout`."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout)
        # children left behind (nginx workers) share the group the process led
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        if self in RUNNING:
            RUNNING.remove(self)
        close = getattr(self._log_file, "close", None)
        if close is not None:
            close()


def port_open(port: int, host: str = HOST) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ready(path: str = "/", status: int | None = None) -> Callable[[Process], bool]:
    """A readiness probe: the process answers on `path` (with `status`, when given)."""

    def probe(proc: Process) -> bool:
        try:
            response = httpx.get(proc.url + path, timeout=1.0)
        except httpx.HTTPError:
            return False
        return status is None or response.status_code == status

    return probe


def tcp_ready(proc: Process) -> bool:
    """A readiness probe: the process's port accepts connections."""
    return port_open(proc.port)


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll `condition` until it holds; raise TimeoutError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def start_process(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    ready: Callable[[Process], bool] = tcp_ready,
    timeout: float = 30.0,
) -> Process:
    """Start `argv`, log to `<log_dir>/<name>.log`, and return once `ready` holds.

    Raises StartError with the log tail if the process exits or is not ready in `timeout`.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log_file = log_path.open("ab")
    full_env = dict(os.environ)
    full_env.update(env or {})
    popen = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=full_env,
        cwd=cwd,
        start_new_session=True,  # its own process group, so stop() can reap its children
    )
    proc = Process(name, popen, port, log_path, log_file)
    RUNNING.append(proc)
    deadline = time.monotonic() + timeout
    while True:
        if popen.poll() is not None:
            proc.stop()
            raise StartError(
                f"{name} exited with status {popen.returncode} before it was ready;"
                f" {argv!r}\n--- {log_path} ---\n{proc.log()}"
            )
        if ready(proc):
            return proc
        if time.monotonic() >= deadline:
            proc.stop()
            raise StartError(
                f"{name} was not ready on port {port} after {timeout:.0f}s;"
                f" {argv!r}\n--- {log_path} ---\n{proc.log()}"
            )
        time.sleep(0.05)


def python_argv(*args: str) -> list[str]:
    """argv running this interpreter (so the subprocess sees the same installed packages)."""
    return [sys.executable, *args]
