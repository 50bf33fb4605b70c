"""A scripted capture device for the uplink's tests: what a PortAudio capture callback does
(a block into the ring, a write to the eventfd the uplink waits on), driven by loop timers
instead of a device thread, with audio that names its own sample positions."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

import numpy as np

from bridge.audio.base import Backend

RATE = 16000
FRAME = 320  # samples in 20 ms at RATE


def ramp(start: int, n: int = FRAME) -> np.ndarray:
    """Samples start..start+n of the ramp 1 + i mod 30000: any frame names its position."""
    return (1 + np.arange(start, start + n) % 30000).astype(np.int16)


@dataclass
class EventfdDevice(Backend):
    """A scripted device whose 'capture callback' (a loop timer, as a PortAudio thread
    would write the eventfd) captures one frame of a ramp every 20 ms at a 3 ms phase."""

    sample_rate: int = RATE
    captured: list[float] = field(default_factory=list)
    is_device: bool = True
    _fd: int = -1
    _ring: list[np.ndarray] = field(default_factory=list)

    def frame_wake(self, samples: int) -> int | None:
        if self._fd < 0:
            self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        return self._fd

    def capture(self, k: int) -> None:
        self._ring.append(ramp(k * FRAME))
        self.captured.append(asyncio.get_running_loop().time())
        os.eventfd_write(self._fd, 1)

    def start(self) -> None:
        return None

    def read(self, due: int) -> np.ndarray:
        out = np.concatenate(self._ring) if self._ring else np.zeros(0, np.int16)
        self._ring.clear()
        return out

    @property
    def level_db(self) -> float:
        return 0.0

    def close(self) -> None:
        os.close(self._fd)
