"""Real Redis servers for tests: standalone, Sentinel (1 master + 1 sentinel) and a 3-master Cluster.

All started from the `redis-server` binary on free loopback ports, in a temporary directory,
never the system Redis on 6379. A missing binary skips locally and fails in CI (`CI=true`).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"


def redis_binary(name: str = "redis-server") -> str:
    """The path of a Redis program; skip (locally) or fail (CI) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not installed: apt-get install redis-server"
        if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail(f"{message} (CI=true: a missing tool is a failure, not a skip)")
        pytest.skip(message)
    return path


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port(bus: bool = False) -> int:
    """A free loopback port; with `bus`, port + 10000 is free too (a Cluster node's bus)."""
    for _ in range(200):
        port = random.randint(20000, 29999)
        if port != 6379 and _port_free(port) and (not bus or _port_free(port + 10000)):
            return port
    raise RuntimeError("no free port pair found")


def answers(
    port: int, command: bytes = b"PING\r\n", expect: bytes = b"+PONG", tls: ssl.SSLContext | None = None
) -> bool:
    """True when a Redis protocol server on `port` answers `command` with `expect`
    (or, for a server that wants a password, with -NOAUTH)."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as raw:
            sock = tls.wrap_socket(raw, server_hostname=HOST) if tls else raw
            sock.sendall(command)
            reply = sock.recv(64)
            return reply.startswith(expect) or reply.startswith(b"-NOAUTH")
    except OSError:
        return False


def wait_for(condition: object, what: str, timeout: float = 15.0) -> None:
    """Poll a no-argument callable until it is true; TimeoutError naming `what` otherwise."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class RedisServer:
    """One redis-server (or sentinel) process that a test can stop, freeze and restart."""

    workdir: Path
    port: int
    args: list[str] = field(default_factory=list)
    popen: subprocess.Popen[bytes] | None = None
    #: for a TLS-only server: how to reach `port`
    tls: ssl.SSLContext | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}"

    def start(self) -> RedisServer:
        """Start (or restart) on the same port; returns once it answers PING."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / f"redis-{self.port}.log").open("ab")
        port = ["--port", "0", "--tls-port", str(self.port)] if self.tls else ["--port", str(self.port)]
        argv = [redis_binary(), *self.args, *port, "--bind", HOST,
                "--dir", str(self.workdir), "--daemonize", "no"]  # fmt: skip
        self.popen = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        log.close()
        try:
            wait_for(lambda: self._check_alive() and answers(self.port, tls=self.tls),
                     f"redis on {self.port}")  # fmt: skip
        except BaseException:
            self.stop()
            raise
        return self

    def _check_alive(self) -> bool:
        assert self.popen is not None
        if self.popen.poll() is not None:
            tail = (self.workdir / f"redis-{self.port}.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"redis-server on {self.port} exited:\n{tail}")
        return True

    def stop(self, kill: bool = False) -> None:
        """Stop the process (SIGKILL when `kill`), waiting until it is gone."""
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.popen.pid, signal.SIGCONT)  # a frozen process cannot handle SIGTERM
            self.popen.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def freeze(self) -> None:
        """SIGSTOP: connections are accepted but nothing answers (a hung Redis)."""
        assert self.popen is not None
        os.kill(self.popen.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after freeze()."""
        assert self.popen is not None
        os.kill(self.popen.pid, signal.SIGCONT)


def server_args(persist: bool) -> list[str]:
    if persist:  # survive a SIGKILL: every write reaches the append-only file first
        return ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
    return ["--save", "", "--appendonly", "no"]


def start_standalone(workdir: Path, persist: bool = False) -> RedisServer:
    """A standalone Redis; with `persist` its data survives a kill and restart."""
    return RedisServer(workdir, free_port(), server_args(persist)).start()


@dataclass
class SentinelSetup:
    """A master and one sentinel watching it under `master_name`."""

    master: RedisServer
    sentinel: RedisServer
    master_name: str = "authsvc-master"

    def stop(self) -> None:
        self.sentinel.stop()
        self.master.stop()


def start_sentinel(workdir: Path) -> SentinelSetup:
    """1 master + 1 sentinel (quorum 1); returns once the sentinel knows the master."""
    master = start_standalone(workdir / "master")
    port = free_port()
    sdir = workdir / "sentinel"
    sdir.mkdir(parents=True, exist_ok=True)
    conf = sdir / "sentinel.conf"  # a sentinel rewrites its config file: it must be writable
    conf.write_text(
        f"sentinel monitor authsvc-master {HOST} {master.port} 1\n"
        "sentinel down-after-milliseconds authsvc-master 5000\n"
    )
    sentinel = RedisServer(sdir, port, [str(conf), "--sentinel"])
    try:
        sentinel.start()
        query = b"SENTINEL get-master-addr-by-name authsvc-master\r\n"
        wait_for(lambda: answers(port, query, b"*2"), "the sentinel to know its master")
    except BaseException:
        sentinel.stop()
        master.stop()
        raise
    return SentinelSetup(master, sentinel)


@dataclass
class ClusterSetup:
    """Three masters, slots spread over all of them, no replicas."""

    nodes: list[RedisServer]

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_cluster(workdir: Path, size: int = 3) -> ClusterSetup:
    """A real `size`-master Cluster made with `redis-cli --cluster create`."""
    nodes: list[RedisServer] = []
    try:
        for _ in range(size):
            port = free_port(bus=True)
            args = [*server_args(False), "--cluster-enabled", "yes", "--cluster-config-file",
                    f"nodes-{port}.conf", "--cluster-node-timeout", "5000"]  # fmt: skip
            nodes.append(RedisServer(workdir / f"node-{port}", port, args).start())
        addresses = [f"{HOST}:{n.port}" for n in nodes]
        subprocess.run(
            [redis_binary("redis-cli"), "--cluster", "create", *addresses,
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        for node in nodes:
            wait_for(lambda n=node: b"cluster_state:ok" in _reply(n.port, b"CLUSTER INFO\r\n"),
                     "cluster_state:ok")  # fmt: skip
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return ClusterSetup(nodes)


def _reply(port: int, command: bytes) -> bytes:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(command)
            return sock.recv(4096)
    except OSError:
        return b""


def store_options(kind: str, fixture: Callable[[str], Any]) -> dict[str, Any]:
    """Settings overrides selecting one store; `fixture(name)` gives its running deployment
    (pytest's `request.getfixturevalue`, so a deployment starts on first use)."""
    if kind == "cookie":
        return {"session_store_type": "cookie"}
    if kind == "redis":
        server: RedisServer = fixture("redis_standalone")
        return {"session_store_type": "redis", "redis_connection_url": server.url}
    if kind == "sentinel":
        sentinel: SentinelSetup = fixture("redis_sentinel")
        return {
            "session_store_type": "redis",
            "redis_use_sentinel": True,
            "redis_sentinel_master_name": sentinel.master_name,
            "redis_sentinel_connection_urls": sentinel.sentinel.url,
        }
    cluster: ClusterSetup = fixture("redis_cluster")
    return {
        "session_store_type": "redis",
        "redis_use_cluster": True,
        "redis_cluster_connection_urls": ",".join(cluster.urls),
    }
