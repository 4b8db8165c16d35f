"""Where a listener listens: oauth2-proxy's forms of `http_address` and `metrics_address`.

oauth2-proxy (pkg/proxyhttp/server.go, `setupListener`; pkg/apis/options/server.go) takes
`[http://]<addr>:<port>`, `unix://<path>` with an optional `,mode=<octal>` applied to the socket
file after it is made (#3376), and `fd:<n>` (the prefix in any case) for a socket systemd made
and handed over (docs/docs/configuration/systemd_socket.md). IPv6 hosts are in brackets, as Go's
net.Listen wants them: `[::1]:4180`. Parsed here, once, into one value; the socket itself is
made in web/listen.py.

Stricter than oauth2-proxy where it silently did something else: an option other than `mode`
after the path is refused (it ignores it, so a typo such as `mod=0660` left the file with the
umask's mode), and so is a mode above 0777 (only permission bits mean anything on a socket).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

#: the schemes oauth2-proxy's getNetworkScheme treats as TCP (it hands the scheme to net.Listen)
_TCP_SCHEMES = ("http://", "tcp://", "tcp4://", "tcp6://")
_FD = re.compile(r"fd:([0-9]{1,9})", re.IGNORECASE)
_OCTAL = re.compile(r"0?o?([0-7]{1,4})", re.IGNORECASE)


@dataclass(frozen=True)
class ListenAddress:
    """One listener: TCP `host:port`, a unix socket `path` (with its file `mode`), or an
    inherited socket `fd`."""

    kind: Literal["tcp", "unix", "fd"]
    host: str = ""  # tcp: without brackets; "" is every interface (Go's ":4180")
    port: int = 0
    path: str = ""
    mode: int | None = None  # unix: the socket file's mode; None leaves the umask's
    fd: int = -1

    @property
    def text(self) -> str:
        """The canonical spelling (what the option holds once validated)."""
        if self.kind == "unix":
            return f"unix://{self.path}" + (f",mode={self.mode:04o}" if self.mode is not None else "")
        if self.kind == "fd":
            return f"fd:{self.fd}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def key(self) -> str:
        """What two listeners must not share: a TCP port, a socket path, a descriptor."""
        if self.kind == "tcp":
            return str(self.port)
        return self.text.split(",", 1)[0]

    def describe(self) -> str:
        """For the start-up line: `http://host:port`, `unix socket /path`, `inherited fd 3`."""
        if self.kind == "unix":
            return f"unix socket {self.path}"
        if self.kind == "fd":
            return f"inherited socket fd:{self.fd}"
        return f"http://{self.text}"


def parse_listen(value: str, example: str = "127.0.0.1:4180") -> ListenAddress:
    """`value` as a ListenAddress; ValueError (one line, naming what is wrong) if it is none."""
    text = value.strip()
    forms = f"[http://]host:port (e.g. {example} or [::1]:4180), unix:///path[,mode=0660] or fd:3"
    if text.lower().startswith("fd:"):
        match = _FD.fullmatch(text)
        if not match:
            raise ValueError("fd: needs a descriptor number (e.g. fd:3, systemd's first)")
        fd = int(match.group(1))
        if fd < 3:
            raise ValueError("descriptors 0-2 are stdin, stdout and stderr; systemd's "
                             "first socket is fd:3")
        return ListenAddress("fd", fd=fd)
    if text.lower().startswith("unix://"):
        return _unix(text[len("unix://"):])
    lowered = text.lower()
    for scheme in _TCP_SCHEMES:
        if lowered.startswith(scheme):
            text = text[len(scheme):]
            break
    else:
        if "://" in text:
            raise ValueError(f"unknown scheme {text.split('://', 1)[0]!r}; expected {forms}")
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"is not {forms}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} in brackets is not an IPv6 address") from None
    elif ":" in host or "[" in host or "]" in host:
        raise ValueError("an IPv6 address goes in brackets, e.g. [::1]:4180")
    elif any(c in host for c in "/ ,@"):
        raise ValueError(f"is not {forms}")
    return ListenAddress("tcp", host=host, port=int(port))


def _unix(rest: str) -> ListenAddress:
    path, *options = rest.split(",")
    if not path:
        raise ValueError("unix:// needs a socket path (e.g. unix:///run/authsvc/authsvc.sock)")
    if "\0" in path or len(path.encode()) > 107:  # sun_path is 108 bytes on Linux, with its NUL
        raise ValueError("a unix socket path must be at most 107 bytes, without NUL")
    mode: int | None = None
    for option in options:
        name, eq, setting = option.partition("=")
        if name.strip() != "mode":
            raise ValueError(f"unknown unix socket option {name.strip()!r} (only mode=0NNN)")
        match = _OCTAL.fullmatch(setting.strip()) if eq else None
        if not match or int(match.group(1), 8) > 0o777:
            raise ValueError("the socket file mode must be octal permission bits, "
                             "0000 to 0777 (e.g. mode=0660)")
        mode = int(match.group(1), 8)
    return ListenAddress("unix", path=path, mode=mode)


def listen_key(address: str) -> str:
    """ListenAddress.key of a validated address ("" stays ""): a port, a socket path, an fd."""
    if not address:
        return ""
    try:
        return parse_listen(address).key
    except ValueError:  # reported by the option's own validator
        return address.rpartition(":")[2]
