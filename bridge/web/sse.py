"""`/events`: the kiosk's events as server-sent events, the same JSON lines as `ctl events`
(`data: {"event": …}`, `id:` the bus's run and its seq). A client that reads slowly loses
its oldest events (a `lost` event says how many), never slows the daemon; one that stops
reading is dropped after `WRITE_TIMEOUT_S`. A browser that comes back (`Last-Event-ID`)
gets what it missed first, when the bus still holds it, else the state as any new stream,
with the call's last final lines (a page opened mid-call shows what was said, as `ctl
status` has it).
`?level=1` adds `{"event": "level", "db": …}` (the microphone's level in dBFS) five times
a second while a call is live: the screen's meter, and nothing computed when no page
asks. When the daemon stops, what it published before is sent, then the stream ends."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from bridge.events import KioskEvent
from bridge.web import scrub
from bridge.web.host import WebHost

RETRY_MS = 1000  # how soon a browser reconnects (after the daemon restarts, say)
KEEPALIVE_S = 5.0  # also how soon a dead client's slot is free (32 per address: guard.py)
LEVEL_EVERY_S = 0.2
WRITE_TIMEOUT_S = 10.0
SILENCE_DB = -100.0


def _level(host: WebHost) -> float | None:
    call = host.call
    if call is None or call.done or call.info is None:
        return None
    try:
        db = float(call.source.level_db)
    except Exception:
        return None
    return round(max(SILENCE_DB, min(0.0, db)), 1) if db == db else None


def _last_id(request: web.Request, run: str) -> int | None:
    """The seq of the last event a browser coming back had (`Last-Event-ID`): what came
    after is sent first (captions said while its stream was cut), not the state again. Its
    id is `RUN.SEQ`: one this daemon's bus did not give (a daemon before a restart, whose
    seq may be at or below this one's: the new daemon's first events, its state among
    them, were taken as had) is none."""
    given_run, _, given = request.headers.get("Last-Event-ID", "").partition(".")
    if given_run != run or not (given.isascii() and given.isdigit() and len(given) < 12):
        return None
    return int(given)


def _frame(event: KioskEvent, run: str) -> bytes:
    return f"id: {run}.{event.seq}\ndata: {scrub.event_json(event)}\n\n".encode()


async def stream(request: web.Request, host: WebHost, stopping: asyncio.Event
                 ) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store",
        "X-Accel-Buffering": "no"})
    await response.prepare(request)
    levels = request.query.get("level") == "1"
    run = host.events.run
    loop = asyncio.get_running_loop()

    async def send(data: bytes) -> None:
        async with asyncio.timeout(WRITE_TIMEOUT_S):
            await response.write(data)

    tick = LEVEL_EVERY_S if levels else KEEPALIVE_S
    stop = asyncio.ensure_future(stopping.wait())
    with host.events.subscribe(since=_last_id(request, run), lines=True) as sub:
        pending = asyncio.ensure_future(sub.get())
        try:
            await send(f"retry: {RETRY_MS}\n\n".encode())
            wrote = next_tick = loop.time()
            while True:
                next_tick += tick
                done, _ = await asyncio.wait({pending, stop},
                                             timeout=max(0.0, next_tick - loop.time()),
                                             return_when=asyncio.FIRST_COMPLETED)
                if stop in done:  # what was published before the stop still goes out:
                    if pending.done():  # an `error` the daemon exits on, the `ended` of a
                        await send(_frame(pending.result(), run))  # call cut short by SIGTERM
                    while (event := sub.get_nowait()) is not None:
                        await send(_frame(event, run))
                    break
                if pending in done:
                    await send(_frame(pending.result(), run))
                    pending = asyncio.ensure_future(sub.get())
                    next_tick -= tick  # the tick still to come
                    continue
                db = _level(host) if levels else None
                if db is not None:
                    await send(f'data: {{"event":"level","db":{db}}}\n\n'.encode())
                elif loop.time() - wrote < KEEPALIVE_S:
                    continue
                else:
                    await send(b": keepalive\n\n")
                wrote = loop.time()
        except (ConnectionError, TimeoutError):
            pass
        finally:
            pending.cancel()
            stop.cancel()
    with contextlib.suppress(Exception):
        await response.write_eof()
    return response
