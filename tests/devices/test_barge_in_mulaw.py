"""Barge-in on a µ-law call (8 kHz wire) through real (virtual) devices: the speaker falls
silent as fast as on a pcm_s16le call, and it starts without running dry.

With the speaker opened at the wire's 8 kHz, its 160-frame blocks could run dry as it
started (an "ALSA lib ... underrun occurred" burst, over a hundred output underflows), and
the sound server's resampler up to its own rate held some 30 ms that PortAudio's latency
leaves out and a flush cannot reach: the speaker fell silent 87-99 ms after
`user-interrupted`, 30 ms later than on a pcm_s16le call. The assistant's lines are
steady tones here, so that the cut is found to a millisecond of the recording (a pause in
speech would be taken for it); the profile is the defaults but for the wire format and
the echo control.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.devices.conftest import running_bridge, summary_of, wait_streaming, write_profile
from tests.devices.test_barge_in import BLOCK_MS, FADE_MS, events, hang_up, wait_event
from tests.rig.pulse import PulseRig
from tests.rig.signals import espeak

TONE = {"tone": 440, "ms": 6000}
INTERRUPTIONS = 3


EXCUSE = "Excuse me, where is the elevator"


def interrupt_the_tones(rig: PulseRig, sim: Any, profile: Path, excuse: str
                        ) -> tuple[Any, tuple[np.ndarray, int, float, dict[str, Any]]]:
    """The assistant says "Hello.", the visitor answers as it ends, then talks over each
    tone (`excuse`); the call is hung up a second after the last `user-interrupted`."""
    hello = espeak("Hello, I am here to see Doctor Lee", rig.rate, peak_db=-6.0)
    said = espeak(excuse, rig.rate, peak_db=-6.0)
    rig.start_speaker_recording()
    with running_bridge(rig, profile) as bp:
        wait_streaming(sim, bp, frames=25)
        wait_event(sim, bp, "speech-update", role="assistant", status="stopped")
        rig.play_into_mic(hello, rig.rate)  # a turn, as the "Hello." ends: the first tone
        for turn in range(1, INTERRUPTIONS + 1):
            wait_event(sim, bp, "speech-update", role="assistant", status="started",
                       turn=turn)
            time.sleep(1.5)  # well into the tone
            rig.play_into_mic(said, rig.rate)  # interrupts it; the next tone follows
            rig.wait_mic_idle()
            wait_event(sim, bp, "user-interrupted", n=turn)
        return bp, hang_up(rig, sim, bp, 1.0)


def quiet_from(level_1ms: np.ndarray, at_ms: int) -> int:
    """The millisecond from which the speaker stays quiet (< -50 dBFS) for 300 ms."""
    for i in range(at_ms, len(level_1ms) - 300):
        if np.all(level_1ms[i:i + 300] < -50):
            return i
    raise AssertionError("the speaker never fell silent after the interruption")


@pytest.mark.parametrize("rig", [48000], indirect=True)
def test_mulaw_interruption_silences_the_speaker_within_a_block(
        rig: PulseRig, start_sim: Any, tmp_path: Path) -> None:
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump(["Hello.", *[TONE] * INTERRUPTIONS, "Yes?"]))
    sim = start_sim(f"script:{script}")
    # echo control off: this test times the speaker's cut alone (the gate over steady
    # tones: test_barge_in_tone_gate); the rig has no echo path
    profile = write_profile(tmp_path / "kiosk.yaml", sim.base_url,
                            assistant={"overrides": {}}, wire={"format": "mulaw"},
                            audio={"echo": "off"})
    bp, (recording, rate, start, call) = interrupt_the_tones(rig, sim, profile, EXCUSE)

    summary = summary_of(bp.out)
    assert "(mulaw 8000 Hz)" in bp.err
    # the speaker started without running dry: no burst from the sound library while the
    # call lasted (at 8 kHz: 2-246 lines, up to 260 underflows; closing the streams at exit
    # may log one), at most the lone one a loaded machine can cause at any rate (a CI run
    # beside the other lane: one line as the call started)
    in_call = bp.err.split("SIGTERM: stopping")[0]
    assert in_call.count("underrun occurred") <= 1, in_call
    assert summary["underflows"] <= 1, summary["line"]

    # on the recording's own clock, per millisecond: where each user-interrupted was sent,
    # and from where the speaker stays quiet
    win = rate // 1000
    level = 10 * np.log10(np.mean(recording[:len(recording) // win * win].astype(
        np.float64).reshape(-1, win) ** 2, axis=1) / 32768**2 + 1e-12)
    latency = float(re.search(r"speaker: .* (\d+) ms PortAudio latency", bp.err)[1])
    sent = [call["connectedMonotonic"] + e["at"] for e in events(call, "user-interrupted")]
    assert len(sent) == INTERRUPTIONS
    bridge_ms = []
    for at in sent:
        at_ms = round((at - start) * 1000)
        assert level[at_ms - 100:at_ms].min() > -30, "the tone was playing when interrupted"
        bridge_ms.append(quiet_from(level, at_ms) - at_ms - latency)
    print(f"\nmulaw: speaker silent {[round(b + latency) for b in bridge_ms]} ms after each "
          f"user-interrupted; PortAudio output latency {latency:.0f} ms; the bridge's part "
          f"{[round(b) for b in bridge_ms]} ms; {summary['line']}")
    # the next block's start is anywhere in a block from the event: at best, right after
    # it (the least of three); the fade, the event's trip and the sound server's delay
    # beyond PortAudio's figure (a few ms at 44.1 or 48 kHz; 30 ms from 8 kHz) on top
    assert min(bridge_ms) <= FADE_MS + BLOCK_MS // 2 + 10
    # and none later than the pcm_s16le test's bound: one block + the fade, 15 ms more
    assert max(bridge_ms) <= BLOCK_MS + FADE_MS + 15
