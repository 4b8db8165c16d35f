"""http_address / metrics_address in oauth2-proxy's forms (config/listen.py), and who a peer
on a unix socket is (check/forwarded.py, check/client_ip.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authsvc.check.client_ip import TrustedIPs
from authsvc.check.forwarded import Forwarded
from authsvc.config.alpha import read_alpha
from authsvc.config.listen import ListenAddress, parse_listen
from authsvc.errors import ConfigError
from tests.conftest import make_settings


@pytest.mark.parametrize(
    ("value", "parsed", "text"),
    [
        ("127.0.0.1:4180", ListenAddress("tcp", host="127.0.0.1", port=4180), "127.0.0.1:4180"),
        ("http://0.0.0.0:4180", ListenAddress("tcp", host="0.0.0.0", port=4180), "0.0.0.0:4180"),
        (":4180", ListenAddress("tcp", host="", port=4180), ":4180"),
        ("[::1]:4180", ListenAddress("tcp", host="::1", port=4180), "[::1]:4180"),
        ("HTTP://[::]:4180", ListenAddress("tcp", host="::", port=4180), "[::]:4180"),
        ("unix:///run/oauth2-proxy/oauth2.sock", ListenAddress("unix", path="/run/oauth2-proxy/oauth2.sock"),
         "unix:///run/oauth2-proxy/oauth2.sock"),
        ("unix:///run/a.sock,mode=0777", ListenAddress("unix", path="/run/a.sock", mode=0o777),
         "unix:///run/a.sock,mode=0777"),
        ("unix://rel.sock,mode=660", ListenAddress("unix", path="rel.sock", mode=0o660), "unix://rel.sock,mode=0660"),
        ("fd:3", ListenAddress("fd", fd=3), "fd:3"),
        ("FD:4", ListenAddress("fd", fd=4), "fd:4"),  # oauth2-proxy: "case insensitive"
    ],
)
def test_forms(value: str, parsed: ListenAddress, text: str) -> None:
    assert parse_listen(value) == parsed
    assert parsed.text == text
    assert make_settings(http_address=value).http_address == text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("4180", "is not [http://]host:port"),
        ("127.0.0.1:0", "is not [http://]host:port"),
        ("::1:4180", "an IPv6 address goes in brackets"),
        ("[not-v6]:4180", "'not-v6' in brackets is not an IPv6 address"),
        ("https://127.0.0.1:4180", "unknown scheme 'https'"),
        ("unix://", "unix:// needs a socket path"),
        ("unix:///run/a.sock,mode=", "octal permission bits"),
        ("unix:///run/a.sock,mode=01777", "octal permission bits"),
        ("unix:///run/a.sock,group=www-data", "unknown unix socket option 'group'"),
        ("unix:///" + "x" * 120, "at most 107 bytes"),
        ("fd:", "fd: needs a descriptor number"),
        ("fd:2", "descriptors 0-2 are stdin, stdout and stderr"),
    ],
)
def test_bad_values_say_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings(http_address=value)
    text = str(caught.value)
    assert text.startswith("invalid option http_address") and message in text
    assert "\n" not in text


def test_metrics_address_takes_the_same_forms() -> None:
    s = make_settings(http_address="unix:///run/a.sock", metrics_address="unix:///run/m.sock,mode=0600")
    assert s.metrics_listener == "unix:///run/m.sock,mode=0600"
    assert make_settings(metrics_address="http://[::1]:9090").metrics_listener == "[::1]:9090"
    with pytest.raises(ConfigError, match="must use another port"):
        make_settings(http_address="fd:3", metrics_address="fd:3")


def test_alpha_bind_address_forms(tmp_path: Path) -> None:
    path = tmp_path / "alpha.yaml"
    path.write_text('server:\n  bindAddress: "unix:///run/oauth2.sock,mode=0660"\n'
                    'metricsServer:\n  bindAddress: "fd:4"\n')
    alpha = read_alpha(path)
    assert alpha.cfg["http_address"] == "unix:///run/oauth2.sock,mode=0660"
    assert alpha.cfg["metrics_address"] == "fd:4"


def _peer_scope(client: Any, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {"client": client, "headers": headers or []}


@pytest.mark.parametrize(
    ("options", "trusted"),
    [
        ({"http_address": "unix:///run/a.sock"}, True),  # the default networks hold loopback
        ({"http_address": "fd:3"}, True),
        ({"http_address": "unix:///run/a.sock", "trusted_proxy_ips": ["::1"]}, True),
        ({"http_address": "unix:///run/a.sock", "trusted_proxy_ips": ["10.0.0.5"]}, False),
        ({"http_address": "unix:///run/a.sock", "reverse_proxy": False}, False),
        ({"http_address": "127.0.0.1:4180"}, False),  # on TCP a peer without an address is nobody
    ],
)
def test_a_unix_socket_peer_is_trusted_as_loopback_would_be(options: dict[str, Any], trusted: bool) -> None:
    forwarded = Forwarded(make_settings(proxy_kind="nginx", **options))
    assert forwarded.is_trusted(None) is trusted
    assert forwarded.is_trusted("") is trusted
    headers = {"x-original-uri": "/private", "x-forwarded-uri": "/private", "host": "app.example"}

    def described(peer: str | None) -> object:
        return forwarded.original_request(headers, "GET", "/oauth2/auth", "app.example", "http", peer)

    # read as from a loopback proxy, or as from a stranger
    assert described(None) == described("::1" if trusted else "203.0.113.9")
    assert described("::1") != described("203.0.113.9") or not forwarded.is_trusted("::1")


def test_a_unix_socket_peer_never_matches_trusted_ips() -> None:
    settings = make_settings(proxy_kind="nginx", http_address="unix:///run/a.sock",
                             trusted_ips=["0.0.0.0/0", "::/0", "127.0.0.1"])
    ips = TrustedIPs(settings, Forwarded(settings))
    assert not ips.admits(_peer_scope(None))
    # the address the trusted local proxy reports is the client's (oauth2-proxy's rule too)
    assert ips.admits(_peer_scope(None, [(b"x-real-ip", b"192.0.2.7")]))


def test_the_socket_mode_never_lands_on_a_file_swapped_in_after_bind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a directory another user may write (a shared /run/x without the sticky bit), the socket
    file can be renamed away and a symlink put in its place between bind and a chmod by path; the
    chmod then followed it and gave the target `mode` (0666: anyone's key file, with root)."""
    import os
    import socket
    import stat

    from authsvc.web import listen

    target = tmp_path / "key"
    target.write_text("secret")
    target.chmod(0o600)
    path = tmp_path / "authsvc.sock"

    class SwappedAfterBind(socket.socket):
        def bind(self, address: Any) -> None:
            super().bind(address)
            os.rename(address, str(path) + ".moved")  # what the other user does meanwhile
            os.symlink(target, address)

    monkeypatch.setattr(socket, "socket", SwappedAfterBind)
    sock = listen.unix_socket(str(path), 0o666)
    sock.close()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(os.lstat(str(path) + ".moved").st_mode) == 0o666  # the socket got its mode


