"""Every answer from the IdP is read to at most MAX_BODY bytes (providers/http.py `send`).

httpx reads a body whole, of any length: a discovery document, JWKS, token, userinfo or API
answer of gigabytes (or a gzip bomb) was held in memory. Now the read stops at the cap, the
caller gets ProviderUnavailable (the "identity provider" 502 page), and one log line names the
endpoint and the size, never a byte of the body.
"""

from __future__ import annotations

import ast
import gzip
import json
import logging
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import httpx
import pytest

from authsvc.errors import ProviderUnavailable
from authsvc.providers import http as idp
from tests.support.app_driver import browser_on, fake_idp_settings
from tests.support.fake_idp import FakeIdP
from tests.unit.test_login_pages import PAGE, page_of

pytestmark = pytest.mark.anyio

CAP = idp.MAX_BODY
SECRET = b'{"access_token": "eyJ-not-for-logs", "pad": "'
PROVIDERS = Path(idp.__file__).parent


class Endless:
    """A chunked body (no Content-Length) of 64 KiB chunks, 4 times the cap (as good as
    endless to the reader, and finite without the cap); counts its reads."""

    def __init__(self) -> None:
        self.chunks = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.chunks < 4 * CAP // 65536:
            self.chunks += 1
            yield SECRET if self.chunks == 1 else b"x" * 65536


async def fetch(answer: Callable[[httpx.Request], httpx.Response]) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        return await idp.call(http, "GET", "https://idp.test/token", what="token endpoint")


async def test_a_declared_length_over_the_cap_is_not_read(caplog: pytest.LogCaptureFixture) -> None:
    body = Endless()
    with pytest.raises(ProviderUnavailable, match="token endpoint: the answer is larger than"):
        await fetch(lambda r: httpx.Response(200, headers={"Content-Length": str(CAP + 1)}, content=body))
    assert body.chunks == 0
    assert "Content-Length 1048577" in caplog.text


async def test_a_chunked_body_is_cut_at_the_cap(caplog: pytest.LogCaptureFixture) -> None:
    body = Endless()
    with caplog.at_level(logging.WARNING, "authsvc.idp"), pytest.raises(ProviderUnavailable) as caught:
        await fetch(lambda r: httpx.Response(200, content=body))
    assert body.chunks <= CAP // 65536 + 2  # it stopped reading
    (line,) = [r.getMessage() for r in caplog.records if r.name == "authsvc.idp"]
    assert "token endpoint" in line and str(CAP) in line
    assert "eyJ" not in caplog.text and "eyJ" not in caught.value.reason


async def test_a_gzip_bomb_is_cut_at_the_cap_once_decoded() -> None:
    bomb = gzip.compress(b"[" + b" " * (8 * CAP) + b"]")
    assert len(bomb) < CAP // 10
    with pytest.raises(ProviderUnavailable, match="larger than"):
        await fetch(lambda r: httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=bomb))


async def test_an_answer_up_to_the_cap_reads_as_before() -> None:
    padded = b'{"a": "' + b"x" * (CAP - 9) + b'"}'
    assert len(padded) == CAP
    got = await fetch(lambda r: httpx.Response(200, content=padded))
    assert len(idp.json_object(got, "token")["a"]) == CAP - 9
    # a compressed answer is decoded as httpx would have: no Content-Encoding left to undo twice
    small = gzip.compress(b'{"keys": []}')
    got = await fetch(lambda r: httpx.Response(200, headers={"Content-Encoding": "gzip",
                                                             "X-Other": "kept"}, content=small))
    assert idp.json_object(got, "jwks") == {"keys": []}
    assert "content-encoding" not in got.headers and got.headers["x-other"] == "kept"
    # errors are still read (the IdP's OAuth error code)
    with pytest.raises(Exception, match="invalid_grant"):
        await fetch(lambda r: httpx.Response(400, json={"error": "invalid_grant"}))


