"""The uvicorn internals web/protocol.py and web/lean.py build on are still there.

`LimitedHttpToolsProtocol` subclasses uvicorn's `HttpToolsProtocol` and reaches into its state
(the request cycle, the flow control, the scope); `CheckProtocol` stands in for it on the
listener and hands connections over to it. None of that is uvicorn's public API, so
pyproject.toml pins uvicorn below the next minor version, and this test names what moved when a
new uvicorn is tried, instead of a connection failing in production.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols import utils
from uvicorn.protocols.http import httptools_impl
from uvicorn.server import Server, ServerState

from authsvc.web import lean, protocol
from tests.support.memory_transport import MemoryTransport

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

#: HttpToolsProtocol methods LimitedHttpToolsProtocol overrides and calls with super()
OVERRIDDEN = ("connection_made", "connection_lost", "data_received", "on_message_begin",
              "on_headers_complete", "on_message_complete", "on_response_complete")
#: what each class must still have: module attribute, method or attribute on an instance
NEEDED: dict[str, tuple[object, tuple[str, ...]]] = {
    "uvicorn.protocols.http.httptools_impl": (httptools_impl, ("STATUS_LINE", "HttpToolsProtocol")),
    "uvicorn.protocols.utils": (utils, ("get_local_addr", "get_remote_addr", "is_ssl")),
    "HttpToolsProtocol": (httptools_impl.HttpToolsProtocol, (*OVERRIDDEN, "shutdown", "pause_writing")),
    "Config": (Config, ("load",)),
}
#: attributes read from instances (set in __init__, so looked for on real ones)
CONFIG_ATTRS = ("loaded", "loaded_app", "root_path", "timeout_keep_alive")
SERVER_STATE_ATTRS = ("connections", "tasks", "total_requests", "default_headers")
#: read or written on a connected protocol, and on its request cycle
PROTOCOL_ATTRS = ("loop", "transport", "flow", "server_state", "scope", "cycle")
CYCLE_ATTRS = ("transport", "response_complete", "keep_alive")


def missing(obj: object, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if not hasattr(obj, name)]


def moved(what: str, names: list[str]) -> str:
    return (f"uvicorn {version('uvicorn')}: {what} no longer has {', '.join(names)}, which "
            "authsvc/web/protocol.py or lean.py relies on: adapt them before raising the uvicorn "
            "pin in pyproject.toml")


@pytest.mark.parametrize("what", sorted(NEEDED))
def test_modules_and_classes_keep_their_names(what: str) -> None:
    obj, names = NEEDED[what]
    assert not missing(obj, names), moved(what, missing(obj, names))


def test_status_lines_are_bytes_by_status() -> None:
    line = httptools_impl.STATUS_LINE.get(431)
    assert isinstance(line, bytes) and line.startswith(b"HTTP/1.1 431"), moved("STATUS_LINE", ["431"])


def test_the_protocol_factory_is_called_as_before() -> None:
    # Server.startup builds each connection's protocol with these keywords (the partial of
    # cli.uvicorn_options adds ours); HttpToolsProtocol takes them in this order (hand_off)
    source = inspect.getsource(Server.startup)
    for keyword in ("config=", "server_state=", "app_state=", "_loop="):
        assert keyword in source, moved("Server.startup's protocol call", [keyword])
    params = list(inspect.signature(httptools_impl.HttpToolsProtocol.__init__).parameters)
    assert params == ["self", "config", "server_state", "app_state", "_loop"], moved(
        "HttpToolsProtocol.__init__'s parameters", [", ".join(params)])
    mine = list(inspect.signature(lean.CheckProtocol.__init__).parameters)
    assert mine[:5] == params, "CheckProtocol must take what uvicorn passes"


@pytest.mark.anyio
async def test_a_connected_protocol_has_the_state_the_subclasses_read() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    config = Config(app=app, http="httptools", lifespan="off")
    config.load()
    assert not missing(config, CONFIG_ATTRS), moved("Config", missing(config, CONFIG_ATTRS))
    state = ServerState()
    assert not missing(state, SERVER_STATE_ATTRS), moved("ServerState", missing(state, SERVER_STATE_ATTRS))
    # through authsvc's own subclass: a rename breaks it here, not on a live connection
    proto = protocol.LimitedHttpToolsProtocol(
        config, state, {}, asyncio.get_running_loop(), max_header_bytes=65536, header_timeout=10.0)
    transport = MemoryTransport()
    proto.connection_made(transport)
    proto.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n")
    assert not missing(proto, PROTOCOL_ATTRS), moved("HttpToolsProtocol", missing(proto, PROTOCOL_ATTRS))
    assert isinstance(proto.scope, dict) and proto.scope.get("method") == "POST"
    cycle = proto.cycle
    assert not missing(cycle, CYCLE_ATTRS), moved("RequestResponseCycle", missing(cycle, CYCLE_ATTRS))
    assert hasattr(proto.flow, "pause_reading"), moved("FlowControl", ["pause_reading"])
    # a body-carrying request got protocol.py's lingering transport in its cycle
    assert isinstance(cycle.transport, protocol._LingeringClose)
    proto.data_received(b"x")
    await asyncio.gather(*state.tasks)  # the app's task (uvicorn keeps it in ServerState)
    assert cycle.response_complete
    assert transport.out.startswith(b"HTTP/1.1 204"), bytes(transport.out[:80])
    proto.connection_lost(None)


def test_uvicorn_is_pinned_below_the_next_minor() -> None:
    """The pin that makes the test above run before a new uvicorn does."""
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (spec,) = [d for d in deps if d.startswith("uvicorn")]
    bound = re.search(r"<\s*(\d+)\.(\d+)", spec)
    assert bound, f"{spec!r}: uvicorn needs an upper bound (web/protocol.py, web/lean.py)"
    major, minor = (int(v) for v in version("uvicorn").split(".")[:2])
    assert (int(bound[1]), int(bound[2])) == (major, minor + 1), (
        f"{spec!r}: the bound should be the next minor after the tested uvicorn {version('uvicorn')}")
