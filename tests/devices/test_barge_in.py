"""Barge-in through real (virtual) devices: the visitor talks over a long assistant line,
the simulator sends `user-interrupted`, and the speaker must fall silent within what the
device itself holds (PortAudio's output latency) plus one device block and the fade —
not after the 100–200 ms the playout buffer had queued."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tests.devices.conftest import running_bridge, wait_streaming, write_profile
from tests.rig.pulse import PulseRig
from tests.rig.signals import espeak

BLOCK_MS, FADE_MS = 20, 8
LONG_LINE = ("Welcome to the front desk. While I look up your appointment, let me tell you "
             "about the building: the cafeteria is on the second floor, the library is on "
             "the third floor, and the garden is open until six in the evening.")


def event_time(call: dict[str, Any], kind: str) -> float:
    at = next(e["at"] for e in call["eventsSent"] if e["event"].get("type") == kind)
    return float(call["connectedMonotonic"] + at)


def levels_5ms(x: np.ndarray, rate: int) -> np.ndarray:
    win = rate // 200
    n = len(x) // win
    return 10 * np.log10(np.mean(x[: n * win].astype(np.float64).reshape(n, win) ** 2,
                                 axis=1) / 32768**2 + 1e-12)


def silence_onset(level: np.ndarray, start: float, after: float) -> float:
    """Monotonic time from which the speaker stays quiet (< -50 dBFS) for 600 ms — longer
    than any pause in the line plus the playout depth, so a pause is not taken for it."""
    first = max(0, int((after - start) * 200))
    quiet_run = 120
    for i in range(first, len(level) - quiet_run):
        if np.all(level[i:i + quiet_run] < -50):
            return start + i / 200
    raise AssertionError("the speaker never fell silent after the interruption")


def test_barge_in_silences_the_speaker_within_a_block(rig: PulseRig, start_sim: Any,
                                                      tmp_path: Path) -> None:
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump([{"say": LONG_LINE, "wait": False},
                                      {"say": "Yes?", "wait": True}]))
    sim = start_sim(f"script:{script}")
    profile = write_profile(tmp_path / "kiosk.yaml", sim.base_url,
                            assistant={"overrides": {}},
                            audio={"device_rate": rig.rate, "echo": "off"})
    visitor = espeak("Excuse me, where is the elevator", rig.rate, peak_db=-6.0)
    rig.start_speaker_recording()
    with running_bridge(rig, profile) as bp:
        call = wait_streaming(sim, bp, frames=25)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
                e["event"].get("type") == "speech-update" and e["event"].get("role") ==
                "assistant" for e in sim.calls()[0]["eventsSent"]):
            time.sleep(0.05)
        time.sleep(2.5)  # well into the long line
        rig.play_into_mic(visitor, rig.rate)
        rig.wait_mic_idle()
        time.sleep(1.0)
        bp.stop()
        assert bp.finish() == 0, bp.err
    recording, rate, start = rig.stop_speaker_recording()
    call = sim.calls()[0]
    interrupted = event_time(call, "user-interrupted")
    level = levels_5ms(recording, rate)
    at = int((interrupted - start) * 200)
    assert level[max(0, at - 60):at].max() > -30, "the assistant was speaking when interrupted"
    quiet = silence_onset(level, start, interrupted)
    latency = float(re.search(r"speaker: .* (\d+) ms PortAudio latency", bp.err)[1])
    bridge_ms = (quiet - interrupted) * 1000 - latency
    print(f"\nspeaker silent {(quiet - interrupted) * 1000:.0f} ms after user-interrupted; "
          f"PortAudio output latency {latency:.0f} ms; the bridge's part {bridge_ms:.0f} ms "
          f"(one block + fade = {BLOCK_MS + FADE_MS} ms)")
    assert "visitor interrupted the assistant" in bp.err
    # one block + the fade, and 15 ms for the event's trip and the 5 ms analysis grid
    assert bridge_ms <= BLOCK_MS + FADE_MS + 15