def test_two_systemd_sockets_serve_http_and_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """http_address = fd:3 and metrics_address = fd:4 (a unit with two ListenStream=): the first
    one taken removed LISTEN_PID/LISTEN_FDS, and the second was refused as 'not passed by systemd'."""
    import os
    import socket

    from authsvc.web import listen

    fds = []
    for _ in range(2):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        s.listen()
        fds.append(s.detach())  # owned by the socket inherited_socket makes of it
    monkeypatch.setattr(listen, "_passed", None)
    monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
    monkeypatch.setenv("LISTEN_FDS", str(max(fds) - listen.LISTEN_FDS_START + 1))
    got = [listen.bind(ListenAddress("fd", fd=fd), option) for fd, option in
           zip(fds, ("http_address", "metrics_address"), strict=True)]
    try:
        assert [s.fileno() for s in got] == fds
        assert "LISTEN_PID" not in os.environ  # still not left for a child
    finally:
        for s in got:
            s.close()


def test_a_stale_socket_that_cannot_be_removed_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another user's stale socket in a sticky directory (/tmp): the unlink fails. That
    PermissionError reached main as an OSError and was reported as a /metrics listener's."""
    import errno
    import os
    import socket

    from authsvc.web import listen

    path = tmp_path / "authsvc.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays: nobody listens on it

    def refused(target: Any, *args: Any, **kwargs: Any) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted", str(target))

    monkeypatch.setattr(os, "unlink", refused)
    with pytest.raises(ConfigError, match=f"http_address: cannot replace the stale socket {path} "
                                          r"\(Operation not permitted\)"):
        listen.unix_socket(str(path), None)
