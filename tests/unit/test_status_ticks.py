"""The in-call status line (systemd's STATUS=, `systemctl status`) counts every second of
the call even when the daemon's loop runs late: each renewal is timed from the call's
clock, not from the previous renewal. Here every renewal holds the loop 0.3 s (a busy
machine); a 1 s sleep after each would drift 0.3 s a tick and jump a second within four.
The call is a stand-in with the attributes the status line reads."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field

from bridge.call.state import CallState
from bridge.service.progress import call_status

LATE_S = 0.3  # how long each renewal holds the loop
CALL_S = 5.5


@dataclass
class _Stats:
    audible_underruns: int = 0


@dataclass
class _Downlink:
    stats: _Stats = field(default_factory=_Stats)

    def playout_stats(self) -> _Stats:
        return self.stats


@dataclass
class _Vapi:
    status: str | None = "in-progress"


@dataclass
class _Call:
    started: float = field(default_factory=time.monotonic)
    state: CallState = CallState.IN_CALL
    status: str = "in-progress"
    vapi: _Vapi = field(default_factory=_Vapi)
    downlink: _Downlink = field(default_factory=_Downlink)
    stalled_s: float | None = None  # the link carries

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def done(self) -> bool:
        return self.elapsed_s >= CALL_S


def test_the_call_clock_names_every_second_when_the_loop_runs_late() -> None:
    lines: list[str] = []

    def set_state(line: str) -> None:
        lines.append(line)
        time.sleep(LATE_S)  # the loop is busy elsewhere

    asyncio.run(call_status(_Call(), set_state))  # type: ignore[arg-type]
    seconds = [int(m[1]) * 60 + int(m[2]) for line in lines
               if (m := re.match(r"in call (\d\d):(\d\d), 0 audible underruns$", line))]
    assert len(seconds) == len(lines), lines
    assert seconds == list(range(seconds[0], seconds[-1] + 1)), lines
    assert seconds[0] == 0 and seconds[-1] >= 4, lines
