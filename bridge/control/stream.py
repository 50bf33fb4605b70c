"""The control socket's one streaming request: `{"cmd": "events"}` (`vapi-bridge ctl events`).

The answer is one line `{"ok": true, "stream": "events", …}`, then one JSON line per kiosk
event (`bridge.events`) for as long as the client stays connected: the connection belongs
to the stream from then on (no idle timeout, no further requests). Non-final transcript
events are left out unless the request says `"partials": true`.

A client never slows the daemon: the bus gives it a bounded queue (it loses its oldest
events, and is told how many, when it falls behind), the socket's buffers are small, and
a client that takes no bytes for `STALL_S` is disconnected. When the daemon stops, what
was already published is written out (for up to the server's grace) and the connection
closed: the client reads to the end of the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

from bridge import events
from bridge.control.request import unknown_field
from bridge.events import EventBus, KioskEvent, Subscription

log = logging.getLogger("bridge.control")

COMMAND = "events"
STALL_S = 10.0  # a client that accepts no bytes for this long is disconnected
SEND_BUFFER = 16 * 1024  # the kernel's send buffer for a stream (it doubles it)
WRITE_HIGH = 16 * 1024  # the transport's own buffer before a write waits


def wants_stream(request: Any) -> bool:
    return isinstance(request, dict) and request.get("cmd") == COMMAND


def accepted(request: dict[str, Any]) -> dict[str, Any] | str:
    """The first answer line's fields, or why the request is refused (a usage error)."""
    if (problem := unknown_field(request)) is not None:
        return problem
    partials = request.get("partials", False)
    if not isinstance(partials, bool):
        return "'partials' must be true or false"
    return {"ok": True, "stream": COMMAND, "partials": partials,
            "message": "streaming kiosk events, one JSON object per line"}


def _bound(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
    transport = writer.transport
    if isinstance(transport, asyncio.WriteTransport):
        transport.set_write_buffer_limits(high=WRITE_HIGH)


async def _write(writer: asyncio.StreamWriter, lines: list[str]) -> None:
    writer.write("".join(line + "\n" for line in lines).encode())
    async with asyncio.timeout(STALL_S):
        await writer.drain()


def _lines(sub: Subscription, first: KioskEvent | None = None) -> list[str]:
    """`first` and whatever else is already waiting, as lines."""
    batch = [] if first is None else [first]
    while (more := sub.get_nowait()) is not None:
        batch.append(more)
    return [event.json() for event in batch]


async def stream_events(bus: EventBus, request: dict[str, Any], reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter, closing: asyncio.Event,
                        first_line: bytes) -> None:
    """Serve one `events` stream until the client goes, stalls, or `closing` is set."""
    partials = bool(request.get("partials", False))
    _bound(writer)
    writer.write(first_line)
    with bus.subscribe(keep=None if partials else events.final_only) as sub:
        gone = asyncio.ensure_future(reader.read(1024))  # the client ends (or says more)
        stop = asyncio.ensure_future(closing.wait())
        try:
            async with asyncio.timeout(STALL_S):
                await writer.drain()
            while True:
                nxt = asyncio.ensure_future(sub.get())
                done, _ = await asyncio.wait({nxt, gone, stop},
                                             return_when=asyncio.FIRST_COMPLETED)
                if nxt not in done:
                    nxt.cancel()
                    if stop in done and (lines := _lines(sub)):  # the daemon stops:
                        await _write(writer, lines)  # write out what is already queued
                    return
                await _write(writer, _lines(sub, nxt.result()))
        except TimeoutError:
            log.warning("control socket: an events client took nothing for %.0f s; "
                        "disconnected it", STALL_S)
        finally:
            stop.cancel()
            if gone.done() and not gone.cancelled():
                gone.exception()  # retrieved: a reset is just the client going
            gone.cancel()
