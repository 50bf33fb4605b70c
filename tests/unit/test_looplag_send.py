"""A send that waits is the network's delay, not the loop's (`LoopLag.timing`).

The uplink awaits each frame's send; with a backlog (a Wi-Fi link stalled for seconds) the
socket's drain holds it, and the wake-ups after it come that late. That was counted as the
event loop held up: the summary and the journal said the CPU could not keep up, and named
a slow core or other load, on a kiosk whose Wi-Fi had stalled. The real Uplink on a
simulated clock (tests/unit/test_uplink_pacing.py's); a loop held up as long still counts."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_uplink_pacing import SimTime, ramp_source, run_uplink

STALL_S = 1.5


def test_a_send_waiting_for_a_stalled_link_is_not_the_cpu_falling_behind(
        tmp_path: Path) -> None:
    t = SimTime()

    def stall(_uplink: object, n: int) -> None:  # inside the send: the socket draining
        if n == 100:
            t.now += STALL_S

    uplink, _ = run_uplink(ramp_source(tmp_path), 300, t, during=stall)
    stats = uplink.lag.stats()
    assert not stats.fell_behind, stats.words()


def test_a_loop_held_up_as_long_is_still_the_cpu_falling_behind(tmp_path: Path) -> None:
    sleeps = [0]

    def overshoot() -> float:  # the loop's thread elsewhere: its wake-up comes late
        sleeps[0] += 1
        return STALL_S if sleeps[0] == 100 else 0.0

    uplink, _ = run_uplink(ramp_source(tmp_path), 300, SimTime(overshoot=overshoot))
    stats = uplink.lag.stats()
    assert stats.fell_behind and stats.max_late_ms >= STALL_S * 1000 - 1, stats
