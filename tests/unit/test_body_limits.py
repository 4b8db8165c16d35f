"""Request bodies: every route that reads one stops at `max_request_body_bytes` with a 413.

Declared (Content-Length) or streamed (chunked), urlencoded or multipart: back-channel logout
and the demo IdP's forms are refused before more than the cap is read, and the connection is
closed; routes that read no body are unaffected. (The same through a served authsvc on real
sockets: tests/integration/test_request_limits.py.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx
from starlette.routing import Route

from authsvc.context import Context
from authsvc.web.app import create_app
from tests.conftest import make_settings
from tests.support.app_driver import with_demo_idp
from tests.support.fake_idp import FakeIdP, ManualClock
from tests.support.logout_store import MemoryLogoutStore

pytestmark = pytest.mark.anyio

BACKCHANNEL = "/oauth2/backchannel_logout"
LIMIT = 4096


@pytest.fixture
def idp() -> Iterator[FakeIdP]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        fake = FakeIdP(clock=ManualClock())
        fake.mount(router)
        yield fake


@pytest.fixture
async def client(idp: FakeIdP) -> AsyncIterator[tuple[httpx.AsyncClient, MemoryLogoutStore]]:
    async with with_demo_idp(idp, max_request_body_bytes=LIMIT) as pair:
        yield pair


# --- bodies -----------------------------------------------------------------------------------
READERS = [BACKCHANNEL, "/_demo/idp/token", "/_demo/idp/authorize"]
FORM = {"content-type": "application/x-www-form-urlencoded"}


async def _streamed(size: int) -> AsyncIterator[bytes]:
    yield b"logout_token="
    for _ in range(size // 1024):
        yield b"x" * 1024


@pytest.mark.parametrize("path", READERS)
@pytest.mark.parametrize("how", ["declared", "streamed", "multipart", "just over"])
async def test_every_body_reader_stops_at_the_cap(
    client: tuple[httpx.AsyncClient, MemoryLogoutStore], path: str, how: str
) -> None:
    c, store = client
    if how == "declared":
        response = await c.post(path, content=b"logout_token=" + b"x" * (LIMIT * 100), headers=FORM)
    elif how == "streamed":  # chunked: no Content-Length to refuse up front
        response = await c.post(path, content=_streamed(LIMIT * 100), headers=FORM)
    elif how == "multipart":
        response = await c.post(path, files={"logout_token": ("t", b"x" * (LIMIT * 2))})
    else:
        response = await c.post(path, content=b"a=" + b"x" * (LIMIT - 1), headers=FORM)
    assert response.status_code == 413, response.text
    assert response.headers["connection"] == "close"
    assert not store.ended


async def test_bodies_within_the_cap_are_read(client: tuple[httpx.AsyncClient, MemoryLogoutStore]) -> None:
    c, _ = client
    for body in (b"logout_token=junk", b"logout_token=" + b"x" * (LIMIT - 13)):
        response = await c.post(BACKCHANNEL, content=body, headers=FORM)
        assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    token = await c.post("/_demo/idp/token", data={"grant_type": "x", "client_id": "demo",
                                                    "client_secret": "demo-secret"})  # fmt: skip
    assert token.status_code == 400 and token.json()["error"] == "unsupported_grant_type"


async def test_routes_that_read_no_body_are_unaffected(
    client: tuple[httpx.AsyncClient, MemoryLogoutStore],
) -> None:
    c, _ = client
    big = b"x" * (LIMIT * 10)
    assert (await c.post("/oauth2/sign_out", content=big)).status_code == 302
    assert (await c.post("/oauth2/auth", content=big)).status_code == 401


def test_routes_are_what_these_tests_think() -> None:
    # a new body-reading endpoint belongs in READERS (the cap itself covers it regardless)
    app = create_app(Context.build(make_settings()))
    posts = {r.path for r in app.routes if isinstance(r, Route) and "POST" in (r.methods or ())}
    assert posts == {"/oauth2/auth", "/oauth2/auth/{rest:path}", "/oauth2/start", "/oauth2/sign_out",
                     BACKCHANNEL}  # fmt: skip
