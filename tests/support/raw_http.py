"""One HTTP/1.1 request exactly as written: the request target, and only the headers given.

httpx normalises what a test wants to send (it removes dot segments, adds User-Agent and
Accept); http.client sends the request line as is, so a test can send `/oauth2/../app`,
absolute-form targets (`GET http://host/path`) and requests without User-Agent or Accept.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Sequence
from dataclasses import dataclass

from .echo import Echoed
from .processes import HOST


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def echoed(self) -> Echoed:
        """The echo upstream's report (the request reached the app)."""
        assert self.status == 200, (self.status, self.body[:300])
        return Echoed.parse(json.loads(self.body))


def raw_request(
    port: int,
    target: str,
    headers: Sequence[tuple[str, str]] = (),
    *,
    method: str = "GET",
    host: str | None = None,
) -> RawResponse:
    """Send `method target HTTP/1.1` to 127.0.0.1:`port` with `headers` (Host: `host`, default
    the address) and nothing else; read the whole answer."""
    conn = http.client.HTTPConnection(HOST, port, timeout=15)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host or f"{HOST}:{port}")
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return RawResponse(response.status, tuple(response.getheaders()), response.read())
    finally:
        conn.close()
