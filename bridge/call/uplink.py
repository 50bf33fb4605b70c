"""The uplink: microphone → gain → echo control → resampler → framer → encoder → one
frame every 20 ms.

A single task paced on absolute deadlines (`bridge.audio.pacing`: scheduling jitter never
accumulates) sends exactly one wire frame per tick, with digital silence whenever the source
has nothing, so Vapi sees an unbroken 20 ms cadence for the whole call. A tick up to 60 ms
late is caught up at once (the frames it delayed follow it); after a longer stall of the
event loop the schedule restarts instead of sending a burst, which would confuse Vapi's
turn detection. Each tick asks the source for what real time owes since the last one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from bridge.audio.base import AudioSource, FrameTap, apply_gain
from bridge.audio.codec import Codec
from bridge.audio.echo import EchoControl
from bridge.audio.framing import Framer
from bridge.audio.pacing import Pacer, Sleep
from bridge.audio.resample import Resampler

log = logging.getLogger("bridge.uplink")

FRAME_MS = 20
MAX_LATE_MS = 3 * FRAME_MS  # a tick later than this: the loop stalled, restart the schedule


@dataclass
class UplinkStats:
    frames_sent: int = 0
    silence_frames: int = 0
    late_ticks: int = 0
    dropped_ms: float = 0.0
    max_lateness_ms: float = 0.0  # how late the worst tick fired after its deadline

    @property
    def sent_seconds(self) -> float:
        return self.frames_sent * FRAME_MS / 1000


class Uplink:
    def __init__(self, source: AudioSource, codec: Codec, wire_rate: int,
                 send: Callable[[bytes], Awaitable[None]], *, gain: float = 1.0,
                 tap: FrameTap | None = None,
                 clock: Callable[[], float] | None = None, sleep: Sleep = asyncio.sleep,
                 echo: EchoControl | None = None,
                 far_end: Callable[[], np.ndarray] | None = None) -> None:
        self.source = source
        self.codec = codec
        self.wire_rate = wire_rate
        self._send = send
        self._gain = gain
        self._tap = tap
        self._pacer = Pacer(FRAME_MS / 1000, MAX_LATE_MS / 1000, clock=clock, sleep=sleep)
        self._echo = echo
        self._far_end = far_end
        self._resampler = Resampler(source.sample_rate, wire_rate)
        self._framer = Framer(wire_rate, FRAME_MS)
        self._silence = np.zeros(self._framer.frame_samples, dtype=np.int16)
        self.muted = False
        self._frames_sent = 0
        self._captured_until = 0.0

    @property
    def stats(self) -> UplinkStats:
        """A snapshot; the framer keeps its own counters, read here, not copied per frame."""
        return UplinkStats(frames_sent=self._frames_sent,
                           silence_frames=self._framer.silence_frames,
                           late_ticks=self._pacer.restarts,
                           dropped_ms=self._framer.dropped_samples * 1000.0 / self.wire_rate,
                           max_lateness_ms=self._pacer.max_lateness * 1000)

    def frame_captured_at(self) -> float:
        """When (time.monotonic()) the start of the latest frame sent was captured: the
        device's capture time of the newest sample read, less what the resampler and the
        framer still hold and the frame itself."""
        held_ms = self._resampler.held_ms + self._framer.buffered_ms + FRAME_MS
        return self._captured_until - held_ms / 1000.0

    def mute(self, muted: bool) -> None:
        """Local microphone mute: the cadence goes on, with silence."""
        self.muted = muted

    async def run(self) -> None:
        dev_rate = self.source.sample_rate
        owed_total = 0  # device samples real time has owed since the schedule (re)started
        self._pacer.start()
        while True:
            tick = await self._pacer.tick()
            if tick.restarted:  # the loop stalled: the missed ticks are skipped, no burst
                owed_total = 0
                continue
            due_total = tick.index * dev_rate * FRAME_MS // 1000
            due, owed_total = due_total - owed_total, due_total
            await self._send(self._next_frame(due))

    def _next_frame(self, due: int) -> bytes:
        captured = apply_gain(self.source.read(due), self._gain)
        stamp = self.source.captured_until  # a device's own capture clock
        self._captured_until = stamp if stamp is not None else time.monotonic()
        if self._echo is not None and self._far_end is not None:
            self._echo.far(self._far_end())
            captured = self._echo.near(captured)
        self._framer.push(self._resampler.process(captured))
        frame = self._framer.pop()
        if self.muted:
            frame = self._silence
        if self._tap is not None:
            self._tap(frame)
        self._frames_sent += 1
        return self.codec.encode(frame)
