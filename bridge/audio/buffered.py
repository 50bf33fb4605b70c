"""The playout half of a sink pulled by its own clock (a device callback, a timer task)."""

from __future__ import annotations

import numpy as np

from bridge.audio.base import Backend
from bridge.audio.playout import PlayoutBuffer, PlayoutStats
from bridge.audio.ring import SampleRing


class BufferedSink(Backend):
    """The sink side of the AudioSink contract for a sink that owns a `PlayoutBuffer`
    (`self.buffer`) pulled by its own clock: a device callback or a timer task."""

    buffer: PlayoutBuffer

    def capture_frame(self, samples: np.ndarray) -> None:
        self.buffer.write(samples)

    def clear_buffer(self) -> None:
        self.buffer.flush()

    def set_playout_target(self, ms: float, floor_ms: float = 0.0) -> None:
        self.buffer.set_target_ms(ms, floor_ms)

    def begin_stream(self, start_ms: float) -> None:
        self.buffer.begin_stream(start_ms)

    def end_stream(self, over: bool = True) -> None:
        self.buffer.end_stream(over)

    def playout_stats(self) -> PlayoutStats:
        return self.buffer.stats()

    def add_played_ring(self, seconds: float) -> SampleRing:
        return self.buffer.add_played_ring(seconds)

    def remove_played_ring(self, ring: SampleRing) -> None:
        self.buffer.remove_played_ring(ring)

    @property
    def played_samples(self) -> int:
        return self.buffer.played_samples
