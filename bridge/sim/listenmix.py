"""Mixing both legs of a call into the listen stream: interleaved stereo s16le.

The downlink (continuous while connected) is the clock. Uplink samples are placed on that
clock by position (the first uplink frame is taken to end "now"), so uplink jitter leaves
holes instead of shifting the customer channel. Output lags the downlink by up to
``DELAY_S`` so that uplink frames arriving a little late still land in place.

An uplink that runs behind real time (a client whose timer restarted after its loop
stalled: each stall's time is never sent) stays in place until it is ``DELAY_S`` behind;
from then on every frame that comes a little late leaves a hole of a few ms, and what
follows moves that much later. The hub keeps where it put each hole (`holes`, in stream
samples) and where each listener joined (`joined`), so a test can take the holes out and
compare what a listener wrote with the uplink sample for sample; and how much it emitted
(`emitted`), so a test can tell a listener that stopped early from one that heard it all.
"""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
import soxr

DELAY_S = 0.2
MAX_AHEAD_S = 2.0
MAX_HOLES = 10_000  # holes kept for the test API; later ones are only counted


class ListenHub:
    def __init__(self, call_rate: int, out_rate: int = 16000, swap: bool = False) -> None:
        self.call_rate, self.out_rate, self.swap = call_rate, out_rate, swap
        self.listeners: set[asyncio.Queue[bytes | None]] = set()
        self._up = self._stream()
        self._down = self._stream()
        self._right = np.zeros(0, dtype=np.int16)  # downlink not yet emitted
        self._left = np.zeros(0, dtype=np.int16)  # uplink from position _left_pos on
        self._left_pos: int | None = None
        self.emitted = 0  # stereo frames emitted so far (none after close)
        # silence put on the customer channel after the uplink began, where it had nothing:
        # [stream position, samples], merged when adjacent; the uplink's audio dropped
        # because it ran too far ahead; each listener's first stream position
        self.holes: list[list[int]] = []
        self.holes_lost = 0
        self.dropped_ahead = 0
        self.joined: list[int] = []
        self._up_start: int | None = None
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
        self.joined.append(self.emitted)
        return q

    def remove(self, q: asyncio.Queue[bytes | None]) -> None:
        self.listeners.discard(q)

    def push_uplink(self, samples: np.ndarray) -> None:
        up = self._resample(self._up, samples)
        if self._left_pos is None:
            self._left_pos = max(0, self.emitted + len(self._right) - len(up))
            self._up_start = self._left_pos
        self._left = np.concatenate([self._left, up])
        ahead = self._left_pos + len(self._left) - (self.emitted + len(self._right))
        excess = ahead - int(self.out_rate * MAX_AHEAD_S)
        if excess > 0:  # the client runs fast: drop the oldest uplink audio
            self._left, self._left_pos = self._left[excess:], self._left_pos + excess
            self.dropped_ahead += excess

    def push_downlink(self, samples: np.ndarray) -> None:
        if self.closed:  # the listeners were told the end: `emitted` is what they were given
            return
        self._right = np.concatenate([self._right, self._resample(self._down, samples)])
        left_end = self.emitted if self._left_pos is None else self._left_pos + len(self._left)
        n = max(len(self._right) - self.delay, min(len(self._right), left_end - self.emitted))
        if n > 0:
            self._emit(n)

    def _emit(self, n: int) -> None:
        right, self._right = self._right[:n], self._right[n:]
        left = np.zeros(n, dtype=np.int16)
        if self._left_pos is not None:
            end = self.emitted + n
            a = max(self._left_pos, self.emitted)
            b = min(self._left_pos + len(self._left), end)
            if b > a:
                left[a - self.emitted : b - self.emitted] = self._left[
                    a - self._left_pos : b - self._left_pos
                ]
                self._hole(self.emitted, a)
                self._hole(b, end)
            else:
                self._hole(self.emitted, end)
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

    def _hole(self, lo: int, hi: int) -> None:
        """Customer positions [lo, hi) left silent by the mix (before the uplink's first
        sample it is not a hole: nothing had been sent yet)."""
        assert self._up_start is not None
        lo = max(lo, self._up_start)
        if hi <= lo:
            return
        if self.holes and self.holes[-1][0] + self.holes[-1][1] == lo:
            self.holes[-1][1] += hi - lo
        elif len(self.holes) < MAX_HOLES:
            self.holes.append([lo, hi - lo])
        else:
            self.holes_lost += 1

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
