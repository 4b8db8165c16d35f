"""The sockets authsvc makes itself: unix sockets with their file mode, and systemd's inherited ones.

TCP listeners are uvicorn's own (host and port). A unix socket is made here rather than with
uvicorn's `uds=`, which makes the file 0666 (anyone on the host could connect), cannot replace a
stale file when it has workers, and leaves a non-socket file's fate to the event loop: here the
file gets `,mode=` (or the umask's mode, as oauth2-proxy's net.Listen leaves it), a socket file
nobody listens on any more (a crash, SIGKILL) is replaced, and anything else at the path is
refused. An `fd:N` socket is taken as systemd hands it over (sd_listen_fds(3): LISTEN_PID names
this process, LISTEN_FDS counts the descriptors from 3), as oauth2-proxy's
pkg/proxyhttp/systemd_socket.go does through go-systemd's activation.Files: outside that range it
is refused, and the variables are removed so that no child takes them for its own.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat

from ..config.listen import ListenAddress
from ..errors import ConfigError

#: systemd's first passed descriptor (SD_LISTEN_FDS_START)
LISTEN_FDS_START = 3
_BACKLOG = 2048  # uvicorn's default
_FAMILIES = (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6)


def bind(address: ListenAddress, option: str = "http_address") -> socket.socket:
    """The listening socket of a unix:// or fd: address (ConfigError, one line, when it cannot be)."""
    if address.kind == "unix":
        return unix_socket(address.path, address.mode, option)
    if address.kind == "fd":
        return inherited_socket(address.fd, option)
    raise ValueError("TCP listeners are uvicorn's (host, port)")


def check_unix_path(path: str, option: str = "http_address") -> None:
    """What check-config can tell without binding: the directory exists, nothing but a socket
    is at the path."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(f"invalid option {option}: the socket's directory {directory} does not exist")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"invalid option {option}: cannot look at {path} ({exc.strerror})") from None
    if not stat.S_ISSOCK(info.st_mode):
        raise ConfigError(f"invalid option {option}: {path} exists and is not a socket; authsvc replaces "
                          "only a stale socket file, never another file")


def unix_socket(path: str, mode: int | None, option: str = "http_address") -> socket.socket:
    """A listening unix socket at `path`, its file made with `mode` (None: the umask's)."""
    check_unix_path(path, option)
    if os.path.exists(path):  # a socket file (check_unix_path): replaced if nobody listens on it
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            try:
                os.unlink(path)  # stale: left by a process that did not close it (a crash, SIGKILL)
            except FileNotFoundError:
                pass
            except OSError as exc:  # e.g. another user's, in a sticky directory
                raise ConfigError(f"invalid option {option}: cannot replace the stale socket {path} "
                                  f"({exc.strerror or exc})") from None
        except OSError:
            pass  # e.g. no permission to connect: bind below reports it
        else:
            raise ConfigError(f"invalid option {option}: another process is listening on {path}")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # with a mode: bound under the umask that leaves exactly `mode` (bind makes the file
        # 0777 less the umask), so it is never open to more, and no chmod by path follows: in a
        # directory another user may write, the file could meanwhile be a symlink to another
        umask = os.umask(0o777 & ~mode) if mode is not None else None
        try:
            sock.bind(path)
        finally:
            if umask is not None:
                os.umask(umask)
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        why = exc.strerror or exc
        raise ConfigError(f"invalid option {option}: cannot listen on {path} ({why})") from None
    sock.set_inheritable(True)  # uvicorn's workers get it
    return sock


#: how many descriptors systemd passed this process, once read (None: not yet): the variables
#: are removed then, and http_address and metrics_address may each take one (fd:3, fd:4)
_passed: int | None = None


def inherited_socket(fd: int, option: str = "http_address") -> socket.socket:
    """The listening socket systemd passed as descriptor `fd`."""
    global _passed
    if _passed is None:
        pid, count = os.environ.get("LISTEN_PID", ""), os.environ.get("LISTEN_FDS", "")
        if pid != str(os.getpid()) or not count.isdigit():
            raise ConfigError(f"invalid option {option}: fd:{fd} needs a socket passed by systemd (or "
                              "systemd-socket-activate): LISTEN_PID and LISTEN_FDS are not set for this "
                              "process")
        _passed = int(count)
        for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            os.environ.pop(name, None)  # ours now, not a worker's or a child's (activation.Files(true))
    count = str(_passed)
    if not LISTEN_FDS_START <= fd < LISTEN_FDS_START + _passed:
        raise ConfigError(f"invalid option {option}: fd:{fd} is outside the {count} descriptor(s) passed "
                          f"(fd:{LISTEN_FDS_START} to fd:{LISTEN_FDS_START + _passed - 1})")
    try:
        sock = socket.socket(fileno=fd)  # family and type read from the descriptor
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    except OSError as exc:
        why = exc.strerror or exc
        raise ConfigError(f"invalid option {option}: fd:{fd} is not a socket ({why})") from None
    if sock.type != socket.SOCK_STREAM or sock.family not in _FAMILIES:
        raise ConfigError(f"invalid option {option}: fd:{fd} is not a TCP or unix stream socket")
    if not listening:
        raise ConfigError(f"invalid option {option}: fd:{fd} is not listening (systemd's ListenStream=, "
                          "without Accept=yes)")
    sock.set_inheritable(True)
    return sock


def file_id(path: str) -> tuple[int, int]:
    """(device, inode) of the file at path: which socket file is ours, at exit."""
    info = os.stat(path)
    return info.st_dev, info.st_ino


def remove_socket_file(path: str, ours: tuple[int, int]) -> None:
    """At exit: the socket's file, unless another process has put its own there since."""
    with contextlib.suppress(OSError):
        if file_id(path) == ours:
            os.unlink(path)
