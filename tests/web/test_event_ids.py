"""`/events`' ids across a restart of the daemon: a browser's stream, cut as the daemon
stopped, comes back to the new daemon with the `Last-Event-ID` of the last one. The stream
served in-process (`bridge.web.sse`, real HTTP on loopback), one bus per daemon."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web

from bridge import events
from bridge.events import EventBus
from bridge.web import sse


class Daemon:
    """What the stream reads of a daemon: its bus; no call (no level to give)."""

    def __init__(self) -> None:
        self.events = EventBus()
        self.call = None


async def _stream(daemon: Daemon, last_id: str | None) -> list[tuple[str, str]]:
    """(id, kind) of each event a new stream gives, up to a marker published once it is
    open: what it starts with, and nothing waited for beyond that."""
    stopping = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        return await sse.stream(request, daemon, stopping)  # type: ignore[arg-type]

    app = web.Application()
    app.router.add_get("/events", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    got: list[tuple[str, str]] = []
    try:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        async with aiohttp.ClientSession() as session, session.get(
                f"http://127.0.0.1:{port}/events", headers=headers,
                timeout=aiohttp.ClientTimeout(total=10)) as answer:
            assert (await answer.content.readline()).startswith(b"retry:")
            daemon.events.publish(events.HANG)  # the marker
            seen: dict[str, Any] = {}
            while not got or got[-1][1] != events.HANG:
                line = (await answer.content.readline()).decode().rstrip("\n")
                if line.startswith("id: "):
                    seen["id"] = line[4:]
                elif line.startswith("data: "):
                    kind = line.split('"event":"', 1)[1].split('"', 1)[0]
                    got.append((seen.pop("id"), kind))
    finally:
        stopping.set()
        await runner.cleanup()
    return got


def test_a_browser_back_from_the_last_daemon_gets_the_new_ones_state() -> None:
    """The id was the bus's seq alone, which a restarted daemon counts from 1 again: a
    browser back with the last daemon's id, one the new daemon had reached meanwhile (a
    loop-mode call placed at once, a short-lived daemon before it), was given only what
    came after that seq in the new daemon, and never its state: the screen went on showing
    the last daemon's. The ids say which daemon's run gave them now."""
    async def run() -> None:
        before = Daemon()
        for kind in (events.STANDBY, events.TRIGGERED):
            before.events.publish(kind)
        last_id = (await _stream(before, None))[-1][0]  # where the browser's stream was cut
        after = Daemon()  # started again, in loop mode: calling at once
        after.events.publish(events.TRIGGERED, cause="loop")
        after.events.publish(events.CONNECTING)
        after.events.publish(events.IN_CALL, call="1a2b3c4d")
        after.events.publish(events.ASSISTANT_SPEAKING, turn=0)
        got = await _stream(after, last_id)
        assert [kind for _, kind in got] == [events.IN_CALL, events.HANG], got
        after.events.publish(events.ASSISTANT_SILENT, turn=0)  # and back to this daemon,
        assert [kind for _, kind in await _stream(after, got[-1][0])] == [  # it gets what
            events.ASSISTANT_SILENT, events.HANG]  # it missed alone

    asyncio.run(run())
