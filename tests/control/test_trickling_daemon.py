"""Something on a control socket that answers a byte at a time, never a whole line, holds
neither `run`/`check`'s probe nor a `ctl` request past its timeout: the timeout was each
read's, so a byte every 0.2 s kept the 2 s probe (and `ctl`'s 30 s) waiting for as long as
the trickle lasted. `ctl events` too: its first answer was read with the same per-read
timeout."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.control.client import request, stream
from bridge.control.peers import probe
from bridge.errors import NetworkError

TRICKLE_S = 6.0  # how long the socket keeps sending (a byte every 0.2 s)


@pytest.fixture
def trickling(short_dir: Path) -> Iterator[Path]:
    path = short_dir / "trickle.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    server.settimeout(0.2)  # (accept wakes to see `stop`)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(None)
                conn.recv(65536)  # the request
                end = time.monotonic() + TRICKLE_S
                try:
                    while time.monotonic() < end and not stop.wait(0.2):
                        conn.sendall(b"{")
                except OSError:  # the client gave up: the point
                    continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path
    stop.set()
    thread.join(5)
    server.close()


def test_a_trickling_socket_holds_neither_the_probe_nor_ctl(trickling: Path) -> None:
    start = time.monotonic()
    peer = asyncio.run(probe(trickling, timeout=0.5))
    assert time.monotonic() - start < TRICKLE_S / 2, "the probe waited for the trickle"
    assert peer is not None and peer.status == {}, "it took the connection; no answer"

    start = time.monotonic()
    with pytest.raises(NetworkError, match="did not answer within 1 s") as late:
        request(trickling, {"cmd": "status"}, timeout=1.0)
    assert str(late.value).endswith("— see the daemon's log (journalctl -u vapi-bridge@NAME) "
                                    "for what holds it"), "the fix: none, before"
    assert time.monotonic() - start < TRICKLE_S / 2


def test_a_trickling_socket_does_not_hold_ctl_events(trickling: Path) -> None:
    start = time.monotonic()
    with pytest.raises(NetworkError, match="did not answer within 1 s"):
        stream(trickling, {"cmd": "events"}, timeout=1.0)
    assert time.monotonic() - start < TRICKLE_S / 2, "ctl events waited for the trickle"
