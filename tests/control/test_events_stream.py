"""The control socket's `events` stream in one process: the real `ControlServer` on a real
Unix socket, fed by a real `EventBus` — its idle timeout, its end when the server stops,
a client that stalls, a bad request."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from bridge import events
from bridge.cli.ctl_events import human
from bridge.control import server as control_server
from bridge.control import stream
from bridge.control.request import error
from bridge.control.server import ControlServer
from bridge.events import EventBus


async def _status(request: Any) -> dict[str, Any]:
    if isinstance(request, dict) and request.get("cmd") == "status":
        return {"ok": True, "message": "fine"}
    return error("unknown command", "usage")


async def _client(path: Path, request: dict[str, Any]
                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write((json.dumps(request) + "\n").encode())
    await writer.drain()
    return reader, writer


async def _line(reader: asyncio.StreamReader) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(reader.readline(), 5))


def _run(short_dir: Path, body) -> None:
    async def main() -> None:
        bus = EventBus()
        server = ControlServer(_status, short_dir / "s.sock", events=bus)
        await server.start()
        try:
            await body(bus, server, short_dir / "s.sock")
        finally:
            await server.stop()

    asyncio.run(main())


def test_the_idle_timeout_cuts_a_quiet_request_client_but_not_a_subscriber(
        short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control_server, "IDLE_TIMEOUT_S", 0.3)

    async def body(bus: EventBus, server: ControlServer, path: Path) -> None:
        bus.publish(events.STANDBY)
        idle_reader, _idle = await asyncio.open_unix_connection(str(path))
        reader, _w = await _client(path, {"cmd": "events"})
        first = await _line(reader)
        assert first["ok"] and first["stream"] == "events" and first["partials"] is False
        assert (await _line(reader))["event"] == "standby", "the state it starts from"
        await asyncio.sleep(1.0)  # over three idle timeouts
        assert await asyncio.wait_for(idle_reader.read(), 5) == b"", "the idle one is cut"
        bus.publish(events.TRIGGERED, cause="signal")
        got = await _line(reader)
        assert got["event"] == "triggered" and got["cause"] == "signal"

    _run(short_dir, body)


def test_stopping_writes_out_what_was_published_then_ends_the_stream(short_dir: Path) -> None:
    async def body(bus: EventBus, server: ControlServer, path: Path) -> None:
        clients = [await _client(path, {"cmd": "events", "partials": p}) for p in (False, True)]
        readers = [reader for reader, _writer in clients]
        for reader in readers:
            await _line(reader)
        await asyncio.sleep(0.1)
        bus.publish(events.TRANSCRIPT, role="visitor", text="hel", final=False)
        bus.publish(events.TRANSCRIPT, role="visitor", text="hello", final=True)
        bus.publish(events.ENDED, reason="customer-ended-call", outcome="ok")
        await server.stop()  # at once: nothing was written yet
        for reader, expected in zip(readers, (["hello"], ["hel", "hello"]), strict=True):
            rest = (await asyncio.wait_for(reader.read(), 5)).decode().splitlines()
            got = [json.loads(line) for line in rest]
            assert [e["text"] for e in got if e["event"] == "transcript"] == expected
            assert got[-1]["event"] == "ended", "then the end of the stream"

    _run(short_dir, body)


def test_a_client_that_takes_nothing_is_disconnected_and_the_others_go_on(
        short_dir: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(stream, "STALL_S", 0.5)

    async def body(bus: EventBus, server: ControlServer, path: Path) -> None:
        stalled, _s = await _client(path, {"cmd": "events", "partials": True})
        reader, _r = await _client(path, {"cmd": "events", "partials": True})
        await _line(reader)
        text = "x" * 3000
        got = 0
        for n in range(400):  # ~1.2 MB: far more than the stalled client's buffers
            bus.publish(events.TRANSCRIPT, role="assistant", text=text, final=False, n=n)
            await asyncio.sleep(0)
            while got <= n and (line := await _line(reader)):
                assert line["event"] == "transcript" and line["n"] == got
                got += 1
        await asyncio.sleep(1.0)  # the stalled one's last write times out
        bus.publish(events.STANDBY)
        assert (await _line(reader))["event"] == "standby"
        assert server.events is bus and bus.subscribers == 1, "the stalled one is gone"
        data = await asyncio.wait_for(stalled.read(), 5)  # buffered, then the end
        assert data.startswith(b'{"ok":true') and len(data) < 200_000

    with caplog.at_level(logging.WARNING, "bridge.control"):
        _run(short_dir, body)
    assert "an events client took nothing for 0 s; disconnected it" in caplog.text


def test_a_bad_events_request_is_a_usage_error(short_dir: Path) -> None:
    async def body(bus: EventBus, server: ControlServer, path: Path) -> None:
        reader, _w = await _client(path, {"cmd": "events", "partials": "yes"})
        answer = await _line(reader)
        assert answer == {"ok": False, "error": "'partials' must be true or false",
                          "kind": "usage"}
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert bus.subscribers == 0
        reader, _w = await _client(path, {"cmd": "events", "partial": True})  # a typo
        answer = await _line(reader)
        assert answer["kind"] == "usage" and "did you mean 'partials'?" in answer["error"]
        assert bus.subscribers == 0

    _run(short_dir, body)


def test_on_a_terminal_each_event_is_one_short_inert_line() -> None:
    line = human({"event": "transcript", "seq": 7, "at": 0, "role": "visitor",
                  "text": "hi\n<3>forged \x1b[31mred", "final": True, "new\x1bfield": 1})
    assert "\n" not in line and "\x1b" not in line
    assert line.split(None, 2)[1:] == [
        "transcript", 'role="visitor" text="hi\\n<3>forged \\x1b[31mred" final=true '
                      'new\\x1bfield=1']


def test_on_a_terminal_a_backslash_the_daemon_escaped_shows_as_it_did() -> None:
    """The daemon's inert text (a server's `C:\\new` is `C:\\\\new`) is shown as the log
    and the transcript show it: JSON's escaping over it doubled each backslash again."""
    line = human({"event": "transcript", "at": 0, "text": "C:\\\\new", "n": 2})
    assert line.split(None, 2)[2] == 'text="C:\\\\new" n=2', line
