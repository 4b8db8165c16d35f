"""X-Request-ID: believed only from a trusted proxy and only when plain, else made here; echoed
on every response (the /oauth2/auth fast path too) and stamped on every log line of the request."""

from __future__ import annotations

import io
import re

import pytest

from authsvc.context import Context
from authsvc.errors import ConfigError
from authsvc.web.app import create_app
from authsvc.web.request_id import new_request_id, request_id
from tests.conftest import make_settings
from tests.support.app_driver import asgi_client
from tests.unit.test_logs import captured, lines  # noqa: F401 (a fixture)

pytestmark = pytest.mark.anyio
ID = re.compile(r"[0-9a-f]{32}")
PATHS = ["/oauth2/auth", "/oauth2/auth/some/envoy/path", "/oauth2/sign_in", "/oauth2/userinfo", "/ping",
         "/no/such/page", "/oauth2/callback?state=x&code=y"]  # fmt: skip


@pytest.mark.parametrize("path", PATHS)
async def test_every_response_carries_the_trusted_proxys_id(path: str) -> None:
    app = create_app(Context.build(make_settings()))
    async with asgi_client(app, peer="127.0.0.1") as client:  # loopback: a trusted proxy
        answer = await client.get(path, headers={"X-Request-ID": "edge-7f3a:1"})
    assert answer.headers["x-request-id"] == "edge-7f3a:1"


@pytest.mark.parametrize("path", PATHS)
async def test_an_untrusted_clients_id_is_replaced(path: str) -> None:
    app = create_app(Context.build(make_settings()))
    async with asgi_client(app, peer="203.0.113.9") as client:
        answer = await client.get(path, headers={"X-Request-ID": "chosen-by-the-client"})
        again = await client.get(path)
    assert ID.fullmatch(answer.headers["x-request-id"])
    assert ID.fullmatch(again.headers["x-request-id"])
    assert answer.headers["x-request-id"] != again.headers["x-request-id"]
    assert len(answer.headers.get_list("x-request-id")) == 1


@pytest.mark.parametrize("hostile", [b"a\nb", b"x" * 129, b"", b"<script>", "é".encode(), b"a b"])
def test_a_trusted_proxys_id_is_used_only_when_plain_and_short(hostile: bytes) -> None:
    assert ID.fullmatch(request_id([(b"x-request-id", hostile)], trusted=True))
    assert request_id([(b"x-request-id", b"A" * 128)], trusted=True) == "A" * 128


def test_made_ids_are_distinct_and_shaped_like_nginxs() -> None:
    ids = {new_request_id() for _ in range(10_000)}
    assert len(ids) == 10_000 and all(ID.fullmatch(i) for i in ids)


async def test_the_log_lines_of_a_request_carry_its_id(captured: io.StringIO) -> None:  # noqa: F811
    app = create_app(Context.build(make_settings(log_requests=True)))
    async with asgi_client(app) as client:
        auth = await client.get("/oauth2/auth", headers={"X-Request-ID": "req-1"})
        callback = await client.get("/oauth2/callback", params={"state": "nope", "code": "c"})
    assert auth.headers["x-request-id"] == "req-1"
    records = lines(captured)
    access = [r for r in records if r["event"] == "request"]
    assert {r["request_id"] for r in access if r["endpoint"] == "auth"} == {"req-1"}
    failed = [r for r in records if r["event"].startswith("login failed")]
    assert failed and {r["request_id"] for r in failed} == {callback.headers["x-request-id"]}
    callback_ids = {r["request_id"] for r in access if r["endpoint"] == "callback"}
    assert callback_ids == {callback.headers["x-request-id"]}


# --- request_id_header (oauth2-proxy's option) ---------------------------------------------
@pytest.mark.parametrize("path", ["/oauth2/auth", "/oauth2/sign_in", "/ping"])
async def test_a_named_header_is_read_and_echoed_under_that_name(path: str) -> None:
    app = create_app(Context.build(make_settings(request_id_header="Correlation-Id")))
    async with asgi_client(app, peer="127.0.0.1") as client:
        answer = await client.get(path, headers={"correlation-id": "edge-42", "X-Request-ID": "other"})
    assert answer.headers["correlation-id"] == "edge-42"
    assert "x-request-id" not in answer.headers  # the default name is neither read nor sent
    assert len(answer.headers.get_list("correlation-id")) == 1


async def test_a_named_header_is_trusted_as_the_default_one_is() -> None:
    app = create_app(Context.build(make_settings(request_id_header="X-Correlation-ID")))
    async with asgi_client(app, peer="203.0.113.9") as client:  # not a trusted proxy
        answer = await client.get("/oauth2/auth", headers={"X-Correlation-ID": "chosen-by-the-client"})
    assert ID.fullmatch(answer.headers["x-correlation-id"])
    assert request_id([(b"x-correlation-id", b"a\nb")], True, b"x-correlation-id") != "a\nb"


async def test_the_named_id_is_on_the_pages_and_log_lines(captured: io.StringIO) -> None:  # noqa: F811
    app = create_app(Context.build(make_settings(request_id_header="X-Trace", log_requests=True)))
    async with asgi_client(app) as client:
        page = await client.get("/oauth2/sign_in", headers={"X-Trace": "trace-9"})
        await client.get("/oauth2/auth", headers={"X-Trace": "trace-10"})
    assert "trace-9" in page.text
    assert {r["request_id"] for r in lines(captured) if r["event"] == "request"} >= {"trace-9", "trace-10"}


@pytest.mark.parametrize("name", ["Authorization", "cookie", "X-Forwarded-For", "X-Auth-Request-User",
                                  "Host", "bad header", "", "Content-Length",
                                  # a client's id (nginx passes it on) acted on by a cache or nginx
                                  "Cache-Control", "Expires", "Vary", "X-Accel-Redirect",
                                  "X-Authsvc-Cache-Key", "Access-Control-Allow-Origin"])
def test_request_id_header_refuses_what_is_not_an_id(name: str) -> None:
    with pytest.raises(ConfigError, match="request_id_header"):
        make_settings(request_id_header=name)


def test_request_id_header_is_not_a_claim_header() -> None:
    # echoed on the 2xx too: the app would take the proxy's (the client's) id for that claim
    with pytest.raises(ConfigError, match=r"request_id_header.*claim_headers"):
        make_settings(request_id_header="X-Tenant", claim_headers=["x-tenant=tid"])
