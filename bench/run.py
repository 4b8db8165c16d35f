"""Benchmark /oauth2/auth: `python -m bench [--smoke | --soak SECONDS] [--json FILE]`.

Starts everything on loopback (free ports, a temporary directory): the framework ceiling (a bare
Starlette 202 on authsvc's uvicorn settings), authsvc with the cookie store, authsvc with the
Redis store and its own redis-server, a local JWKS issuer for bearer tokens, and nginx with and
without `auth_request`. Sessions are minted with the stores themselves and the same secret, so
no IdP is needed (the provider is never contacted on /oauth2/auth).

Closed-loop throughput and latency come from `wrk` (a Lua script prints percentiles); the
fixed-rate percentiles from `bench.fixed_rate` (open loop, no coordinated omission). CPU time
per check is read from /proc for the server processes before and after each run. Ratios are
to the ceiling measured in the same run, because a shared machine drifts. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from tests.support.processes import HOST, Process, free_port, http_ready, start_process

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "report.lua"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

#: headers nginx's auth_request location sends (examples/nginx); every direct scenario sends them
PROXY_HEADERS = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "app.example.com",
    "X-Original-URI": "/dashboard?tab=1",
}


class BenchError(RuntimeError):
    """The benchmark cannot run (a tool is missing, a component did not start)."""


# --- measurements ---------------------------------------------------------------------------
def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of the processes `pids`, their threads and children, so far."""
    total = 0
    for pid in {*pids, *(c for p in pids for c in children(p))}:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    """Resident set size of `pid` in MiB."""
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE / 2**20


def children(pid: int) -> list[int]:
    """Direct children of `pid` (nginx workers under the master)."""
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


@dataclass
class Result:
    """One closed-loop (wrk) run."""

    scenario: str
    status: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    cpu_us: float
    requests: int
    #: answers with another status than the scenario's (the run measured the wrong thing)
    errors: int
    #: connect/read/write errors and timeouts (reported; a loaded machine can cause them)
    socket_errors: int = 0
    #: req/s over the ceiling's (mean of the ceiling runs just before and after this row)
    ratio: float | None = None
    #: the ceiling's CPU time per request over this row's: the share of a core's capacity
    cpu_ratio: float | None = None
    #: nginx rows: req/s over row 6d's, nginx auth_request to an nginx `return 202` (issue 17)
    limit_ratio: float | None = None
    note: str = ""


@dataclass
class RateResult:
    """One fixed-rate run."""

    scenario: str
    rate: float
    achieved_rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    errors: int
    #: CPU time of the server processes per request answered (the closed loop's measure, here
    #: at a load that leaves them idle between requests: fewer answers per wake-up)
    cpu_us: float = float("nan")


@dataclass
class Target:
    """Something to load: a URL, its headers, the status every answer must have."""

    name: str
    url: str
    headers: dict[str, str]
    status: int
    pids: list[int]
    cookies_file: Path | None = None
    note: str = ""


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise BenchError("wrk not installed: apt-get install wrk")
    return path


def run_wrk(target: Target, duration: float, connections: int, workdir: Path) -> dict[str, Any]:
    """One wrk run; the JSON summary of report.lua."""
    script = LUA
    args: list[str] = []
    if target.cookies_file is not None:
        script = workdir / "rotate.lua"
        script.write_text(
            LUA.read_text()
            + "local cookies, n, i = {}, 0, 0\n"
            "init = function(args)\n"
            "  for line in io.lines(args[1]) do n = n + 1; cookies[n] = line end\n"
            "end\n"
            "request = function()\n"
            "  i = (i % n) + 1\n"
            '  wrk.headers["Cookie"] = cookies[i]\n'
            "  return wrk.format(nil)\n"
            "end\n"
        )
        args = ["--", str(target.cookies_file)]
    argv = [wrk_binary(), "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "5s",
            "-s", str(script)]  # fmt: skip
    for name, value in target.headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv += [target.url, *args]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return dict(json.loads(line.removeprefix("BENCH_JSON ")))
    raise BenchError(f"wrk printed no summary (exit {out.returncode}):\n{out.stdout}\n{out.stderr}")


def check_status(target: Target) -> None:
    """One request first: a scenario that answers the wrong status measures nothing."""
    import httpx

    response = httpx.get(target.url, headers=target.headers, timeout=10.0)
    if response.status_code != target.status:
        raise BenchError(
            f"{target.name}: expected {target.status}, got {response.status_code} {response.text[:200]!r}"
        )


