"""The playout buffer's settings, counters and overlay (`bridge.audio.playout`)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class PlayoutSettings:
    start_ms: float = 60.0
    max_ms: float = 200.0
    fade_ms: float = 8.0
    capacity_ms: float = 90_000.0  # a long reply delivered at once fits


@dataclass
class PlayoutStats:
    underruns: int = 0
    audible_underruns: int = 0  # the audio that ran dry was not near-silence
    silence_dropped_ms: float = 0.0  # near-silence skipped to keep the delay bound
    speech_dropped_ms: float = 0.0  # audio with speech in it lost (only to a full ring)
    stretched_ms: float = 0.0
    overflow_ms: float = 0.0  # lost to a full ring (counted in the two above as well)
    flushes: int = 0
    flushed_ms: float = 0.0
    played_ms: float = 0.0
    depth_ms: float = 0.0

    @property
    def dropped_ms(self) -> float:
        return self.silence_dropped_ms + self.speech_dropped_ms

    def since(self, base: PlayoutStats) -> PlayoutStats:
        """What was counted after `base` was read (a call's share of a sink that outlives
        calls); the depth is this reading's."""
        return PlayoutStats(**{f.name: getattr(self, f.name) - getattr(base, f.name)
                               for f in fields(self) if f.name != "depth_ms"},
                            depth_ms=self.depth_ms)


class Overlay(Protocol):
    def mix_into(self, out: np.ndarray) -> None:
        """Add to a block just filled (the audio callback: never blocks or allocates)."""
        ...

    @property
    def busy(self) -> bool:
        """Something is still to be mixed in (the speaker is not silent)."""
        ...

    @property
    def sounded_at(self) -> float:
        """When (time.monotonic()) a block last had something mixed in; 0.0 never."""
        ...
