"""``/<id>/listen``: both legs live as interleaved stereo s16le (16 kHz by default).

Channel 0 (left) = customer (the uplink the client sent), channel 1 (right) = assistant
(the downlink the simulator sent); the ``listen-swap`` fault swaps them. The first frame
is a JSON text frame describing the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import numpy as np
import soxr
from aiohttp import WSMsgType, web

from bridge.sim.context import bearer_ok, ctx_of, dumps, find_call, json_error

log = logging.getLogger("bridge.sim.listen")
MAX_LEFT = 16000 * 2  # at most 2 s of customer audio waiting for the assistant clock


class ListenHub:
    """Resamples both legs to the listen rate and fans stereo frames out to listeners.
    The downlink (continuous while connected) clocks the stream; uplink samples are
    paired with it as they arrive, zeros when none came."""

    def __init__(self, call_rate: int, out_rate: int = 16000, swap: bool = False) -> None:
        self.call_rate, self.out_rate, self.swap = call_rate, out_rate, swap
        self.listeners: set[asyncio.Queue[bytes | None]] = set()
        self._left = np.zeros(0, dtype=np.int16)
        self._up = self._stream()
        self._down = self._stream()
        self.closed = False

    def _stream(self) -> soxr.ResampleStream | None:
        if self.call_rate == self.out_rate:
            return None
        return soxr.ResampleStream(self.call_rate, self.out_rate, 1, dtype="int16", quality="MQ")

    def _resample(self, stream: soxr.ResampleStream | None, x: np.ndarray) -> np.ndarray:
        if stream is None:
            return np.asarray(x, dtype=np.int16)
        return np.asarray(stream.resample_chunk(np.asarray(x, dtype=np.int16)), dtype=np.int16)

    def add(self) -> asyncio.Queue[bytes | None]:
        q: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=500)
        if self.closed:
            q.put_nowait(None)
        self.listeners.add(q)
        return q

    def remove(self, q: asyncio.Queue[bytes | None]) -> None:
        self.listeners.discard(q)

    def push_uplink(self, samples: np.ndarray) -> None:
        up = self._resample(self._up, samples)
        if not self.listeners:
            return
        self._left = np.concatenate([self._left, up])[-MAX_LEFT:]

    def push_downlink(self, samples: np.ndarray) -> None:
        right = self._resample(self._down, samples)
        if not self.listeners or len(right) == 0:
            return
        n = len(right)
        left = np.zeros(n, dtype=np.int16)
        k = min(n, len(self._left))
        left[:k] = self._left[:k]
        self._left = self._left[k:]
        stereo = np.empty(2 * n, dtype="<i2")
        stereo[0::2], stereo[1::2] = (right, left) if self.swap else (left, right)
        data = stereo.tobytes()
        for q in list(self.listeners):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(data)

    def close(self) -> None:
        self.closed = True
        for q in list(self.listeners):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(None)

    def start_frame(self) -> str:
        channels = ["assistant", "customer"] if self.swap else ["customer", "assistant"]
        return dumps({"type": "listen-start", "format": "pcm_s16le", "channels": channels,
                      "sampleRate": self.out_rate, "interleaved": True})


async def listen_handler(request: web.Request) -> web.StreamResponse:
    rec = find_call(request)
    if rec is None or not rec.options.listen_enabled:
        return json_error(404, "Call not found", "Not Found")
    if rec.options.listen_auth and not bearer_ok(request, ctx_of(request).config.public_key):
        return json_error(401, "Unauthorized", "Unauthorized")
    if rec.ended:
        return json_error(410, "Call has ended", "Gone")
    ws = web.WebSocketResponse(compress=False, autoping=True)
    await ws.prepare(request)
    log.info("call %s: listener connected", rec.id)
    hub = rec.listen
    q = hub.add()

    async def drain_client() -> None:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                log.debug("call %s: listener sent %r", rec.id, msg.data[:200])

    reader = asyncio.get_running_loop().create_task(drain_client())
    try:
        await ws.send_str(hub.start_frame())
        while True:
            getter = asyncio.ensure_future(q.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            data = getter.result()
            if data is None:
                break
            await ws.send_bytes(data)
    except (ConnectionError, RuntimeError):
        pass
    finally:
        hub.remove(q)
        with contextlib.suppress(Exception):
            await ws.close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        log.info("call %s: listener closed", rec.id)
    return ws
