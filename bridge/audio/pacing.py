"""Absolute-deadline pacing: one tick every `period`, tick k due at `start + k·period`.

Each deadline is counted from the start, never from the tick before, so the scheduling
jitter of one tick never moves the next: no drift over a long call. A tick that fires late
is followed at once by the ticks it made late until the schedule is caught up (nothing is
skipped); when the event loop stalled for more than `max_late`, the schedule restarts from
now instead, so the missed ticks do not come out as a burst (faster-than-real-time audio on
the uplink; a clocked sink draining its playout buffer all at once).

The clock and the sleep are injected (the event loop's by default), so pacing can be
tested on a simulated clock without sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]


@dataclass(frozen=True)
class Tick:
    index: int  # ticks since the schedule (re)started: 1, 2, …; 0 when this one restarted it
    lateness: float  # seconds after its deadline the tick fired
    deadline: float  # when it was due, on the pacer's clock (the loop's: monotonic)

    @property
    def restarted(self) -> bool:
        """The loop had stalled past `max_late`: the schedule starts again from this tick."""
        return self.index == 0


class Pacer:
    def __init__(self, period: float, max_late: float, *, clock: Clock | None = None,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.period = period
        self.max_late = max_late
        self._clock = clock
        self._sleep = sleep
        self._t0: float | None = None
        self._k = 0
        self.restarts = 0  # stalls past `max_late`
        self.max_lateness = 0.0  # seconds: the worst tick's lateness

    def now(self) -> float:
        if self._clock is None:
            self._clock = asyncio.get_running_loop().time
        return self._clock()

    def start(self) -> None:
        """Count deadlines from now (the first `tick()` does this when not called)."""
        self._t0, self._k = self.now(), 0

    async def tick(self) -> Tick:
        """Wait for the next deadline; see `Tick` for what came of it."""
        if self._t0 is None:
            self.start()
        assert self._t0 is not None
        self._k += 1
        deadline = self._t0 + self._k * self.period
        delay = deadline - self.now()
        if delay > 0:
            await self._sleep(delay)
        lateness = self.now() - deadline
        self.max_lateness = max(self.max_lateness, lateness)
        if lateness > self.max_late:
            self.restarts += 1
            self.start()
        return Tick(self._k, lateness, deadline)


class FrameGate:
    """When a capture-driven frame may leave (a device that says when it completed one).

    A frame leaves as soon as the capture completes it, provided the last one left at least
    `period - early` ago (a burst of device blocks goes out at most 2× real time, never all
    at once). When no frame is complete `period + grace` after the last one (the device
    stalled or is late), silence leaves instead, and then every `period` on absolute
    deadlines until the capture is back: Vapi's cadence never stops. The schedule follows
    the capture (each captured frame re-anchors it), so a device clock a little off the
    monotonic clock never piles up delay. A loop stalled past `max_late` restarts it.
    """

    def __init__(self, period: float, *, early: float, grace: float, max_late: float) -> None:
        self.period, self.early, self.grace, self.max_late = period, early, grace, max_late
        self._last: float | None = None
        self.restarts = 0
        self.max_lateness = 0.0  # seconds a frame left after its stall deadline, worst case

    def start(self, now: float) -> None:
        """The first frame may leave at once."""
        self._last = now - self.period

    def wait(self, now: float, ready: bool) -> float:
        """Seconds to wait before the next frame may (`ready`) or must (silence) leave;
        0 or less: send now."""
        assert self._last is not None
        due = self._last + self.period
        return due - self.early - now if ready else due + self.grace - now

    def sent(self, now: float, ready: bool) -> None:
        """A frame left at `now`: a captured one (`ready`) or silence on the stall deadline."""
        assert self._last is not None
        deadline = self._last + self.period + self.grace
        if ready:
            self._last = now
            return
        late = now - deadline
        self.max_lateness = max(self.max_lateness, late)
        if late > self.max_late:
            self.restarts += 1
            self._last = now
        else:
            self._last = deadline - self.grace  # silence keeps an absolute 20 ms cadence
