"""The two interfaces the call talks to: an audio source and an audio sink.

Devices, WAV files and the null device implement both, so the call never knows which it
has. Samples are always int16 mono numpy arrays at the backend's own `sample_rate`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from bridge.audio.playout import PlayoutStats
from bridge.audio.ring import SampleRing


@dataclass
class DeviceStats:
    input_overflows: int = 0
    output_underflows: int = 0
    reopens: int = 0  # reopens that succeeded
    reopen_attempts: int = 0
    notes: list[str] = field(default_factory=list)


class AudioSource(Protocol):
    sample_rate: int

    def start(self) -> None: ...

    def read(self, due: int) -> np.ndarray:
        """Return captured samples. `due` is what real time owes since the last call;
        a clocked device returns what it actually captured instead."""
        ...

    def close(self) -> None: ...

    @property
    def level_db(self) -> float: ...


class AudioSink(Protocol):
    """Where the assistant's audio goes (LiveKit's AudioOutput contract, trimmed)."""

    sample_rate: int

    def start(self) -> None: ...

    def capture_frame(self, samples: np.ndarray) -> None:
        """Queue decoded audio for playout."""
        ...

    def clear_buffer(self) -> None:
        """Barge-in: drop what is queued; the output fades out within one block."""
        ...

    def set_playout_target(self, ms: float, floor_ms: float = 0.0) -> None:
        """From measured jitter: how much audio to hold before (re)starting playback, and
        the least to keep queued while playing."""
        ...

    def close(self) -> None: ...

    def playout_stats(self) -> PlayoutStats: ...

    def add_played_ring(self, seconds: float) -> SampleRing:
        """A ring that receives every block the sink plays (filled by its consumer)."""
        ...

    def remove_played_ring(self, ring: SampleRing) -> None: ...

    @property
    def played_samples(self) -> int: ...


FrameTap = Callable[[np.ndarray], None]


def level_dbfs(samples: np.ndarray) -> float:
    if len(samples) == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20.0 * np.log10(max(rms, 1e-9) / 32768.0)


SILENCE_DBFS = -200.0  # below any real signal: level_dbfs() of digital silence is about -270


def show_dbfs(db: float, silence: str = "silence") -> str:
    """A level for people: `-23 dBFS`, or `silence` (digital zero) rather than -270."""
    return silence if db <= SILENCE_DBFS else f"{db:.0f} dBFS"


def apply_gain(samples: np.ndarray, gain: float) -> np.ndarray:
    if gain == 1.0 or len(samples) == 0:
        return samples
    return np.clip(samples * gain, -32768, 32767).astype(np.int16)