async def test_a_body_that_trickles_is_cut_at_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idp, "HTTP_TIMEOUT", 0.2)
    never = anyio.Event()

    async def trickle() -> AsyncIterator[bytes]:
        yield b"{"
        await never.wait()  # each read alone would wait HTTP_TIMEOUT; the whole body too
        yield b"}"

    with anyio.fail_after(5), pytest.raises(ProviderUnavailable, match=r"took over 0\.2 s"):
        await fetch(lambda r: httpx.Response(200, content=trickle()))


async def chunked(data: bytes) -> AsyncIterator[bytes]:
    """`data` as a chunked body: no Content-Length, only the read can stop it."""
    for i in range(0, len(data), 65536):
        yield data[i:i + 65536]


def padded(document: dict[str, object]) -> httpx.Response:
    """A valid answer, made larger than the cap: without it, the login would go on."""
    return httpx.Response(200, content=chunked(json.dumps({**document, "pad": "x" * 2 * CAP}).encode()))


@pytest.mark.parametrize("endpoint", ["token", "jwks", "discovery"])
async def test_an_oversized_answer_is_the_identity_provider_page(fake_idp: FakeIdP, endpoint: str) -> None:
    async with browser_on(fake_idp_settings(fake_idp), fake_idp) as b:
        if endpoint == "discovery":
            fake_idp.answer_next("discovery", padded(fake_idp.discovery()))
            status, code, _ = await page_of(await b.client.get("/oauth2/start?rd=%2Fx", headers=PAGE))
        else:
            start = await b.start("/x")
            url = fake_idp.callback_url(start.headers["location"])
            fake_idp.answer_next(endpoint, padded({"keys": [fake_idp.public_jwk()]})
                                 if endpoint == "jwks" else httpx.Response(200, content=Endless()))
            status, code, _ = await page_of(await b.client.get(url))
    assert (status, code) == (502, "idp_unreachable")


def test_every_idp_call_goes_through_the_capped_helper() -> None:
    """No provider module calls httpx itself: `send` is where the cap is."""
    verbs = {"get", "post", "put", "patch", "delete", "request", "send", "stream"}
    found = []
    for path in sorted(PROVIDERS.glob("*.py")):
        if path.name == "http.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in verbs and "http" in ast.unparse(node.func.value).lower()):
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node.func)}")
    assert found == []


async def test_a_gzip_bomb_never_holds_more_than_the_cap_decoded() -> None:
    """httpx decodes each received chunk whole: 64 KiB of gzip (up to ~1000:1) became ~64 MB
    in memory before the cap was looked at. Decoded at most up to the cap, however it arrives."""
    import tracemalloc

    squeeze = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    raw = b"".join([*(squeeze.compress(b"\0" * CAP) for _ in range(200)), squeeze.flush()])
    assert len(raw) < CAP  # 200 MiB once decoded

    async def chunks() -> AsyncIterator[bytes]:
        for at in range(0, len(raw), 65536):
            yield raw[at:at + 65536]

    tracemalloc.start()
    try:
        with pytest.raises(ProviderUnavailable, match="larger than"):
            await fetch(lambda r: httpx.Response(200, headers={"Content-Encoding": "gzip"},
                                                 content=chunks()))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * CAP, peak


async def test_only_encodings_decoded_within_the_cap_are_asked_for_or_read() -> None:
    seen: list[httpx.Request] = []

    async def brotli() -> AsyncIterator[bytes]:
        yield b"\x0b\x02\x80{}\x03"

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"Content-Encoding": "br"}, content=brotli())

    with pytest.raises(ProviderUnavailable, match="Content-Encoding"):
        await fetch(answer)
    assert seen[0].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "identity"])
async def test_a_streamed_answer_is_decoded_as_httpx_would(encoding: str) -> None:
    body = json.dumps({"keys": [], "pad": "x" * 200_000}).encode()
    wire = {"gzip": gzip.compress(body), "deflate": zlib.compress(body), "identity": body}[encoding]

    async def chunks() -> AsyncIterator[bytes]:
        for at in range(0, len(wire), 1000):
            yield wire[at:at + 1000]

    got = await fetch(lambda r: httpx.Response(200, headers={"Content-Encoding": encoding},
                                               content=chunks()))
    assert got.content == body and "content-encoding" not in got.headers
