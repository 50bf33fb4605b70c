"""Barge-in over steady tones with the default echo control (the gate), through real
(virtual) devices, on a µ-law call.

The visitor first answers the assistant's "Hello." with "Hello, …" in the same voice
(espeak-ng on both sides), right as it ends; then talks over each of three tones. There
is no acoustic path, yet the gate once locked the visitor's "Hello" as the echo of the
assistant's (the same word in the same voice, 0.6-0.9 s later: ratio ~0.56), and that
lock, never contradicted by an echo, held the visitor under each tone's level: their
speech never reached the simulator and no tone was interrupted (on the µ-law call each
run; on the pcm_s16le call only when the "Hello" landed within ~300 ms before to ~50 ms
after the assistant's ended, as the playout's timing allows).

Measured on the audio's own clocks: each "Excuse me" must reach what the simulator
received (found there by cross-correlation) within 300 ms of its onset, and each must
interrupt its tone (the speaker falling silent after each `user-interrupted`, on the
speaker recording's clock, is printed; its bound is test_barge_in_mulaw's business).
"""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.devices.conftest import summary_of, write_profile
from tests.devices.test_barge_in import events
from tests.devices.test_barge_in_mulaw import (
    EXCUSE,
    INTERRUPTIONS,
    TONE,
    interrupt_the_tones,
    quiet_from,
)
from tests.rig.pulse import PulseRig
from tests.rig.signals import align, espeak, resample, wav_bytes

WIRE_RATES = {"pcm_s16le": 16000, "mulaw": 8000}
ARRIVAL_MS = 300


def arrivals_ms(up: np.ndarray, said: np.ndarray, rate: int, times: int) -> list[float]:
    """For each of the `times` places `said` lands in `up` (cross-correlation, the best
    first), ms from its onset until a 10 ms frame of its speech arrives within 10 dB."""
    up, ref = up.astype(np.float64), said.astype(np.float64)
    frame, out = rate // 100, []
    for _ in range(times):
        onset = max(0, align(ref, up))
        n = min(len(ref), len(up) - onset) // frame
        v = ref[:n * frame].reshape(n, frame)
        got = up[onset:onset + n * frame].reshape(n, frame)
        power = np.sum(v ** 2, axis=1)
        kept = np.sum(got * v, axis=1) / np.maximum(power, 1.0)
        heard = (power > power.max() * 10 ** (-25 / 10)) & (kept >= 10 ** (-10 / 20))
        out.append((int(np.argmax(heard)) + 1) * 10.0 if heard.any() else float("inf"))
        up[onset:onset + len(ref)] = 0.0  # the next place
    return out


# µ-law only: the pcm_s16le call did not reproduce it on the old code in 3 runs (its
# playout timing rarely lands the "Hello" in the window); the unit test covers the gate
@pytest.mark.parametrize("wire", ["mulaw"])
@pytest.mark.parametrize("rig", [48000], indirect=True)
def test_a_visitor_interrupts_steady_tones_through_the_gate(
        rig: PulseRig, start_sim: Any, tmp_path: Path, wire: str) -> None:
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump(["Hello.", *[TONE] * INTERRUPTIONS, "Yes?"]))
    sim = start_sim(f"script:{script}")
    profile = write_profile(tmp_path / "kiosk.yaml", sim.base_url,
                            assistant={"overrides": {}},
                            wire={"format": wire, "sample_rate": WIRE_RATES[wire]})
    bp, (recording, rate, start, call) = interrupt_the_tones(rig, sim, profile, EXCUSE)
    excuse = espeak(EXCUSE, rig.rate, peak_db=-6.0)

    assert "echo control: gate" in bp.err, "the default echo control is the gate"
    summary = summary_of(bp.out)
    with urllib.request.urlopen(f"{sim.base_url}/_sim/calls/{call['id']}/uplink.wav",
                                timeout=10) as resp:
        up = wav_bytes(resp.read())
    said = resample(excuse[int(np.argmax(np.abs(excuse) > 300)):], rig.rate,
                    WIRE_RATES[wire])
    took = arrivals_ms(up, said, WIRE_RATES[wire], INTERRUPTIONS)

    # on the speaker recording's clock, per millisecond: where each user-interrupted was
    # sent, and from where the speaker stays quiet
    win = rate // 1000
    level = 10 * np.log10(np.mean(recording[:len(recording) // win * win].astype(
        np.float64).reshape(-1, win) ** 2, axis=1) / 32768**2 + 1e-12)
    latency = float(re.search(r"speaker: .* (\d+) ms PortAudio latency", bp.err)[1])
    sent = [round((call["connectedMonotonic"] + e["at"] - start) * 1000)
            for e in events(call, "user-interrupted")]
    silent_ms = [quiet_from(level, at) - at for at in sent]
    print(f"\n{wire}: each 'Excuse me' reached the simulator {took} ms after its onset; "
          f"the speaker silent {silent_ms} ms after each user-interrupted (PortAudio latency "
          f"{latency:.0f} ms); {summary['line']}")
    assert len(sent) == INTERRUPTIONS
    assert max(took) <= ARRIVAL_MS, took
