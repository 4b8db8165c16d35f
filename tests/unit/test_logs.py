"""Logs: JSON lines with a request id, and never a token, a cookie value or a secret in them."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from authsvc.cli import log_start
from authsvc.context import Context
from authsvc.web import logs
from authsvc.web.app import create_app
from tests.conftest import make_settings
from tests.support.app_driver import asgi_client, browser_on, fake_idp_settings
from tests.support.fake_idp import FakeIdP, ManualClock

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log record of every logger, formatted as in production, into a buffer."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    buffer = io.StringIO()
    logs.configure("json", "debug", stream=buffer)
    yield buffer
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


# --- the formatter ---------------------------------------------------------------------------
def test_json_line_fields(captured: io.StringIO) -> None:
    log = logging.getLogger("authsvc.test")
    log.info("hello %s", "world", extra={"user": "ada", "outcome": "forbidden", "reason": "group"})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    first, second = lines(captured)
    assert RFC3339_UTC.match(first["time"]), first["time"]
    assert first == {"time": first["time"], "level": "info", "logger": "authsvc.test",
                     "event": "hello world", "user": "ada", "outcome": "forbidden", "reason": "group"}
    assert second["level"] == "error" and "ValueError: boom" in second["exception"]
    assert len(captured.getvalue().splitlines()) == 2  # the traceback stays inside its line


def test_text_format() -> None:
    buffer = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure("text", "warning", stream=buffer)
        logging.getLogger("authsvc.x").info("not shown")
        logging.getLogger("authsvc.x").warning("shown", extra={"reason": "no session"})
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    text = buffer.getvalue()
    assert "not shown" not in text
    assert re.match(r'^\S+Z WARNING authsvc\.x shown reason="no session"\n$', text), text


def test_request_id_is_reused_when_plain_and_from_a_trusted_proxy_else_made() -> None:
    assert logs.RequestContext([(b"x-request-id", b"abc-123")], trusted=True).id == "abc-123"
    # anyone else's id is not believed: it would be written into every line and page
    assert re.fullmatch(r"[0-9a-f]{32}", logs.RequestContext([(b"x-request-id", b"abc-123")]).id)
    made = logs.RequestContext([]).id
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    for hostile in (b"a\nb", b"x" * 200, b"", b"<script>", "é".encode()):
        ctx = logs.RequestContext([(b"x-request-id", hostile)], trusted=True)
        assert re.fullmatch(r"[0-9a-f]{32}", ctx.id)


# --- a whole login, logged, grepped for secrets ------------------------------------------------
class Recorder:
    """Every token the FakeIdP hands out and every cookie value authsvc sets."""

    def __init__(self, fake: FakeIdP, monkeypatch: pytest.MonkeyPatch) -> None:
        self.values: set[str] = set()
        issue = fake._issue

        def recording_issue(*args: Any, **kwargs: Any) -> httpx.Response:
            response = issue(*args, **kwargs)
            for key in ("access_token", "id_token", "refresh_token"):
                if key in response.json():
                    self.values.add(response.json()[key])
            return response

        monkeypatch.setattr(fake, "_issue", recording_issue)

    def cookies(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            value = header.split(";", 1)[0].split("=", 1)[1]
            if len(value) >= 16:
                self.values.add(value)


@pytest.mark.anyio
async def test_logs_of_logins_and_bad_requests_hold_no_secret(
    captured: io.StringIO, fake_idp: FakeIdP, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_idp.client_secret = "client-secret-" + secrets.token_urlsafe(24)
    cookie_secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    clock = ManualClock(time.time())
    settings = make_settings(
        client_id=fake_idp.client_id, client_secret=fake_idp.client_secret,
        oidc_issuer_url=fake_idp.issuer, email_domains=["example.com"], cookie_secret=cookie_secret,
        cookie_refresh="1m", log_requests=True, skip_jwt_bearer_tokens=True, proxy_kind="nginx",
    )
    recorder = Recorder(fake_idp, monkeypatch)
    services = Context.build(settings, clock=clock)
    log_start(settings)
    app = create_app(services)

    async def login(client: httpx.AsyncClient, **user: Any) -> httpx.Response:
        start = await client.get("/oauth2/start", params={"rd": "/x"})
        recorder.cookies(start)
        callback = await client.get(fake_idp.callback_url(start.headers["location"], **user),
                                    headers={"X-Request-ID": "req-abc-123"})
        recorder.cookies(callback)
        return callback

    async with asgi_client(app) as client:
        assert (await client.get("/oauth2/auth")).status_code == 401
        assert (await login(client, email="ada@example.com")).status_code == 302
        session_cookie = client.cookies["_authsvc"]
        ok = await client.get("/oauth2/auth")
        assert ok.status_code == 202
        assert (await client.get("/oauth2/userinfo")).status_code == 200
        clock.advance(120)  # past cookie_refresh: the refresh token is used
        refreshed = await client.get("/oauth2/auth")
        assert refreshed.status_code == 202
        recorder.cookies(refreshed)
        forbidden = await client.get("/oauth2/auth", params={"allowed_groups": "admins"})
        assert forbidden.status_code == 403

        # bearer tokens: the real ID token passes, a forged one is refused and logged
        id_token = next(v for v in recorder.values if v.count(".") == 2)
        bare = {"authorization": f"Bearer {id_token}", "cookie": ""}
        client.cookies.clear()
        assert (await client.get("/oauth2/auth", headers=bare)).status_code == 202
        head, body, signature = id_token.split(".")
        forged = f"{head}.{body}.{signature[::-1]}"
        recorder.values.add(forged)
        refused = await client.get("/oauth2/auth", headers={"authorization": f"Bearer {forged}"})
        assert refused.status_code == 401

        # bad cookies: tampered, foreign, garbage
        for bad in (session_cookie[:-6] + "AAAAAA", session_cookie[::-1], "not-a-cookie"):
            answer = await client.get("/oauth2/auth", headers={"cookie": f"_authsvc={bad}"})
            assert answer.status_code == 401

        # bad states: forged, no login cookie, the IdP's error, a replay, a bad ID token
        start = await client.get("/oauth2/start", params={"rd": "/y"})
        recorder.cookies(start)
        url = httpx.URL(fake_idp.callback_url(start.headers["location"], email="ada@example.com"))
        forged_state = url.copy_merge_params({"state": "A" * 43})
        assert (await client.get(forged_state)).status_code == 403
        jar = dict(client.cookies)
        assert (await client.get(url)).status_code == 302
        client.cookies.clear()
        replay = await client.get(url, headers={"cookie": "; ".join(f"{k}={v}" for k, v in jar.items())})
        assert replay.status_code == 403
        start = await client.get("/oauth2/start", params={"rd": "/z"})
        recorder.cookies(start)
        url = httpx.URL(fake_idp.callback_url(start.headers["location"], email="ada@example.com"))
        assert (await client.get(url.copy_merge_params({"error": "access_denied"}))).status_code == 403
        fake_idp.id_token_overrides = {"aud": "someone-else"}
        assert (await login(client, email="ada@example.com")).status_code == 403
        fake_idp.id_token_overrides = {}
        assert (await login(client, email="eve@elsewhere.org")).status_code == 403  # denied
        out = await client.get("/oauth2/sign_out", params={"rd": "/bye"})
        assert out.status_code == 302
    await services.aclose()

    secret_values = {
        "client secret": fake_idp.client_secret,
        "cookie secret": cookie_secret,
        **{f"token or cookie value {v[:12]}...": v for v in recorder.values},
    }
    assert any(v.count(".") == 2 for v in recorder.values), "no ID token recorded"
    assert len([v for v in recorder.values if "." not in v]) >= 3, "access/refresh tokens not recorded"
    text = captured.getvalue()
    assert text, "nothing was logged"
    for what, value in secret_values.items():
        assert value not in text, f"the logs hold the {what}"
        for piece in re.split(r"[.]", value):  # a JWT's signature or payload alone is still a leak
            if len(piece) >= 24:
                assert piece not in text, f"the logs hold part of the {what}"

    records = lines(captured)
    assert all({"time", "level", "logger", "event"} <= set(r) for r in records)
    start_line = next(r for r in records if r["event"].startswith("authsvc ") and "settings" in r)
    assert start_line["settings"]["client_secret"] == "****"
    login_line = next(r for r in records if r["event"].startswith("login: "))
    assert login_line["user"] == "user-1" and login_line["request_id"] == "req-abc-123"
    access = [r for r in records if r["event"] == "request"]
    assert {r["endpoint"] for r in access} >= {"auth", "start", "callback", "userinfo", "sign_out"}
    callback_line = next(r for r in access if r["endpoint"] == "callback")
    assert callback_line["request_id"] == "req-abc-123"
    assert callback_line["path"] == "/oauth2/callback"  # never the query (code, state)
    denied = next(r for r in access if r["status"] == 403 and r["endpoint"] == "auth")
    assert denied["outcome"] == "forbidden" and denied["reason"]
    unauthenticated = next(r for r in access if r["status"] == 401)
    assert unauthenticated["outcome"] == "unauthenticated" and unauthenticated["reason"]
    forbidden_line = next(r for r in records if r["event"].startswith("auth: forbidden"))
    assert forbidden_line["user"] == "user-1" and forbidden_line["outcome"] == "forbidden"
    assert all(re.fullmatch(r"[0-9a-f]{32}|req-abc-123", r["request_id"]) for r in access)


# --- oauth2-proxy's logging switches ---------------------------------------------------------------
def _configure(buffer: io.StringIO, **options: Any) -> None:
    logs.configure("json", "info", stream=buffer, **options)


@pytest.mark.anyio
@pytest.mark.parametrize("auth_logging", [True, False])
async def test_auth_logging_false_leaves_out_the_login_lines_only(
    captured: io.StringIO, fake_idp: FakeIdP, auth_logging: bool
) -> None:
    """oauth2-proxy's auth log (a line per finished login) off; its access lines stay, and
    still name the user."""
    _configure(captured, auth_logging=auth_logging)
    settings = fake_idp_settings(fake_idp, email_domains=["example.com"])
    async with browser_on(settings, fake_idp) as browser:
        assert (await browser.login(email="ada@example.com")).status_code == 302
        assert (await browser.login(email="eve@evil.example")).status_code == 403
        assert (await browser.client.get("/oauth2/callback?state=nope&code=x")).status_code >= 400
    events = [line["event"] for line in lines(captured) if line["logger"] == "authsvc.login"]
    login_lines = [e for e in events if e.startswith(("login:", "login denied", "login failed"))]
    assert len(login_lines) == (3 if auth_logging else 0), events
    callbacks = [line for line in lines(captured)
                 if line["event"] == "request" and line["endpoint"] == "callback"]
    assert len(callbacks) == 3
    assert callbacks[0]["user"] and callbacks[0]["status"] == 302


@pytest.mark.anyio
async def test_exclude_logging_paths_drops_those_access_lines(
    captured: io.StringIO, fake_idp: FakeIdP
) -> None:
    settings = fake_idp_settings(fake_idp, log_requests=True,
                                 exclude_logging_paths=["/oauth2/auth", "/oauth2/sign_in"])
    async with browser_on(settings, fake_idp) as browser:
        assert (await browser.auth()).status_code == 401
        assert (await browser.client.get("/oauth2/sign_in")).status_code == 200
        assert (await browser.start()).status_code == 302
    paths = [line["path"] for line in lines(captured) if line["event"] == "request"]
    assert paths == ["/oauth2/start"]


def test_exclude_logging_paths_are_paths() -> None:
    from authsvc.errors import ConfigError

    assert make_settings(exclude_logging_paths="/a, /b").exclude_logging_paths == ["/a", "/b"]
    for bad in ("oauth2/auth", "/a?x=1"):
        with pytest.raises(ConfigError, match="exclude_logging_paths"):
            make_settings(exclude_logging_paths=[bad])


def test_logging_local_time_gives_the_local_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # +05:30 all year: no DST to trip on
    time.tzset()
    try:
        for local in (True, False):
            logs.configure("json", "info", stream=buffer, local_time=local)
            logging.getLogger("authsvc.x").info("now")
    finally:
        monkeypatch.undo()
        time.tzset()
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    local, utc = (line["time"] for line in lines(buffer))
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+05:30$", local), local
    assert RFC3339_UTC.match(utc), utc


# --- logging_filename and its rotation -------------------------------------------------------------
def test_log_file_rotates_compresses_and_prunes(tmp_path: Any) -> None:
    import gzip
    import os

    clock = ManualClock(time.time())  # the files' mtimes are real ones
    spec = logs.LogFile(str(tmp_path / "authsvc.log"), max_mb=1, max_age_days=7, max_backups=2,
                        compress=True)
    handler = logs.RotatingLogFile(spec, clock=clock)
    handler.maxBytes = 300  # a megabyte of lines would make a slow test; the rule is the same
    handler.setFormatter(logs.JsonFormatter())
    log = logging.getLogger("authsvc.rotation-test")
    log.propagate, log.handlers = False, [handler]
    try:
        for n in range(12):
            clock.advance(1)
            log.warning("line %d %s", n, "x" * 100)
        backups = handler.backups()
        assert len(backups) == 2 and all(b.endswith(".log.gz") for b in backups), backups
        kept = [line for b in backups for line in gzip.decompress(Path(b).read_bytes()).decode().splitlines()]
        kept += (tmp_path / "authsvc.log").read_text().splitlines()
        numbers = [int(json.loads(line)["event"].split()[1]) for line in kept]
        # the newest lines, none lost or repeated between the files; the oldest files are gone
        assert numbers == list(range(12 - len(numbers), 12)) and len(numbers) < 12, numbers
        # a rotated file older than max_age goes at the next rotation, whatever the count
        old = backups[0]
        os.utime(old, (clock() - 8 * 86400, clock() - 8 * 86400))
        handler.spec = logs.LogFile(spec.path, 1, 7, 0, True)
        handler.doRollover()  # in the same millisecond as the last one: a name of its own
        assert old not in handler.backups() and len(handler.backups()) == 2
    finally:
        log.handlers = []
        handler.close()


def test_configure_with_a_log_file_writes_there_only(tmp_path: Any) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        logs.configure("json", "info", stream=stream, log_file=logs.LogFile(str(tmp_path / "a.log")))
        logging.getLogger("authsvc.x").info("to the file")
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
            handler.close()
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    assert stream.getvalue() == ""
    assert json.loads((tmp_path / "a.log").read_text())["event"] == "to the file"


def test_log_file_needs_one_worker() -> None:
    from authsvc.errors import ConfigError

    with pytest.raises(ConfigError, match="logging_filename"):
        make_settings(logging_filename="/tmp/x.log", workers=2)
    assert logs.log_file(make_settings()) is None
    spec = logs.log_file(make_settings(logging_filename="/tmp/x.log", logging_max_size=5,
                                       logging_max_age=0, logging_max_backups=3, logging_compress=True))
    assert spec == logs.LogFile("/tmp/x.log", 5, 0, 3, True)