def closed_loop(target: Target, duration: float, warmup: float, connections: int, workdir: Path) -> Result:
    check_status(target)
    if warmup:
        run_wrk(target, warmup, connections, workdir)
    before = cpu_seconds(target.pids)
    summary = run_wrk(target, duration, connections, workdir)
    cpu = cpu_seconds(target.pids) - before
    requests = int(summary["requests"])
    seconds = summary["duration_us"] / 1e6
    socket_errors = sum(int(summary[k]) for k in ("errors_connect", "errors_read", "errors_write",
                                                  "errors_timeout"))  # fmt: skip
    # wrk counts every status >= 400 as an error: for the 401 scenario that is every answer
    status_errors = int(summary["errors_status"])
    wrong = status_errors if target.status < 400 else requests - status_errors
    return Result(
        scenario=target.name,
        status=target.status,
        rps=round(requests / seconds, 1),
        p50_ms=summary["p50_us"] / 1000,
        p90_ms=summary["p90_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        cpu_us=round(cpu / requests * 1e6, 1) if requests else float("nan"),
        requests=requests,
        errors=wrong,
        socket_errors=socket_errors,
        note=target.note,
    )


def fixed_rate(target: Target, rate: float, duration: float) -> RateResult:
    check_status(target)
    argv = [sys.executable, "-m", "bench.fixed_rate", target.url, "--rate", str(rate),
            "--duration", str(duration), "--connections", "64"]  # fmt: skip
    for name, value in target.headers.items():
        argv += ["-H", f"{name}: {value}"]
    before = cpu_seconds(target.pids)
    out = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=duration + 60, check=False)
    cpu = cpu_seconds(target.pids) - before
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            data = json.loads(line.removeprefix("BENCH_JSON "))
            wrong = sum(v for k, v in data["statuses"].items() if int(k) != target.status)
            return RateResult(
                scenario=target.name, rate=rate, achieved_rps=data["achieved_rps"],
                p50_ms=data["p50_ms"], p90_ms=data["p90_ms"], p99_ms=data["p99_ms"],
                p999_ms=data["p999_ms"], max_ms=data["max_ms"], errors=data["errors"] + wrong,
                cpu_us=round(cpu / data["completed"] * 1e6, 1) if data.get("completed") else float("nan"),
            )  # fmt: skip
    raise BenchError(
        f"fixed_rate printed no summary (exit {out.returncode}):\n{out.stdout}\n{out.stderr[-3000:]}"
    )


# --- components -----------------------------------------------------------------------------
def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


