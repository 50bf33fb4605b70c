"""The playout half of a sink pulled by its own clock (a device callback, a timer task).

The playout ring holds `capacity_ms` (90 s). Audio further ahead than that (a reply of
minutes sent whole, or in bursts faster than real time: nothing documented paces Vapi's
audio, and the call socket takes one frame of 131 s) is held here, on the event loop, and
moved into the ring as it plays: on each write, each `playout_stats`, and every `MOVE_S`
while any is held. Written straight to a full ring, it was lost from the middle of the
reply (a 100 s reply sent at 20x real time: 5 s of speech cut, with a click). At most
`HOLD_MAX_S` is held (57.6 MB at 48 kHz); beyond that, what arrives is lost and counted.
A barge-in or a new stream drops what is held with what is queued.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque

import numpy as np

from bridge.audio.base import Backend
from bridge.audio.playout import PlayoutBuffer, PlayoutStats
from bridge.audio.ring import SampleRing

HOLD_MAX_S = 600.0  # beyond the ring: Vapi's default maxDurationSeconds of audio
MOVE_S = 0.5  # how often held audio is moved in (the ring holds far more than this)


class BufferedSink(Backend):
    """The sink side of the AudioSink contract for a sink that owns a `PlayoutBuffer`
    (`self.buffer`) pulled by its own clock: a device callback or a timer task."""

    buffer: PlayoutBuffer
    _held: deque[np.ndarray] | None = None  # event-loop side, oldest first
    _held_n = 0
    _mover: asyncio.TimerHandle | None = None

    def capture_frame(self, samples: np.ndarray) -> None:
        if self._held_n == 0 and len(samples) <= self.buffer.room:
            self.buffer.write(samples)
            return
        if self._held is None:
            self._held = deque()
        if self._held_n + len(samples) > HOLD_MAX_S * self.buffer.sample_rate:
            self._move_in()
            self.buffer.write(samples)  # a full ring: lost, and counted there
            return
        self._held.append(samples)
        self._held_n += len(samples)
        self._move_in()
        self._keep_moving()

    def _move_in(self) -> None:
        held, room = self._held, self.buffer.room
        while held and room > 0:
            head = held[0]
            if len(head) > room:
                self.buffer.write(head[:room])
                held[0], moved = head[room:], room
            else:
                self.buffer.write(held.popleft())
                moved = len(head)
            self._held_n -= moved
            room -= moved

    def _keep_moving(self) -> None:
        if self._held_n == 0 or self._mover is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: the next write or playout_stats moves it in
            return
        self._mover = loop.call_later(MOVE_S, self._move_later)

    def _move_later(self) -> None:
        self._mover = None
        self._move_in()
        self._keep_moving()

    def _drop_held(self) -> None:
        if self._held:
            self._held.clear()
        self._held_n = 0
        if self._mover is not None:
            self._mover.cancel()
            self._mover = None

    def clear_buffer(self) -> None:
        self._drop_held()
        self.buffer.flush()

    def queued_mark(self) -> int:
        return self.buffer.written + self._held_n

    def clear_before(self, mark: int) -> None:
        excess = mark - self.buffer.written  # of it still held here (oldest first)
        while self._held and excess > 0:
            head = self._held[0]
            cut = min(len(head), excess)
            if cut == len(head):
                self._held.popleft()
            else:
                self._held[0] = head[cut:]
            self._held_n -= cut
            excess -= cut
        self.buffer.flush(mark)

    def set_playout_target(self, ms: float, floor_ms: float = 0.0) -> None:
        self.buffer.set_target_ms(ms, floor_ms)

    def begin_stream(self, start_ms: float, gain: float = 1.0) -> None:
        self._drop_held()
        self.buffer.begin_stream(start_ms, gain)

    def end_stream(self, over: bool = True, *, maybe: bool = False) -> None:
        self.buffer.end_stream(over, maybe=maybe)

    def playout_stats(self) -> PlayoutStats:
        """The playout buffer's counters; its depth counts what is held here too."""
        self._move_in()
        stats = self.buffer.stats()
        if self._held_n:
            held_ms = self._held_n * 1000.0 / self.buffer.sample_rate
            stats = dataclasses.replace(stats, depth_ms=stats.depth_ms + held_ms)
        return stats

    def add_played_ring(self, seconds: float) -> SampleRing:
        return self.buffer.add_played_ring(seconds)

    def remove_played_ring(self, ring: SampleRing) -> None:
        self.buffer.remove_played_ring(ring)

    @property
    def played_samples(self) -> int:
        return self.buffer.played_samples
