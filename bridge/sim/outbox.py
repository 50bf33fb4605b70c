"""One writer task per call socket: audio, events and the close go out in order."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from bridge.sim.calls import CallRecord

log = logging.getLogger("bridge.sim.outbox")
MAX_QUEUED = 1500  # about a minute of audio chunks


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

    def event(self, event: dict[str, Any], record: dict[str, Any] | None = None) -> None:
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
            await self.ws.send_str(json.dumps(event))
            rec.events_sent.append({"at": rec.since_connect(), "event": record})
        else:
            await self.ws.send_str(item.data)
            rec.fault_frames_sent.append({"at": rec.since_connect(), "raw": item.data})

    async def _close(self, code: int) -> None:
        if code == 1006:
            self.abort(1006)
            return
        if code == 1005:  # a close frame without a status code
            await self.ws.send_frame(b"", WSMsgType.CLOSE)
            self.rec.close_code = 1005
            await asyncio.sleep(0.2)
            if self.request.transport is not None:
                self.request.transport.close()
            return
        self.rec.close_code = code
        await self.ws.close(code=code)
