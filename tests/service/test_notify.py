"""bridge.service.notify against a notify socket the test owns (as systemd would)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bridge.service.notify import (
    MAX_STATUS_CHARS,
    Notifier,
    watchdog_interval,
    watchdog_loop,
)


class NotifySocket:
    """A bound AF_UNIX datagram socket, like systemd's /run/systemd/notify."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(2.0)

    def recv(self) -> list[str]:
        return self.sock.recv(65536).decode().split("\n")

    def drain(self) -> list[list[str]]:
        self.sock.setblocking(False)
        out = []
        try:
            while True:
                out.append(self.sock.recv(65536).decode().split("\n"))
        except BlockingIOError:
            pass
        finally:
            self.sock.settimeout(2.0)
        return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[NotifySocket, str]]:
    # AF_UNIX paths are limited to 107 bytes; pytest's tmp_path can be long.
    path = tmp_path / "notify"
    if len(str(path)) > 100:
        pytest.skip(f"tmp_path too long for an AF_UNIX path: {path}")
    s = NotifySocket(str(path))
    yield s, str(path)
    s.close()


def test_messages_arrive_in_order(listener: tuple[NotifySocket, str]) -> None:
    sock, path = listener
    n = Notifier(path)
    assert n.enabled
    assert n.ready()
    assert sock.recv() == ["READY=1"]
    assert n.status("in call 01:23, 0 underruns")
    assert sock.recv() == ["STATUS=in call 01:23, 0 underruns"]
    assert n.watchdog()
    assert sock.recv() == ["WATCHDOG=1"]
    assert n.stopping()
    assert sock.recv() == ["STOPPING=1"]
    n.close()


def test_ready_and_stopping_carry_a_status(listener: tuple[NotifySocket, str]) -> None:
    sock, path = listener
    with Notifier(path) as n:
        n.ready("waiting for trigger")
        assert sock.recv() == ["READY=1", "STATUS=waiting for trigger"]
        n.stopping("ending the call")
        assert sock.recv() == ["STOPPING=1", "STATUS=ending the call"]


def test_reloading_sends_monotonic_usec(listener: tuple[NotifySocket, str]) -> None:
    sock, path = listener
    with Notifier(path) as n:
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        n.reloading()
        fields = sock.recv()
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert fields[0] == "RELOADING=1"
    assert fields[1].startswith("MONOTONIC_USEC=")
    assert before <= int(fields[1].split("=", 1)[1]) <= after


def test_status_is_one_bounded_line(listener: tuple[NotifySocket, str]) -> None:
    sock, path = listener
    with Notifier(path) as n:
        n.status("line one\nREADY=1\r\n  line two")
        assert sock.recv() == ["STATUS=line one READY=1 line two"]  # no smuggled assignment
        n.status("x" * 5000)
        (field,) = sock.recv()
        assert len(field) == len("STATUS=") + MAX_STATUS_CHARS


