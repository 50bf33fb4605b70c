"""When the echo gate cannot be sure where the echo is: after a speaker underflow, a
microphone overflow, a late event loop, or a step in the played timeline.

The gate finds the echo by sample counts: the far end's sample heard at microphone sample
`m` is `m + lag`. That holds only while what the speaker played is the far end sample for
sample. A speaker that underflows plays silence the far end never held, so from then on
the echo comes that much later than the lock says (a microphone overflow: earlier), until
the path is found again (~0.2-0.3 s of echo). Meanwhile the echo the lock predicts is the
far end's level at the wrong place — a pause, or a quieter word — and the echo passed at
full level in 20-140 ms bursts (a 2-core machine with both cores busy: 0.08-0.74 s of a
call, 12.8-22.5 dB down overall instead of 30; the assistant's voice reaching Vapi as the
visitor's, an echo loop). The check that the far end at another lag explains the newest
40 ms missed it where the window straddled the step, or two paths shared the echo.

So for a while after such an event (`mark`) the gate expects, on top of the locked path's
echo, the loudest the far end played within `SPAN_MS` each side of the path (or the
step's size, if larger), at the path's echo-return ratio: while the speaker plays it
attenuates unless the microphone is louder than that. It stays so at least `MIN_MS` and
until the path is confirmed again (a lock at the new lag, or the old one holding), at most
`MAX_MS`. The step is seen on the streams' own counts: the far end's count less the
microphone's moves by the samples the speaker never played from the far end (`follow`);
it otherwise moves only by a block or two of scheduling. Underflows, overflows and a late
loop are marked by the caller (`echo.echo_path`). Without such an event nothing changes:
a visitor interrupting an unloaded kiosk is heard as soon as before.
"""

from __future__ import annotations

import logging

import numpy as np

from bridge.audio.echo_history import History

log = logging.getLogger("bridge.echo")

SPAN_MS = 300.0  # the echo may be this far either side of the lock
JUMP_MS = 50.0  # a step in far count less microphone count this large is a discontinuity
MIN_MS, MAX_MS = 250.0, 1500.0  # how long the gate stays unsure after the last event
FOLLOW = 1 / 16  # the offset's reference follows the scheduling's slow drift this fast


class Unsure:
    """Whether, and how widely, the echo's position is in doubt (analysis samples)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._frame = rate // 100
        self._span_min = int(rate * SPAN_MS / 1000)
        self._jump = int(rate * JUMP_MS / 1000)
        self._offset: float | None = None  # far count less microphone count, smoothed
        self._min_until = self._max_until = -1  # microphone counts
        self._locks = 0  # the path's lock count at the last event
        self.span = 0
        self.path: tuple[int, float] | None = None  # the last locked (lag, ratio)
        self.events = 0

    def mark(self, at: int, locks: int, why: str, step: int = 0, late: int = 0) -> None:
        """An event at microphone count `at` (`locks`: the path's lock count then): a step
        of `step` samples in the played timeline, or an unknown one; `late`: samples of
        backlog the event may lie behind."""
        span = max(self._span_min, abs(step) + self._span_min // 2)
        self.span = span if at >= self._max_until else max(self.span, span)
        self._min_until = max(self._min_until, at + late + int(self.rate * MIN_MS / 1000))
        self._max_until = max(self._max_until, at + late + int(self.rate * MAX_MS / 1000))
        self._locks = locks
        self.events += 1
        log.debug("echo gate: unsure where the echo is (%s; step %d ms)", why,
                  1000 * step // self.rate)

    def follow(self, far_count: int, mic_count: int, locks: int) -> None:
        """After each microphone push: a step in far count less microphone count marks."""
        d = far_count - mic_count
        if self._offset is None:
            self._offset = float(d)
            return
        step = d - self._offset
        if abs(step) > self._jump:
            self.mark(mic_count, locks, "a step in the played timeline", int(step))
            self._offset = float(d)
        else:
            self._offset += FOLLOW * step

    def active(self, mic_count: int, locks: int) -> bool:
        if mic_count >= self._max_until:
            return False
        if mic_count >= self._min_until and locks > self._locks:
            self._max_until = -1  # the path confirmed since: sure again
            return False
        return True

    def expected(self, far: History, start: int, n: int) -> float:
        """The echo power to expect over microphone `start` … `start + n`: the loudest
        10 ms the far end played within `span` of the last path, at its ratio."""
        if self.path is None:
            return 0.0
        lag, ratio = self.path
        lo = start + lag - self.span
        f = self._frame
        k = (n + 2 * self.span) // f
        if k <= 0:
            return 0.0
        x = np.square(far.span(lo, lo + k * f), dtype=np.float64)
        return ratio * float(x.reshape(k, f).sum(axis=1).max()) / f