@dataclass
class Stack:
    """Everything started for one benchmark run; stopped in reverse order."""

    workdir: Path
    processes: list[Process] = field(default_factory=list)

    def start(self, name: str, argv: list[str], port: int, ready_path: str | None = "/ping") -> Process:
        ready = http_ready(ready_path) if ready_path else None
        kwargs: dict[str, Any] = {"ready": ready} if ready else {}
        proc = start_process(name, argv, port=port, log_dir=self.workdir, cwd=ROOT, timeout=60, **kwargs)
        self.processes.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()

    def authsvc(self, name: str, options: dict[str, Any], module: str = "authsvc") -> Process:
        port = free_port()
        config = self.workdir / f"{name}.toml"
        options = {"http_address": f"{HOST}:{port}", **options}
        config.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in options.items()))
        return self.start(name, [sys.executable, "-m", module, "serve", "--config", str(config)], port)

    def authsvc_unix(self, name: str, options: dict[str, Any]) -> tuple[Process, Path]:
        """authsvc on a unix socket in the work directory (rows 6g): the socket's mode 0666, as
        nginx's workers run as nobody when the bench is started by root (the directory is 0711)."""
        sock = self.workdir / f"{name}.sock"
        config = self.workdir / f"{name}.toml"
        options = {**options, "http_address": f"unix://{sock},mode=0666"}
        config.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in options.items()))

        def ready(_: Process) -> bool:
            import httpx

            try:
                with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), timeout=1.0) as client:
                    return client.get("http://authsvc/ping").status_code == 200
            except httpx.HTTPError:
                return False

        argv = [sys.executable, "-m", "authsvc", "serve", "--config", str(config)]
        proc = start_process(name, argv, port=0, log_dir=self.workdir, cwd=ROOT, timeout=60, ready=ready)
        self.processes.append(proc)
        return proc, sock

    def ceiling(self) -> Process:
        port = free_port()
        return self.start("ceiling", [sys.executable, "-m", "bench.ceiling", HOST, str(port)], port, None)

    def redis(self) -> Process | None:
        binary = shutil.which("redis-server")
        if binary is None:
            return None
        port = free_port()
        argv = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
                "--dir", str(self.workdir)]  # fmt: skip
        return self.start("redis", argv, port, None)

    def jwks(self, jwks: dict[str, Any], port: int) -> Process:
        path = self.workdir / "jwks.json"
        path.write_text(json.dumps(jwks))
        return self.start("jwks", [sys.executable, "-m", "bench.jwks", HOST, str(port), str(path)], port)

    def nginx(
        self, authsvc_port: int, uvicorn_port: int, workers_port: int, authsvc_sock: Path
    ) -> tuple[Process, int, int, int, int, int, int, int, int] | None:
        binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
        if binary is None:
            return None
        auth_port, plain_port, app_port, cached_port = free_port(), free_port(), free_port(), free_port()
        limit_port, answer_port, before_port, w2_port = free_port(), free_port(), free_port(), free_port()
        unix_port, limit_unix_port = free_port(), free_port()
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "cache"):
            (self.workdir / "nginx" / sub).mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "nginx.conf"
        auth_servers = "\n".join(
            AUTH_SERVER.format(host=HOST, port=port, cache=cache, upstream=upstream)
            for port, cache, upstream in (
                (auth_port, "", "authsvc"), (cached_port, CACHE_LINES, "authsvc"), (limit_port, "", "limit"),
                (before_port, "", "uvicorn_only"), (w2_port, "", "workers2"),
                (unix_port, "", "authsvc_unix"), (limit_unix_port, "", "limit_unix"),
            )
        )
        conf.write_text(NGINX_CONF.format(
            workdir=self.workdir, plain_port=plain_port, app_port=app_port,
            authsvc_port=authsvc_port, host=HOST, auth_servers=auth_servers, answer_port=answer_port,
            uvicorn_port=uvicorn_port, workers_port=workers_port, authsvc_sock=authsvc_sock,
            answer_sock=self.workdir / "nginx-202.sock",
        ))  # fmt: skip
        test = subprocess.run([binary, "-t", "-q", "-e", "stderr", "-p", f"{self.workdir}/", "-c", str(conf)],
                              capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        if test.returncode != 0:
            raise BenchError(f"nginx -t rejected {conf}:\n{test.stderr}")
        proc = self.start("nginx", [binary, "-e", "stderr", "-p", f"{self.workdir}/", "-c", str(conf)],
                          auth_port, None)  # fmt: skip
        return (proc, auth_port, plain_port, cached_port, limit_port, before_port, w2_port, unix_port,
                limit_unix_port)


NGINX_CONF = """\
# set_hmac_sha256 (row 6c's key) is set-misc's, which needs the devel kit first
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_set_misc_module.so;
daemon off;
master_process on;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {workdir}/nginx/client_body;
  proxy_temp_path {workdir}/nginx/proxy;
  fastcgi_temp_path {workdir}/nginx/fastcgi;
  uwsgi_temp_path {workdir}/nginx/uwsgi;
  scgi_temp_path {workdir}/nginx/scgi;
  upstream authsvc {{ server {host}:{authsvc_port}; keepalive 32; }}
  upstream app {{ server {host}:{app_port}; keepalive 32; }}
  upstream limit {{ server {host}:{answer_port}; keepalive 32; }}
  upstream uvicorn_only {{ server {host}:{uvicorn_port}; keepalive 32; }}
  upstream workers2 {{ server {host}:{workers_port}; keepalive 32; }}
  # rows 6g / 6h: the same two, over unix sockets instead of TCP loopback
  upstream authsvc_unix {{ server unix:{authsvc_sock}; keepalive 32; }}
  upstream limit_unix {{ server unix:{answer_sock}; keepalive 32; }}
  proxy_http_version 1.1;
  proxy_buffer_size 16k;
  proxy_buffers 8 16k;
  proxy_cache_path {workdir}/nginx/cache keys_zone=auth:1m max_size=16m inactive=10s;

  # the protected application (a static answer: only the proxying is measured)
  server {{
    listen {host}:{app_port};
    location / {{ return 200 "app\\n"; }}
  }}
  # the limit of auth_request itself: an auth server doing no work at all (row 6d)
  server {{
    listen {host}:{answer_port};
    listen unix:{answer_sock};
    location / {{ return 202; }}
  }}
  # with auth_request (examples/nginx, trimmed to what the 2xx path uses), then the same
  # with a 5 s nginx cache of auth answers (AUTH_SERVER, CACHE_LINES)
{auth_servers}
  # the same application without authentication
  server {{
    listen {host}:{plain_port};
    location / {{ proxy_set_header Connection ""; proxy_pass http://app; }}
  }}
}}
"""

AUTH_SERVER = """\
  server {{
    listen {host}:{port};
    location = /oauth2/auth {{
      internal;
      proxy_pass http://{upstream};{cache}
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
    }}
    location / {{
      auth_request /oauth2/auth;
      auth_request_set $user $upstream_http_x_auth_request_user;
      auth_request_set $email $upstream_http_x_auth_request_email;
      proxy_set_header X-User $user;
      proxy_set_header X-Email $email;
      proxy_set_header Connection "";
      proxy_pass http://app;
    }}
  }}"""

# examples/nginx/nginx-cache.conf's key: hex(HMAC-SHA256(nginx_cache_key_secret, session
# cookie)) + the auth location, which authsvc can purge on sign-out, refresh and back-channel
# logout (sessions/cache_key.py); the bench's authsvc purges nothing (no purge happens during a run anyway)
CACHE_LINES = """
      set_hmac_sha256 $authsvc_cache_mac "bench-nginx-cache-key-secret-0123456789" $cookie__authsvc;
      set_encode_hex $authsvc_cache_key $authsvc_cache_mac;
      proxy_set_header X-Authsvc-Cache-Key $authsvc_cache_key;
      proxy_set_header X-Authsvc-Cache-Location $uri;
      proxy_cache auth;
      proxy_cache_key $authsvc_cache_key$uri;
      proxy_cache_valid 202 5s;"""


# --- sessions -------------------------------------------------------------------------------
def _fake_jwt(size: int) -> str:
    return ".".join(base64.urlsafe_b64encode(secrets.token_bytes(n)).rstrip(b"=").decode()
                    for n in (27, size * 3 // 4 - 140, 192))  # fmt: skip


def make_session(i: int, now: int) -> Any:
    """A realistic session: five groups, ~1 KB access and ID tokens, a refresh token."""
    from authsvc.models import Identity, Session, Tokens

    identity = Identity(
        user=f"user{i}", email=f"user{i}@example.com", groups=("staff", "dev", "ops", "oncall", "readers"),
        preferred_username=f"user{i}", email_verified=True, subject=f"sub-{i}", sid=f"sid-{i}",
    )  # fmt: skip
    tokens = Tokens(access_token=_fake_jwt(1000), id_token=_fake_jwt(1100),
                    refresh_token=secrets.token_urlsafe(48), expires_at=now + 3600)  # fmt: skip
    return Session(identity, tokens, created_at=now, expires_at=now + 86400, refreshed_at=now)


def mint_cookies(options: dict[str, Any], count: int) -> list[str]:
    """`count` session cookie values made by the configured store (cookie or Redis)."""
    from authsvc.clock import system_clock
    from authsvc.config import load_settings
    from authsvc.sessions import create_store

    settings = load_settings(**{k: v for k, v in options.items() if k != "http_address"})

    async def mint() -> list[str]:
        store = create_store(settings, system_clock)
        try:
            now = int(time.time())
            return [await store.save(make_session(i, now)) for i in range(count)]
        finally:
            await store.close()

    return asyncio.run(mint())


def bearer_material(issuer: str, audience: str) -> tuple[dict[str, Any], str]:
    """(JWKS, a signed RS256 token for `audience`) from a fresh key."""
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": "bench", "use": "sig", "alg": "RS256"})
    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "sub": "api-client", "email": "api@example.com",
              "email_verified": True, "iat": now, "exp": now + 3600, "groups": ["api"]}  # fmt: skip
    token = jwt.encode({"alg": "RS256", "kid": "bench"}, claims, key)
    return {"keys": [key.as_dict(private=False)]}, token


# --- the run --------------------------------------------------------------------------------
@dataclass
class Plan:
    duration: float
    warmup: float
    connections: int
    rate: float
    rate_duration: float
    soak: float = 0.0
    smoke: bool = False
    #: the scenario numbers to run ("1" is always run: every ratio needs it); empty: all
    only: str = ""
    #: closed-loop rounds: every row run this many times, its figures the median (a shared
    #: machine drifts from minute to minute; one run's ratio can be off by a third)
    rounds: int = 1


def base_options(secret: str, issuer: str) -> dict[str, Any]:
    return {
        "cookie_secret": secret,
        "client_id": "bench",
        "client_secret": "bench-secret",
        "oidc_issuer_url": issuer,
        "cookie_secure": False,
        "email_domains": ["*"],
        "reverse_proxy": True,
        "trusted_proxy_ips": ["127.0.0.1/32"],
    }


def has_bearer() -> bool:
    from authsvc.config import Settings

    # providers/bearer.py since the layout by flow; authsvc/bearer.py before it (older commits)
    where = ("authsvc.providers.bearer", "authsvc.bearer")
    return any(find_spec(m) is not None for m in where) and "skip_jwt_bearer_tokens" in Settings.model_fields


def has_lean() -> bool:
    return find_spec("authsvc.web.lean") is not None


def has_redis_store() -> bool:
    return find_spec("authsvc.sessions.redis") is not None


@contextlib.contextmanager
def stack(workdir: Path) -> Iterator[Stack]:
    s = Stack(workdir)
    try:
        yield s
    finally:
        s.stop()


def targets(s: Stack, plan: Plan, log: Any) -> tuple[list[Target], dict[str, Any]]:
    """Start every component; the scenarios in table order and facts for the report."""
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    facts: dict[str, Any] = {}
    found: list[Target] = []
    auth_path = "/oauth2/auth"

    ceiling = s.ceiling()

    bearer = has_bearer()
    issuer = "https://idp.invalid"
    token = ""
    if bearer:
        port = free_port()
        issuer = f"http://{HOST}:{port}"
        jwks, token = bearer_material(issuer, "bench")
        s.jwks(jwks, port)
    options = base_options(secret, issuer)
    if bearer:
        options["skip_jwt_bearer_tokens"] = True
    log("minting sessions ...")
    cookie_values = mint_cookies(options, 1)
    facts["cookie_bytes"] = len(cookie_values[0])
    cookie_auth = s.authsvc("authsvc-cookie", options)
    cookie = f"{options.get('cookie_name', '_authsvc')}={cookie_values[0]}"
    # the ceiling gets the very same request bytes as scenario 2 (a ~2.7 KB Cookie header too)
    found.insert(0, Target("1 ceiling: bare Starlette 202", f"{ceiling.url}{auth_path}",
                           {**PROXY_HEADERS, "Cookie": cookie}, 202, [ceiling.popen.pid]))  # fmt: skip
    url = f"{cookie_auth.url}{auth_path}"
    pid = [cookie_auth.popen.pid]
    found.append(Target("2 cookie session", url, {**PROXY_HEADERS, "Cookie": cookie}, 202, pid,
                        note=f"cookie {facts['cookie_bytes']} B"))  # fmt: skip
    # the same, every request on uvicorn's protocol (before issue 17's web/lean.py)
    before = s.authsvc("authsvc-uvicorn", options, "bench.uvicorn_only") if has_lean() else None
    if before is not None:
        found.append(Target("2u cookie session, uvicorn only", f"{before.url}{auth_path}",
                            {**PROXY_HEADERS, "Cookie": cookie}, 202, [before.popen.pid],
                            note="before web/lean.py"))  # fmt: skip

    if has_redis_store():
        redis = s.redis()
        if redis is not None:
            redis_options = {**options, "session_store_type": "redis", "redis_connection_url": f"redis://{HOST}:{redis.port}"}
            values = mint_cookies(redis_options, 1)
            redis_auth = s.authsvc("authsvc-redis", redis_options)
            found.append(Target(
                "3 redis session", f"{redis_auth.url}{auth_path}",
                {**PROXY_HEADERS, "Cookie": f"_authsvc={values[0]}"}, 202,
                [redis_auth.popen.pid, redis.popen.pid], note="CPU incl. redis-server",
            ))  # fmt: skip
            facts["redis_cookie_bytes"] = len(values[0])
        else:
            log("redis-server not installed: scenario 3 skipped")
    else:
        log("no Redis store in authsvc yet: scenario 3 skipped")

    if bearer:
        bearer_headers = {**PROXY_HEADERS, "Authorization": f"Bearer {token}"}
        found.append(Target("4 bearer JWT (RS256)", url, bearer_headers, 202, pid,
                            note="verified once, then cached by token hash"))  # fmt: skip
    else:
        log("no bearer support in authsvc yet: scenario 4 skipped")

    found.append(Target("5 no session (401)", url, {**PROXY_HEADERS, "Accept": "application/json"}, 401, pid))

    # the same cookie check on `workers = 2` (issue 17: reported beside one worker)
    two = s.authsvc("authsvc-cookie-w2", {**options, "workers": 2})
    found.insert(found.index(next(t for t in found if t.name.startswith("2 "))) + 1,
                 Target("2w cookie session, workers = 2", f"{two.url}{auth_path}",
                        {**PROXY_HEADERS, "Cookie": cookie}, 202, [two.popen.pid],
                        note="CPU incl. both workers"))  # fmt: skip

    unix_auth, unix_sock = s.authsvc_unix("authsvc-cookie-unix", options)
    ng = s.nginx(cookie_auth.port, before.port if before is not None else cookie_auth.port, two.port,
                 unix_sock)
    if ng is not None:
        (proc, auth_port, plain_port, cached_port, limit_port, before_port, w2_port, unix_port,
         limit_unix_port) = ng
        nginx_pids = [proc.popen.pid]  # and its workers (cpu_seconds adds children)
        plain_url = f"http://{HOST}:{plain_port}/dashboard"
        found.append(Target("6a nginx, no auth", plain_url, {}, 200, nginx_pids))
        found.append(Target("6d nginx auth_request -> nginx 202", f"http://{HOST}:{limit_port}/dashboard",
                            {"Cookie": cookie}, 200, nginx_pids,
                            note="the mechanism's limit: no auth work; ratio to 6a"))  # fmt: skip
        found.append(Target("6b nginx auth_request + cookie", f"http://{HOST}:{auth_port}/dashboard",
                            {"Cookie": cookie}, 200, [*nginx_pids, *pid],
                            note="CPU incl. authsvc; ratio to 6a"))  # fmt: skip
        if before is not None:
            found.append(Target("6e nginx auth_request, uvicorn only", f"http://{HOST}:{before_port}/dashboard",
                                {"Cookie": cookie}, 200, [*nginx_pids, before.popen.pid],
                                note="6b before web/lean.py; ratio to 6a"))  # fmt: skip
        found.append(Target("6f nginx auth_request, workers = 2", f"http://{HOST}:{w2_port}/dashboard",
                            {"Cookie": cookie}, 200, [*nginx_pids, two.popen.pid],
                            note="6b on two authsvc workers; ratio to 6a"))  # fmt: skip
        found.append(Target("6h nginx auth_request -> nginx 202, unix socket",
                            f"http://{HOST}:{limit_unix_port}/dashboard", {"Cookie": cookie}, 200, nginx_pids,
                            note="6d over a unix socket; its 'of 6d' is to 6d"))  # fmt: skip
        found.append(Target("6g nginx auth_request + cookie, unix socket", f"http://{HOST}:{unix_port}/dashboard",
                            {"Cookie": cookie}, 200, [*nginx_pids, unix_auth.popen.pid],
                            note="6b over a unix socket; its 'of 6d' is to 6h"))  # fmt: skip
        found.append(Target("6c nginx auth_request + proxy_cache", f"http://{HOST}:{cached_port}/dashboard",
                            {"Cookie": cookie}, 200, [*nginx_pids, *pid],
                            note="5 s cache of 202s in nginx; ratio to 6a"))  # fmt: skip
    else:
        log("nginx not installed: scenario 6 skipped")
    return found, facts


def run(plan: Plan, json_path: Path | None, keep: bool) -> int:
    wrk_binary()
    workdir = Path(tempfile.mkdtemp(prefix="authsvc-bench-"))
    workdir.chmod(0o711)  # nginx workers run as nobody when started by root: they must get in

    def log(message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    started = time.monotonic()
    results: list[Result] = []
    rate_results: list[RateResult] = []
    soak: dict[str, Any] = {}
    try:
        with stack(workdir) as s:
            found, facts = targets(s, plan, log)
            if plan.only:
                found = [t for t in found if t.name[0] == "1" or t.name[0] in plan.only]
            if plan.soak:
                soak = run_soak(s, found, plan, workdir, log)
            else:
                results = closed_loops(found, plan, workdir, log)
                for target in found:
                    if target.name[0] in "123":
                        log(f"{target.name}: {plan.rate:.0f} req/s for {plan.rate_duration:.0f}s")
                        rate_results.append(fixed_rate(target, plan.rate, plan.rate_duration))
    except BenchError as exc:
        log(f"failed: {exc}")
        return 1
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    report = {
        "machine": machine(),
        "plan": asdict(plan),
        "facts": facts,
        "elapsed_s": round(elapsed, 1),
        "closed_loop": [asdict(r) for r in results],
        "fixed_rate": [asdict(r) for r in rate_results],
        "soak": soak,
    }
    print(render(report))
    if json_path:
        json_path.write_text(json.dumps(report, indent=2))
    bad = [r.scenario for r in results if r.errors] + [r.scenario for r in rate_results if r.errors]
    if bad:
        log(f"errors or wrong statuses in: {', '.join(bad)}")
        return 1
    return 0


def closed_loops(found: list[Target], plan: Plan, workdir: Path, log: Any) -> list[Result]:
    """`plan.rounds` rounds of every scenario (`one_round`), each row's figures the median of
    its rounds."""
    rounds = [one_round(found, plan, workdir, log, n) for n in range(max(1, plan.rounds))]
    if len(rounds) == 1:
        return rounds[0]
    return [median_result(runs) for runs in zip(*rounds, strict=True)]


def one_round(found: list[Target], plan: Plan, workdir: Path, log: Any, number: int) -> list[Result]:
    """Every scenario once, the ceiling again between the direct ones and the limit (6d) again
    after each other nginx row (the machine drifts): each ratio is to the mean of the ceiling
    (or limit) runs just before and after it; the nginx rows' plain ratio is to 6a's."""
    ceiling_target, rest = found[0], found[1:]
    limit_target = next((t for t in rest if t.name.startswith("6d")), None)

    def one(target: Target) -> Result:
        round_note = f" (round {number + 1})" if plan.rounds > 1 else ""
        log(f"{target.name}: {plan.duration:.0f}s closed loop{round_note}")
        return closed_loop(target, plan.duration, plan.warmup, plan.connections, workdir)

    ceilings = [one(ceiling_target)]
    limits: list[Result] = []
    results: list[Result] = []
    for target in rest:
        result = one(target)
        if target.name[0] in "12345":
            ceilings.append(one(ceiling_target))
            before, after = ceilings[-2], ceilings[-1]
            result.ratio = round(result.rps / ((before.rps + after.rps) / 2), 3)
            result.cpu_ratio = round(((before.cpu_us + after.cpu_us) / 2) / result.cpu_us, 3)
        elif target is limit_target:
            limits.append(result)
            result.limit_ratio = 1.0
        elif target.name[0] == "6" and not target.name.startswith("6a") and limit_target is not None:
            if not limits:  # 6d is listed first; run it now if it is not
                limits.append(one(limit_target))
            limits.append(one(limit_target))
            before, after = limits[-2], limits[-1]
            result.limit_ratio = round(result.rps / ((before.rps + after.rps) / 2), 3)
        results.append(result)
    plain = next((r for r in results if r.scenario.startswith("6a")), None)
    for r in results:
        if r.scenario[0] == "6" and not r.scenario.startswith("6a") and plain is not None:
            r.ratio = round(r.rps / plain.rps, 3)
            r.cpu_ratio = round(plain.cpu_us / r.cpu_us, 3)
    # 6g's limit is the same mechanism over the same kind of socket: 6h (like with like)
    limit_unix = next((r for r in results if r.scenario.startswith("6h")), None)
    for r in results:
        if r.scenario.startswith("6g") and limit_unix is not None:
            r.limit_ratio = round(r.rps / limit_unix.rps, 3)
    if limits:  # the limit row: its median run, noted with all of them
        limit = next(r for r in results if r.scenario.startswith("6d"))
        middle = sorted(limits, key=lambda r: r.rps)[len(limits) // 2]
        runs = ", ".join(f"{r.rps:.0f}" for r in limits)
        for name in ("rps", "p50_ms", "p90_ms", "p99_ms", "cpu_us", "requests"):
            setattr(limit, name, getattr(middle, name))
        if plain is not None:
            limit.ratio = round(limit.rps / plain.rps, 3)
            limit.cpu_ratio = round(plain.cpu_us / limit.cpu_us, 3)
        limit.errors = sum(r.errors for r in limits)
        if len(limits) > 1:
            limit.note = f"the mechanism's limit; median of {len(limits)} runs: {runs}"
    # the ceiling row: the median run, its ratios 1 by definition
    ceiling = sorted(ceilings, key=lambda r: r.rps)[len(ceilings) // 2]
    ceiling.ratio = ceiling.cpu_ratio = 1.0
    ceiling.note = f"median of {len(ceilings)} runs: " + ", ".join(f"{c.rps:.0f}" for c in ceilings)
    ceiling.errors = sum(c.errors for c in ceilings)
    return [ceiling, *results]


def median_result(runs: Sequence[Result]) -> Result:
    """One row over several rounds: each figure the median of its rounds (errors summed), the
    note listing the rounds' ratios."""
    first = runs[0]

    def mid(name: str) -> Any:
        values = [getattr(r, name) for r in runs if getattr(r, name) is not None]
        return round(statistics.median(values), 3) if values else None

    out = Result(first.scenario, first.status, mid("rps"), mid("p50_ms"), mid("p90_ms"), mid("p99_ms"),
                 mid("cpu_us"), requests=sum(r.requests for r in runs), errors=sum(r.errors for r in runs),
                 socket_errors=sum(r.socket_errors for r in runs), ratio=mid("ratio"),
                 cpu_ratio=mid("cpu_ratio"), limit_ratio=mid("limit_ratio"))  # fmt: skip
    shown = "limit_ratio" if first.scenario.startswith("6") and first.limit_ratio is not None else "cpu_ratio"
    label = "of 6d" if shown == "limit_ratio" else "CPU ratios"
    shown_values = [getattr(r, shown) for r in runs if getattr(r, shown) is not None]
    out.note = f"median of {len(runs)} rounds" + (
        f", {label} " + ", ".join(f"{v:.2f}" for v in shown_values) if shown_values else "")
    if first.scenario.startswith("1 ") or first.scenario.startswith("6d"):
        out.note = f"median of {len(runs)} rounds of: " + " | ".join(r.note.split(": ", 1)[-1] for r in runs)
    return out


def run_soak(s: Stack, found: list[Target], plan: Plan, workdir: Path, log: Any) -> dict[str, Any]:
    """`plan.soak` seconds of load on authsvc, many distinct sessions; RSS sampled throughout."""
    del s
    chosen = [t for t in found if t.name[:2] in ("2 ", "3 ")]  # one worker each, lean protocol
    procs: list[subprocess.Popen[str]] = []
    samples: dict[str, list[tuple[float, float]]] = {t.name: [] for t in chosen}
    # 20,000 distinct sessions per store: more than any in-process cache holds
    for t in chosen:
        cookie_name, _, _ = t.headers["Cookie"].partition("=")
        options_file = workdir / ("authsvc-redis.toml" if t.name.startswith("3") else "authsvc-cookie.toml")
        options = _read_toml(options_file)
        count = 200 if plan.smoke else 20000
        log(f"{t.name}: minting {count} sessions for the soak ...")
        values = mint_cookies(options, count)
        t.cookies_file = workdir / f"cookies-{t.name[0]}.txt"
        t.cookies_file.write_text("".join(f"{cookie_name}={v}\n" for v in values))
    start = time.monotonic()
    for t in chosen:
        run_wrk(t, 1, 8, workdir)  # warm up: the start RSS is after imports and first requests
    for t in chosen:
        script = workdir / "rotate.lua"
        argv = [wrk_binary(), "-t1", "-c8", f"-d{round(plan.soak)}s", "--timeout", "5s", "-s", str(script)]
        for name, value in t.headers.items():
            if name != "Cookie":
                argv += ["-H", f"{name}: {value}"]
        argv += [t.url, "--", str(t.cookies_file)]
        procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    log(f"soak: {plan.soak:.0f}s on {', '.join(t.name for t in chosen)}")
    t0 = time.monotonic()
    interval = max(1.0, min(10.0, plan.soak / 20))
    while any(p.poll() is None for p in procs):
        for t in chosen:
            samples[t.name].append((round(time.monotonic() - t0, 1), round(rss_mb(t.pids[0]), 2)))
        time.sleep(interval)
    out: dict[str, Any] = {"seconds": plan.soak, "elapsed_s": round(time.monotonic() - start, 1)}
    for t, p in zip(chosen, procs, strict=True):
        stdout, _ = p.communicate()
        line = next((x for x in stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
        summary = json.loads(line.removeprefix("BENCH_JSON ")) if line else {}
        series = samples[t.name]
        out[t.name] = {
            "requests": summary.get("requests", 0),
            "rss_start_mb": series[0][1] if series else None,
            "rss_end_mb": series[-1][1] if series else None,
            "rss_max_mb": max(v for _, v in series) if series else None,
            "samples": series,
        }
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    return dict(tomllib.loads(path.read_text()))


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import platform

    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "kernel": platform.release()}  # fmt: skip


def render(report: dict[str, Any]) -> str:
    """The report as fixed-width tables."""
    m = report["machine"]
    # the scenario column: as wide as its longest name (6g's and 6h's are longer than the rest)
    w = max([34, *(len(r["scenario"]) for r in [*report["closed_loop"], *report["fixed_rate"]])])
    lines = [
        f"machine: {m['cpus']} CPUs, {m['cpu_model']}, Python {m['python']}, Linux {m['kernel']}",
        f"plan: {report['plan']}  elapsed {report['elapsed_s']} s",
    ]
    if report["closed_loop"]:
        lines += ["", "closed loop (wrk -t1 -c{c}, {d:.0f}s per row)".format(
            c=report["plan"]["connections"], d=report["plan"]["duration"]),
            f"{'scenario':{w}} {'status':>6} {'req/s':>9} {'ratio':>6} {'p50 ms':>7} {'p90 ms':>7} "
            f"{'p99 ms':>7} {'CPU us/req':>10} {'CPU ratio':>9} {'of 6d':>6} {'errors':>6}  "
            "note"]  # fmt: skip
        for r in report["closed_loop"]:
            ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
            cpu_ratio = f"{r['cpu_ratio']:.2f}" if r["cpu_ratio"] is not None else "-"
            errors = f"{r['errors']}/{r['socket_errors']}"
            limit = f"{r['limit_ratio']:.2f}" if r.get("limit_ratio") is not None else "-"
            lines.append(
                f"{r['scenario']:{w}} {r['status']:>6} {r['rps']:>9.0f} {ratio:>6} {r['p50_ms']:>7.2f} "
                f"{r['p90_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['cpu_us']:>10.0f} {cpu_ratio:>9} {limit:>6} "
                f"{errors:>6}  "
                f"{r['note']}"
            )
        lines.append("errors: wrong statuses / socket errors and timeouts")
    if report["fixed_rate"]:
        lines += ["", "fixed rate (open loop, bench.fixed_rate, latency from the due time)",
                  f"{'scenario':{w}} {'rate':>6} {'achieved':>9} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
                  f"{'p99.9 ms':>8} {'max ms':>7} {'CPU us/req':>10} {'errors':>6}"]  # fmt: skip
        for r in report["fixed_rate"]:
            lines.append(
                f"{r['scenario']:{w}} {r['rate']:>6.0f} {r['achieved_rps']:>9.0f} {r['p50_ms']:>7.2f} "
                f"{r['p90_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['p999_ms']:>8.2f} {r['max_ms']:>7.2f} "
                f"{r.get('cpu_us', float('nan')):>10.0f} {r['errors']:>6}"
            )
    soak = report["soak"]
    if soak:
        lines += ["", f"soak {soak['seconds']:.0f}s (RSS of the authsvc process, MiB)"]
        for name, data in soak.items():
            if isinstance(data, dict):
                lines.append(f"{name:34} requests {data['requests']:>9}  start {data['rss_start_mb']}  "
                             f"end {data['rss_end_mb']}  max {data['rss_max_mb']}")  # fmt: skip
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmark /oauth2/auth.")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per closed-loop row")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up before each row")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--rate", type=float, default=2000.0, help="fixed-rate requests per second")
    parser.add_argument("--rate-duration", type=float, default=10.0, help="seconds per fixed-rate row")
    parser.add_argument("--smoke", action="store_true", help="a few seconds: keeps the script working")
    parser.add_argument("--soak", type=float, default=0.0, metavar="SECONDS", help="memory soak instead")
    parser.add_argument("--only", default="", metavar="DIGITS",
                        help="run only these scenarios, e.g. 26 (the ceiling always runs)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the closed-loop rows this many times, reporting each figure's median")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs)")
    args = parser.parse_args(argv)
    plan = Plan(args.duration, args.warmup, args.connections, args.rate, args.rate_duration, args.soak,
                only=args.only, rounds=args.rounds)
    if args.smoke:
        plan = Plan(1.0, 0.0, 8, 200.0, 1.0, soak=min(args.soak, 3.0), smoke=True, only=args.only,
                    rounds=args.rounds)
    return run(plan, args.json, args.keep)
