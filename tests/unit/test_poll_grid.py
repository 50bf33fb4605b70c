"""A call's pollers (both devices' supervisors and the turns' look at the speaker) share one
grid of the event loop's clock (`bridge.aio.sleep_on_grid`): in a steady call they wake the
loop together, not each on its own timer. Each on its own, they woke it 24 times a second
(two devices at 10 Hz, the turns at 4 Hz), ~14 of them wake-ups of their own besides the
audio's on the rig (benchmarks/process_cpu.py), CPU a kiosk's small core pays all day.

Counted on a real event loop whose selector counts the times it would have blocked (each one
a wake-up); the pollers start at different moments, as a call starts them. The loop's clock
is its own (`VirtualClockLoop`): a select that would block moves it on to the next timer
instead, so the count is exact whatever else the machine is doing (on the wall clock a
loaded machine's late wake-up could skip a grid point), and it takes no real time (was
~1.5 s of sleeping)."""

from __future__ import annotations

import asyncio
import selectors
from dataclasses import dataclass, field

from bridge.audio.base import DeviceStats
from bridge.audio.device_health import POLL_S, StreamSupervisor
from bridge.audio.ring import SampleRing
from bridge.call.turns import Turns

WINDOW_S = 1.0


class CountingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """Counts the selects that may block: the loop had nothing ready and would sleep. It
    never sleeps: the virtual clock `now` moves on by the timeout instead (the time to the
    loop's next timer; nothing here waits on a file)."""

    blocked = 0
    now = 1000.0

    def select(self, timeout: float | None = None) -> list:  # type: ignore[type-arg]
        if timeout is None or timeout > 0:
            self.blocked += 1
            assert timeout is not None, "a loop with no timer would wait for ever"
            self.now += timeout
        return super().select(0)


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop on its selector's virtual clock: timers fire in order, at their
    exact times, with no real time passing."""

    def __init__(self, selector: CountingSelector) -> None:
        super().__init__(selector)
        self.counting = selector

    def time(self) -> float:
        return self.counting.now


@dataclass
class HealthyStream:
    """A device stream whose callbacks keep coming (what the supervisor watches)."""

    role: str = "microphone"
    name: str = "test"
    xrun_name: str = "input overflows"
    stats: DeviceStats = field(default_factory=DeviceStats)
    callbacks: int = 0
    looked: int = 0

    @property
    def xruns(self) -> int:
        return 0

    def problem(self) -> str | None:
        self.looked += 1
        self.callbacks += 1
        return None

    def reopen(self) -> None:
        raise AssertionError("a healthy stream is not reopened")


class Speaker:
    """What `Turns.run` reads of a sink: the played ring (silence here)."""

    sample_rate = 16000

    def add_played_ring(self, seconds: float) -> SampleRing:
        return SampleRing(int(seconds * self.sample_rate), self.sample_rate)

    def remove_played_ring(self, ring: SampleRing) -> None:
        pass


async def pollers_for_a_while(selector: CountingSelector) -> tuple[int, list[int]]:
    streams = [HealthyStream(), HealthyStream(role="speaker")]
    tasks = []
    for stream, after in zip(streams, (0.0, 0.037), strict=True):  # a call starts them apart
        await asyncio.sleep(after)
        tasks.append(asyncio.create_task(StreamSupervisor(stream).run()))
    await asyncio.sleep(0.061)

    class Call:
        async def end(self) -> None:
            raise AssertionError("the visitor is not left: leave_after_s is off")

    turns = Turns(Speaker(), None, None)  # type: ignore[arg-type]
    tasks.append(asyncio.create_task(turns.run(Call())))
    await asyncio.sleep(0.3)  # all of them running
    looked0 = [s.looked for s in streams]
    blocked0 = selector.blocked
    await asyncio.sleep(WINDOW_S)
    wakes = selector.blocked - blocked0 - 1  # (this sleep's own end is one)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return wakes, [s.looked - n for s, n in zip(streams, looked0, strict=True)]


def test_the_pollers_of_a_call_wake_the_loop_together() -> None:
    selector = CountingSelector()
    loop = VirtualClockLoop(selector)
    try:
        wakes, looked = loop.run_until_complete(pollers_for_a_while(selector))
    finally:
        loop.close()
    grid = WINDOW_S / POLL_S
    # each device is still looked at on every grid point (a failure noticed within POLL_S)
    assert all(grid - 2 <= n <= grid + 1 for n in looked), looked
    # ... and the three pollers wake the loop once per grid point, not each on its own
    # (before: 24 a second; the turns look on every other grid point)
    assert wakes <= grid + 2, f"{wakes} loop wake-ups in {WINDOW_S} s for {looked} looks"
