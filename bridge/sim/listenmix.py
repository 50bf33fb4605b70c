"""Mixing both legs of a call into the listen stream: interleaved stereo s16le.

The downlink (continuous while connected) is the clock. Uplink samples are placed on that
clock by position (the first uplink frame is taken to end "now"), so uplink jitter leaves
holes instead of shifting the customer channel. Output lags the downlink by up to
``DELAY_S`` so that uplink frames arriving a little late still land in place.
"""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
import soxr

DELAY_S = 0.2
MAX_AHEAD_S = 2.0


class ListenHub:
    def __init__(self, call_rate: int, out_rate: int = 16000, swap: bool = False) -> None:
        self.call_rate, self.out_rate, self.swap = call_rate, out_rate, swap
        self.listeners: set[asyncio.Queue[bytes | None]] = set()
        self._up = self._stream()
        self._down = self._stream()
        self._right = np.zeros(0, dtype=np.int16)  # downlink not yet emitted
        self._left = np.zeros(0, dtype=np.int16)  # uplink from position _left_pos on
        self._left_pos: int | None = None
        self.emitted = 0  # stereo frames emitted so far
        self.delay = int(out_rate * DELAY_S)
        self.closed = False

    def _stream(self) -> soxr.ResampleStream | None:
        if self.call_rate == self.out_rate:
            return None
        return soxr.ResampleStream(self.call_rate, self.out_rate, 1, dtype="int16", quality="MQ")

    @staticmethod
    def _resample(stream: soxr.ResampleStream | None, x: np.ndarray) -> np.ndarray:
        if stream is None:
            return np.asarray(x, dtype=np.int16)
        return np.asarray(stream.resample_chunk(np.asarray(x, dtype=np.int16)), dtype=np.int16)

    def add(self) -> asyncio.Queue[bytes | None]:
        q: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1000)
        if self.closed:
            q.put_nowait(None)
        self.listeners.add(q)
        return q

    def remove(self, q: asyncio.Queue[bytes | None]) -> None:
        self.listeners.discard(q)

    def push_uplink(self, samples: np.ndarray) -> None:
        up = self._resample(self._up, samples)
        if self._left_pos is None:
            self._left_pos = max(0, self.emitted + len(self._right) - len(up))
        self._left = np.concatenate([self._left, up])
        ahead = self._left_pos + len(self._left) - (self.emitted + len(self._right))
        excess = ahead - int(self.out_rate * MAX_AHEAD_S)
        if excess > 0:  # the client runs fast: drop the oldest uplink audio
            self._left, self._left_pos = self._left[excess:], self._left_pos + excess

    def push_downlink(self, samples: np.ndarray) -> None:
        self._right = np.concatenate([self._right, self._resample(self._down, samples)])
        left_end = self.emitted if self._left_pos is None else self._left_pos + len(self._left)
        n = max(len(self._right) - self.delay, min(len(self._right), left_end - self.emitted))
        if n > 0:
            self._emit(n)

    def _emit(self, n: int) -> None:
        right, self._right = self._right[:n], self._right[n:]
        left = np.zeros(n, dtype=np.int16)
        if self._left_pos is not None:
            a = max(self._left_pos, self.emitted)
            b = min(self._left_pos + len(self._left), self.emitted + n)
            if b > a:
                left[a - self.emitted : b - self.emitted] = self._left[
                    a - self._left_pos : b - self._left_pos
                ]
            cut = max(0, self.emitted + n - self._left_pos)
            self._left, self._left_pos = self._left[cut:], self._left_pos + cut
        self.emitted += n
        if not self.listeners:
            return
        stereo = np.empty(2 * n, dtype="<i2")
        stereo[0::2], stereo[1::2] = (right, left) if self.swap else (left, right)
        data = stereo.tobytes()
        for q in list(self.listeners):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(data)

    def close(self) -> None:
        if self.closed:
            return
        if len(self._right):
            self._emit(len(self._right))
        self.closed = True
        for q in list(self.listeners):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(None)

    def start_frame(self) -> dict[str, object]:
        """The text frame the stream begins with, shaped like Vapi's (``channels`` a
        number; which party is on which channel is not said)."""
        return {
            "type": "start",
            "encoding": "linear16",
            "container": "raw",
            "sampleRate": self.out_rate,
            "channels": 2,
        }
