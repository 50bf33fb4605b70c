"""A scripted capture device for the uplink's tests: what a PortAudio capture callback does
(a block into the ring, a write to the eventfd the uplink waits on), driven by loop timers
instead of a device thread, with audio that names its own sample positions; and the loop
to run them on (`run_virtual`), whose clock is the script's, so a loaded machine stalling
the test's process cannot make a capture late."""

from __future__ import annotations

import asyncio
import os
import selectors
from collections.abc import Coroutine
from dataclasses import dataclass, field

import numpy as np

from bridge.audio.base import Backend

RATE = 16000
FRAME = 320  # samples in 20 ms at RATE


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a virtual clock: time moves only when the loop has nothing to do,
    straight to its next timer, however long its callbacks take on the CPU. A scripted
    capture due at t runs at t, exactly, on a loaded machine too, and everything timed on
    the loop (the uplink's grace, its clock) sees the script's time. Its file descriptors
    are polled without waiting: each one here (the device's eventfd) is written by the
    loop's own callbacks, never by another thread."""

    def __init__(self, start: float = 1000.0) -> None:
        super().__init__(_IdleJumps(self))
        self._now = start

    def time(self) -> float:
        return self._now


class _IdleJumps(selectors.DefaultSelector):
    """The loop's selector: where the loop would sleep until its next timer, the virtual
    clock jumps there instead."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready:
            return ready
        if timeout is None:  # no timer at all: nothing could ever wake it but an fd
            return super().select(None)
        self._loop._now += max(0.0, timeout)
        return []


def run_virtual(main: Coroutine[None, None, None]) -> None:
    """`asyncio.run(main)` on a `VirtualTimeLoop`."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        runner.run(main)


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
