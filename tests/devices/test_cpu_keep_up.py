"""A kiosk whose CPU cannot keep up with the call says so, and why, with the fix.

Other load on a kiosk's only free core (or a CPU quota) makes the visitor reach Vapi late
and the assistant's words gap, and the device counters say only what it cost. Here
`vapi-bridge run` is in a call on the rig (its microphone capture-driven: each frame leaves
when PortAudio's callback completes it); once the call streams the test starves it for
`LOAD_S` as such load does: all its threads on one core at nice `NICE`, beside a busy loop
at nice 0 on that core. Its loop thread waited for that core, not busy with its own work:
the journal must say so. About 8 s.

A call on the rig that kept up says nothing of it: tests/devices/test_device_failure.py (two
streams reopened mid-call, their clocks anew).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.devices.conftest import running_bridge, summary_of, wait_streaming, write_profile
from tests.rig.pulse import PulseRig

LOAD_S = 3.0
NICE = 19
WARNING = "the CPU could not keep up"


@contextlib.contextmanager
def starved(pid: int) -> Iterator[None]:
    """Every thread of process `pid` on one core at nice NICE, a busy loop on it beside."""
    cpu = min(os.sched_getaffinity(0))
    tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    before = {t: (os.sched_getaffinity(t), os.getpriority(os.PRIO_PROCESS, t)) for t in tids}

    def on_that_core() -> None:
        os.sched_setaffinity(0, {cpu})
        os.setpriority(os.PRIO_PROCESS, 0, 0)  # (this test's thread may run at -10)

    hog = subprocess.Popen(["sh", "-c", "while :; do :; done"], preexec_fn=on_that_core)
    try:
        for t in tids:
            os.sched_setaffinity(t, {cpu})
            os.setpriority(os.PRIO_PROCESS, t, NICE)
        yield
    finally:
        hog.kill()
        hog.wait()
        for t, (cpus, nice) in before.items():  # (back to -10 needs root: else the core is
            with contextlib.suppress(OSError):  # free again anyway)
                os.sched_setaffinity(t, cpus)
                os.setpriority(os.PRIO_PROCESS, t, nice)


def test_a_starved_call_names_the_cpu_and_why(rig: PulseRig, start_sim: Any,
                                              tmp_path: Path) -> None:
    sim = start_sim("echo")
    profile = write_profile(tmp_path / "cpu-keep-up.yaml", sim.base_url,
                            call={"max_duration_seconds": 30})
    with running_bridge(rig, profile) as bp:
        wait_streaming(sim, bp, frames=25)
        with starved(bp.proc.pid):
            time.sleep(LOAD_S)
        time.sleep(0.5)
        bp.stop()
        assert bp.finish() == 0, bp.err
    line = summary_of(bp.out)["line"]
    print(f"\n{line}")
    assert f"; {WARNING}: the event loop ran up to " in line, line
    warnings = [s for s in bp.err.splitlines() if WARNING in s]
    print("\n".join(warnings))
    assert len(warnings) == 1, bp.err  # once, at the end of the call, with the cause
    assert "ms for a CPU (ran " in warnings[0], warnings
    assert "other load on this machine or a CPU quota" in warnings[0], warnings
    assert "stop the load or lift the quota, or audio.echo: off (lighter than " in \
        warnings[0], warnings
