"""Whether the machine kept up with a call: how late the event loop got to the call's audio,
and why.

Everything a call does on time runs on the event loop: the uplink's frame every 20 ms, the
playout's feed, barge-in. A loop held up (a slow core, other load, a CPU quota) does none of
it: the visitor's words reach Vapi late, the speaker's ring runs dry (gaps in the assistant's
words). The counters that leaves (the devices' underflows, the microphone dropped) say what
it cost, not why.

No wake-up of its own: the uplink hands `LoopLag.note` how late each of its own wake-ups
came, one float per frame. Capture-driven, that is how long before the loop read them the
oldest samples it read were captured (the device's capture clock, which PortAudio's thread
marks anyway): a loop held up 150 ms reads 150 ms more than a frame at once, and a process
starved whole (its callbacks late too) reads audio captured that long ago. On a timer (a file,
the null device) it is the tick's own lateness. The call's lowest delay is its on time (the
device's latency; it may creep up 1 ms a second, so a stream reopened with more latency is
not late for the rest of the call); a run of wake-ups `LATE_MS` or more behind it is one
hold-up, as long as its worst. A frame's send that waited (the socket draining a backlog: a
Wi-Fi link stalled for seconds) makes the wake-ups after it as late: that is the network's,
not counted (`timing`).

The summary says the CPU could not keep up only when that cost the call something: hold-ups
together at least `WARN_MS` and `WARN_SHARE` of the call. Measured on a 2-core VM, the
PulseAudio rig, steady calls of 20-36 s (benchmarks/process_cpu.py): at a load average of 7-13
from other processes, 0-2 hold-ups of 54-110 ms (0.45 % of the call at most), and as little
beside 3 busy loops at the same nice (the call unharmed: no underflow); said in a cgroup at 8 %
of a core (57 hold-ups, 3.9 s, 42 output underflows) and pinned to one core beside a busy loop
at nice 10 (12, 1.0 s, 5 output underflows). The journal then says why, from the loop
thread's own scheduler figures (`/proc/thread-self/schedstat`, read when the audio starts and
at the end: time it ran, time it waited for a core): kept waiting (other load, a quota) or
busy with its own work (a core too slow for the profile's echo control, something blocking
the loop, or a flood of messages from Vapi).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bridge.words import plural

log = logging.getLogger("bridge.call")

LATE_MS = 50  # a wake-up this late: the loop held up past the uplink's 40 ms grace
LATE_S = LATE_MS / 1000
WARN_MS = 300  # hold-ups this long together: not a one-off (a GC, a first call's setup:
# ~170 ms), and a visitor hears it (one long starvation is as bad as many short ones)
WARN_SHARE = 0.01  # ... and this much of the call: the machine's everyday load (0.45 % at
# most, above) says nothing in a long call
CREEP_S = 20e-6  # the on-time delay may rise this much per wake-up (1 ms a second)
SCHEDSTAT = Path("/proc/thread-self/schedstat")


def thread_times() -> tuple[float, float] | None:
    """The calling thread's time on a CPU and time spent waiting for one (ms), or None where
    the kernel does not say (not Linux, or built without schedstats)."""
    try:
        ran, waited = SCHEDSTAT.read_text().split()[:2]
        return int(ran) / 1e6, int(waited) / 1e6
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class LoopLagStats:
    holdups: int = 0  # runs of wake-ups LATE_MS or more late
    late_ms: float = 0.0  # their lateness (each its worst), summed
    max_late_ms: float = 0.0  # the worst hold-up's
    seconds: float = 0.0  # how long the call's audio ran
    ran_ms: float | None = None  # the loop thread's time on a CPU meanwhile
    waited_ms: float | None = None  # ... and waiting for one (runnable, not running)

    @property
    def fell_behind(self) -> bool:
        return self.late_ms >= max(WARN_MS, WARN_SHARE * self.seconds * 1000)

    def words(self) -> str:
        return (f"the CPU could not keep up: the event loop ran up to {self.max_late_ms:.0f} ms "
                f"late {plural(self.holdups, 'time')} ({self.late_ms / 1000:.1f} s in all)")

    def clause(self) -> str:
        """For the summary line: said only when the loop fell behind."""
        return f"; {self.words()}" if self.fell_behind else ""

    def cause(self, echo: str) -> str:
        """Why, and what to do (`echo`: the echo control in use, or off)."""
        lighter = "" if echo == "off" else f", or audio.echo: off (lighter than {echo})"
        slow = "a core too slow for the bridge" if echo == "off" else \
            f"a core too slow for the profile's audio.echo ({echo})"
        if self.waited_ms is None or self.ran_ms is None:
            return f"other load on this machine, or {slow}: free a core{lighter}"
        if self.waited_ms >= self.late_ms / 2:
            return (f"its thread waited {self.waited_ms:.0f} ms for a CPU (ran "
                    f"{self.ran_ms:.0f} ms): other load on this machine or a CPU quota (a "
                    f"cgroup, systemd's CPUQuota=); stop the load or lift the quota{lighter}")
        return (f"its thread was busy (ran {self.ran_ms:.0f} ms, waited {self.waited_ms:.0f} "
                f"ms for a CPU): {slow}, something blocking the loop, or a flood of "
                f"messages from Vapi; a faster core{lighter}")


class LoopLag:
    """One call's event-loop lateness, fed by the uplink (`start`, then `note` per wake-up);
    `report` at its end. `echo`: the profile's `audio.echo` in use ("off": none), named in
    the fix."""

    def __init__(self, echo: str = "off") -> None:
        self.echo = echo
        self.holdups = 0
        self.late_s = self.max_late_s = 0.0
        self._floor = math.inf  # the lowest delay so far: on time
        self._worst = 0.0  # the hold-up under way: its worst lateness so far (0: none)
        self._times: tuple[float, float] | None = None
        self._started: float | None = None
        self._excused = 0.0  # a send that waited this long (`timing`): the network's delay

    def start(self) -> None:
        """The call's audio begins (on the loop's thread: its scheduler figures)."""
        self._times, self._started = thread_times(), time.monotonic()

    def note(self, delay: float) -> None:
        """One wake-up, `delay` seconds after its audio was due (the lowest of the call is
        on time). Per frame: a few float operations, nothing else."""
        self._floor = min(self._floor + CREEP_S, delay)
        late = delay - self._floor
        if late < LATE_S:
            self._excused = 0.0  # caught up
        late -= self._excused
        if late >= LATE_S:
            self._worst = max(self._worst, late)
        elif self._worst:
            self._close()

    def timing(self, send: Callable[[bytes], Awaitable[None]],
               clock: Callable[[], float]) -> Callable[[bytes], Awaitable[None]]:
        """`send`, timed: one that waited (the socket draining a backlog, a link stalled for
        seconds) delays the wake-ups after it by as much, and that is the network's delay,
        not the loop's (a Wi-Fi stall was said as the CPU not keeping up)."""
        async def timed(frame: bytes) -> None:
            start = clock()
            try:
                await send(frame)
            finally:
                if (took := clock() - start) >= LATE_S:
                    self._excused = max(self._excused, took)
        return timed

    def _close(self) -> None:
        self.holdups += 1
        self.late_s += self._worst
        self.max_late_s = max(self.max_late_s, self._worst)
        self._worst = 0.0

    def stats(self, times: tuple[float, float] | None = None) -> LoopLagStats:
        """So far (`ctl status` during the call); `times`: the loop thread's, now."""
        start = self._times
        ran = waited = None
        if start is not None and times is not None:
            ran, waited = times[0] - start[0], times[1] - start[1]
        seconds = time.monotonic() - self._started if self._started is not None else 0.0
        return LoopLagStats(holdups=self.holdups + (self._worst > 0),
                            late_ms=(self.late_s + self._worst) * 1000,
                            max_late_ms=max(self.max_late_s, self._worst) * 1000,
                            seconds=seconds, ran_ms=ran, waited_ms=waited)

    def report(self, label: str) -> LoopLagStats:
        """The call's figures (on the loop's thread); when it fell behind, the journal says
        why, once."""
        stats = self.stats(thread_times())
        if stats.fell_behind:
            log.warning("call %s: %s — %s", label, stats.words(), stats.cause(self.echo))
        return stats
