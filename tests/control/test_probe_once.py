"""`ctl` without --profile asks each socket whether it answers once at most, and not at all
when there is nothing to choose between: `discover` asked, then `find_socket` asked the
same socket again, and a lone daemon's every `ctl` command was two connections (a probe,
then the request)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.control import paths
from bridge.control.client import find_socket
from bridge.errors import UsageError


@contextlib.contextmanager
def listening(*where: Path) -> Iterator[list[socket.socket]]:
    """A socket listening at each path (a daemon as far as a probe can tell)."""
    with contextlib.ExitStack() as stack:
        socks = []
        for path in where:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            sock = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            sock.bind(str(path))
            sock.listen(8)
            sock.setblocking(False)
            socks.append(sock)
        yield socks


def connections(sock: socket.socket) -> int:
    """The connections made to `sock` so far (each accepted, and closed)."""
    n = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return n
        conn.close()
        n += 1


@pytest.fixture
def session(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A login session's places, all the test's own (/run and /tmp's are shared)."""
    monkeypatch.setattr(paths, "SYSTEM_RUNTIME_DIR", short_dir / "run")
    monkeypatch.setattr(paths, "tmp_dir", lambda: short_dir / "tmp")
    monkeypatch.delenv("RUNTIME_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(short_dir / "x"))
    monkeypatch.setenv("TMPDIR", str(short_dir / "t"))
    return short_dir / "x" / "vapi-bridge"


def test_a_lone_daemon_is_found_without_a_probe(session: Path) -> None:
    with listening(session / "kiosk.sock") as (daemon,):
        assert find_socket() == session / "kiosk.sock"
        assert connections(daemon) == 0, "the request is its only connection"


def test_each_socket_is_asked_once(session: Path, short_dir: Path) -> None:
    with listening(session / "a.sock", session / "b.sock", short_dir / "tmp" / "c.sock"
                   ) as (a, b, _):
        with pytest.raises(UsageError, match="several daemons are running"):
            find_socket()
        assert (connections(a), connections(b)) == (1, 1)
