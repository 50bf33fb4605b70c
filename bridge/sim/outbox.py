"""One writer task per call socket: audio, events and the close go out in order."""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from bridge.sim.calls import CallRecord

log = logging.getLogger("bridge.sim.outbox")
MAX_QUEUED = 1500  # about a minute of audio chunks
CLOSE_WAIT_S = 5.0  # for the client's Close, after ours


@dataclass
class _Item:
    kind: str  # audio | event | raw | close
    data: Any = None
    markers: list[dict[str, Any]] = field(default_factory=list)


class Outbox:
    def __init__(self, ws: web.WebSocketResponse, rec: CallRecord, request: web.Request) -> None:
        self.ws = ws
        self.rec = rec
        self.request = request
        self._q: asyncio.Queue[_Item] = asyncio.Queue()
        self.dead = False  # ws-drop: everything is silently discarded
        self.closed = asyncio.Event()
        self.dropped = 0

    def audio(self, data: bytes, markers: list[dict[str, Any]] | None = None) -> None:
        self._put(_Item("audio", data, markers or []))

    def frames(self, chunks: list[bytes]) -> None:
        """Binary frames of at most 125 bytes each, written to the connection in one write:
        a client reads them back to back, with no pause between (`tiny-frames`)."""
        self._put(_Item("frames", chunks))

    def event(self, event: dict[str, Any] | str, record: dict[str, Any] | None = None) -> None:
        """`event`: a dict, or its JSON text already made (then `record` is what the call's
        record keeps of it)."""
        self._put(_Item("event", (event, record if record is not None else event)))

    def raw(self, text: str) -> None:
        self._put(_Item("raw", text))

    def close(self, code: int = 1000) -> None:
        self._put(_Item("close", code))

    def _put(self, item: _Item) -> None:
        if self.dead:
            return
        if item.kind == "audio" and self._q.qsize() > MAX_QUEUED:
            self.dropped += 1  # the client stopped reading: don't grow without bound
            return
        self._q.put_nowait(item)

    def abort(self, code: int = 1006) -> None:
        """Drop the TCP connection without a close frame."""
        self.dead = True
        self.rec.close_code = code
        transport = self.request.transport
        if transport is not None:
            transport.abort()
        self.closed.set()

    async def run(self) -> None:
        try:
            while True:
                item = await self._q.get()
                if self.dead:
                    continue
                if item.kind == "close":
                    await self._close(int(item.data))
                    return
                await self._send(item)
        except (ConnectionError, RuntimeError) as exc:
            log.debug("call %s: socket gone while writing (%s)", self.rec.id, exc)
        finally:
            self.closed.set()

    async def _send(self, item: _Item) -> None:
        rec = self.rec
        if item.kind == "audio":
            await self.ws.send_bytes(item.data)
            now = time.monotonic()
            rec.downlink_bytes += len(item.data)
            rec.downlink_chunks += 1
            rec.downlink_chunk_sizes.append(len(item.data))
            for m in item.markers:
                rec.downlink_markers.append({**m, "sentMonotonic": now})
        elif item.kind == "frames":
            transport = self.request.transport
            if transport is not None:  # unmasked binary frames (0x82), each its length byte
                transport.write(b"".join(bytes((0x82, len(c))) + c for c in item.data))
            rec.downlink_bytes += sum(map(len, item.data))
            rec.downlink_chunks += len(item.data)
            rec.downlink_chunk_sizes.extend(map(len, item.data))
        elif item.kind == "event":
            event, record = item.data
            await self.ws.send_str(event if isinstance(event, str) else json.dumps(event))
            rec.events_sent.append({"at": rec.since_connect(), "event": record})
        else:
            await self.ws.send_str(item.data)
            rec.fault_frames_sent.append({"at": rec.since_connect(), "raw": item.data})

    async def _close(self, code: int) -> None:
        """Vapi's close once the call is over. 1006 drops the TCP connection, once what was
        sent has left for the kernel (aborted over unwritten audio, the end of a goodbye sent
        whole never left, whatever the client did). Otherwise a
        Close frame goes out (1005: one without a status code) and the connection is
        closed as RFC 6455 §7.1.1 has a server do it, once the client's Close has come
        back (the session's read loop sees it), or after `CLOSE_WAIT_S` without one.
        (aiohttp's own `close()`, called beside a pending `receive()`, closed the TCP
        connection at once: the client's next uplink frames drew a reset, then a failed send,
        on which its transport closed with what its kernel still held unread, the end of
        a goodbye sent whole, on a loaded machine.)"""
        if code == 1006:
            await self._flushed()
            self.abort(1006)
            return
        self.rec.close_code = code
        await self._send_close(b"" if code == 1005 else struct.pack("!H", code))
        asyncio.get_running_loop().call_later(CLOSE_WAIT_S, self._drop_unanswered)

    async def _flushed(self) -> None:
        """Until what was sent has left the process (the kernel holds it, or the client
        has it), `CLOSE_WAIT_S` at most: a server aborts after its writes, not over them."""
        transport = self.request.transport
        deadline = time.monotonic() + CLOSE_WAIT_S
        while transport is not None and transport.get_write_buffer_size() \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def _send_close(self, payload: bytes) -> None:
        """A Close frame, and nothing else (aiohttp's `close()` also closes TCP at once)."""
        send = getattr(self.ws, "send_frame", None)  # aiohttp 3.11 on
        if send is not None:
            await send(payload, WSMsgType.CLOSE)
            return
        writer = self.ws._writer  # older aiohttp (the dependency floor, 3.9): its writer's
        assert writer is not None
        await writer._send_frame(payload, WSMsgType.CLOSE)

    def _drop_unanswered(self) -> None:
        transport = self.request.transport
        if transport is not None and not transport.is_closing():
            log.info("call %s: no Close came back within %.0f s: dropping the connection",
                     self.rec.id, CLOSE_WAIT_S)
            transport.abort()