def test_env_notify_socket_is_read(listener: tuple[NotifySocket, str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    sock, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    with Notifier() as n:
        assert n.enabled
        n.ready()
        assert sock.recv() == ["READY=1"]


def test_abstract_namespace_address() -> None:
    name = f"vapi-bridge-test-{uuid.uuid4().hex}"
    sock = NotifySocket(b"\0" + name.encode())
    try:
        with Notifier(env={"NOTIFY_SOCKET": "@" + name}) as n:
            assert n.address == b"\0" + name.encode()
            assert n.ready()
            assert sock.recv() == ["READY=1"]
            assert n.watchdog()
            assert sock.recv() == ["WATCHDOG=1"]
    finally:
        sock.close()


@pytest.mark.parametrize("value", [None, "", "relative/path", "vsock:2:1234"])
def test_no_usable_socket_is_a_silent_noop(value: str | None,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    env = {} if value is None else {"NOTIFY_SOCKET": value}
    n = Notifier(env=env)
    assert not n.enabled
    assert n.ready() is False
    assert n.status("x") is False
    assert n.watchdog() is False
    assert n.stopping() is False
    assert n.reloading() is False
    n.close()


def test_without_env_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    n = Notifier()
    assert not n.enabled
    assert n.ready() is False


def test_send_failure_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    n = Notifier(str(tmp_path / "gone"))  # a path nobody listens on
    assert n.enabled
    with caplog.at_level(logging.DEBUG, logger="bridge.service"):
        assert n.ready() is False
        assert n.watchdog() is False
    assert any("sd_notify READY failed" in r.getMessage() for r in caplog.records)
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


def test_listener_gone_midway(listener: tuple[NotifySocket, str]) -> None:
    sock, path = listener
    n = Notifier(path)
    assert n.ready()
    sock.close()
    os.unlink(path)
    assert n.watchdog() is False  # ENOENT, logged, not raised
    n.close()


def test_full_queue_is_dropped_not_blocking(listener: tuple[NotifySocket, str]) -> None:
    sock, path = listener
    n = Notifier(path)
    sent = 0
    while n.status("x" * 1000):  # nobody reads: the queue fills up
        sent += 1
        assert sent < 100_000, "the queue never filled"
    assert sent > 0
    for _ in range(3):  # once full, each send gives up after a few short retries
        t0 = time.monotonic()
        assert n.watchdog() is False
        # a hang guard, not a timing check: with no event loop the retries sleep
        # 4 × 10 ms here; a blocking socket would never return
        assert time.monotonic() - t0 < 5
    sock.drain()  # the manager catches up: sending works again
    assert n.watchdog() is True
    n.close()


def _fill(n: Notifier) -> None:
    """Send until the manager's queue (nobody reads it) has no room left."""
    sent = 0
    while n.status("x" * 1000):
        sent += 1
        assert sent < 100_000, "the queue never filled"


def _wait_for(predicate: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + 5  # a hang guard: it takes 4 loop timers of 10 ms
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_on_the_loop_a_full_queue_is_retried_by_the_loop_in_order(
        listener: tuple[NotifySocket, str]) -> None:
    """READY=1 sent while the manager's queue is full (mid daemon-reload) is not lost, nor
    waited for by the caller: the loop's timers send it once there is room, and what
    was sent after it follows it."""
    sock, path = listener
    n = Notifier(path)
    _fill(n)

    async def main() -> list[list[str]]:
        assert n.ready() is False  # no room: it waits, the caller does not
        assert n.status("after") is False  # behind it, not before it
        assert [m for m in sock.drain() if not m[0].startswith("STATUS=xxx")] == [], \
            "nothing was sent yet: the send did not retry in the caller"
        got: list[list[str]] = []
        while len(got) < 2:  # the manager has room now: the loop's retry sends both
            await asyncio.sleep(0.01)
            got += sock.drain()
        return got

    assert asyncio.run(main()) == [["READY=1"], ["STATUS=after"]]
    assert n.watchdog() is True
    n.close()


def test_on_the_loop_a_queue_that_stays_full_drops_the_message(
        listener: tuple[NotifySocket, str], caplog: pytest.LogCaptureFixture) -> None:
    sock, path = listener
    n = Notifier(path)
    _fill(n)

    async def main() -> None:
        with caplog.at_level(logging.DEBUG, logger="bridge.service"):
            assert n.watchdog() is False
            while not any("WATCHDOG dropped" in r.getMessage() for r in caplog.records):
                await asyncio.sleep(0.01)  # the loop runs its retries meanwhile

    asyncio.run(asyncio.wait_for(main(), 5))
    sock.drain()
    assert n.ready() is True  # nothing waits any more: sent at once
    assert sock.recv() == ["READY=1"]
    n.close()


def test_close_gives_a_waiting_message_its_last_try(listener: tuple[NotifySocket, str]
                                                    ) -> None:
    """STOPPING=1 sent into a full queue just before the daemon exits still arrives once
    the manager has room when the notifier is closed."""
    sock, path = listener
    n = Notifier(path)
    _fill(n)

    async def main() -> None:
        assert n.stopping("stopping") is False
        sock.drain()
        n.close()

    asyncio.run(main())
    assert sock.recv() == ["STOPPING=1", "STATUS=stopping"]


# ---- watchdog interval ----------------------------------------------------------------

@pytest.mark.parametrize(("env", "expected"), [
    ({}, None),
    ({"WATCHDOG_USEC": "30000000"}, 15.0),
    ({"WATCHDOG_USEC": " 1000000 "}, 0.5),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "-5"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "nope"}, None),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": ""}, 15.0),
])
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval(env) == expected


def test_watchdog_interval_own_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "20000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == 10.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert watchdog_interval() is None


# ---- watchdog loop ---------------------------------------------------------------------

def _pings(sock: NotifySocket) -> int:
    return sum(1 for msg in sock.drain() if msg == ["WATCHDOG=1"])


def test_watchdog_loop_pings_from_the_event_loop(listener: tuple[NotifySocket, str]) -> None:
    sock, path = listener

    async def main() -> None:
        n = Notifier(path)
        task = asyncio.create_task(watchdog_loop(n, 0.02))
        await asyncio.sleep(0.25)
        assert _pings(sock) >= 5
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.1)
        _pings(sock)  # a ping the full queue held back may come now, sent before the cancel
        await asyncio.sleep(0.1)
        assert _pings(sock) == 0  # cancelled: no more pings
        n.close()

    asyncio.run(main())


def test_a_stalled_loop_stops_pinging(listener: tuple[NotifySocket, str]) -> None:
    sock, path = listener

    async def main() -> None:
        n = Notifier(path)
        task = asyncio.create_task(watchdog_loop(n, 0.02))
        await asyncio.sleep(0.1)
        _pings(sock)
        time.sleep(0.3)  # a blocking call stalls the loop
        assert _pings(sock) == 0  # no ping came while the loop was stuck
        await asyncio.sleep(0.1)
        assert _pings(sock) >= 1  # and pings resume when it runs again
        task.cancel()
        n.close()

    asyncio.run(main())


def test_watchdog_loop_skips_pings_while_unhealthy(listener: tuple[NotifySocket, str]) -> None:
    sock, path = listener
    state = {"ok": True}

    def healthy() -> bool:
        if state["ok"] is None:
            raise RuntimeError("probe broke")
        return bool(state["ok"])

    async def main() -> None:
        n = Notifier(path)
        task = asyncio.create_task(watchdog_loop(n, 0.02, healthy=healthy))
        await asyncio.sleep(0.1)
        assert _pings(sock) >= 2
        state["ok"] = False
        await asyncio.sleep(0.05)
        _pings(sock)
        await asyncio.sleep(0.1)
        assert _pings(sock) == 0
        state["ok"] = None  # a raising probe counts as unhealthy, and does not end the loop
        await asyncio.sleep(0.1)
        assert _pings(sock) == 0
        assert not task.done()
        state["ok"] = True
        await asyncio.sleep(0.1)
        assert _pings(sock) >= 2
        task.cancel()
        n.close()

    asyncio.run(main())


def test_watchdog_loop_returns_when_off(listener: tuple[NotifySocket, str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _sock, path = listener
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)

    async def main() -> None:
        # no WATCHDOG_USEC: nothing to do
        await asyncio.wait_for(watchdog_loop(Notifier(path)), 1.0)
        # no notify socket: nothing to do either
        await asyncio.wait_for(watchdog_loop(Notifier(env={}), 0.01), 1.0)

    asyncio.run(main())


def test_watchdog_loop_reads_the_interval_from_env(listener: tuple[NotifySocket, str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    sock, path = listener
    monkeypatch.setenv("WATCHDOG_USEC", "40000")  # 40 ms period: ping every 20 ms
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))

    async def main() -> None:
        task = asyncio.create_task(watchdog_loop(Notifier(path)))
        await asyncio.sleep(0.2)
        task.cancel()
        assert _pings(sock) >= 4

    asyncio.run(main())
