"""Issue 4's acceptance: speech through real, clocked PortAudio devices and a real call.

espeak-ng speech is played into the virtual microphone; `vapi-bridge run` (a child process)
streams it to the simulator's echo assistant, which plays it back; the bridge plays that on
the virtual speaker, whose monitor the harness records. The speech must come back whole
(the speech band-limited by the wire rate, followed piece by piece: the playout may hold
back a quiet block in a pause, never lose, repeat or reorder speech; tests/rig/retiming.py),
at the same level, with no audible underrun and no PortAudio underflow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.devices.conftest import (
    require_espeak,
    running_bridge,
    summary_of,
    wait_streaming,
    write_profile,
)
from tests.rig.pulse import PulseRig
from tests.rig.retiming import retimed_whole
from tests.rig.signals import espeak, overlap, resample, rms_db

LINE = "I have an appointment at two o'clock with Doctor Lee"


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    require_espeak()
    return espeak(LINE, 16000)


# Four pairings of card and wire: no resampling (a 16 kHz card, pcm), both wire formats on a
# 48 kHz card, and µ-law on 44.1 kHz, a card with no integer ratio to the wire (the
# resampler goes through 48 kHz). Each call plays about 17 s in real time in CI's serial
# stage. Of the two left out, µ-law on a 16 kHz card is played through `file:` devices by
# tests/e2e/test_call_path.py, and pcm on 44.1 kHz is a resampler route tests/unit/
# test_resample.py measures (delay, passband, aliases) like the others.
@pytest.mark.parametrize(("rig", "wire", "wire_rate"), [
    (16000, "pcm_s16le", 16000), (48000, "pcm_s16le", 16000), (48000, "mulaw", 8000),
    (44100, "mulaw", 8000)], indirect=["rig"])
def test_speech_comes_back_through_the_devices(rig: PulseRig, start_sim, tmp_path: Path,
                                               speech: np.ndarray, wire: str,
                                               wire_rate: int) -> None:
    sim = start_sim("echo")
    profile = write_profile(tmp_path / "kiosk.yaml", sim.base_url,
                            wire={"format": wire, "sample_rate": wire_rate},
                            call={"max_duration_seconds": 10},
                            audio={"input": rig.mic_device, "output": rig.speaker_device,
                                   "device_rate": rig.rate})
    xruns_before = dict(rig.harness_xruns)
    rig.start_speaker_recording()
    with running_bridge(rig, profile) as bp:
        wait_streaming(sim, bp)
        t_in = rig.play_into_mic(speech, 16000)
        rig.wait_mic_idle()
        code = bp.finish()
    played, rate, t0 = rig.stop_speaker_recording()
    assert code == 0, bp.err
    assert f"microphone: vb_mic at {rig.rate} Hz" in bp.err
    assert f"speaker: vb_speaker at {rig.rate} Hz" in bp.err
    summary = summary_of(bp.out)
    assert summary["reason"] == "exceeded-max-duration", summary["line"]

    # what the echo can return: the speech band-limited by the wire rate
    reference = resample(resample(speech, 16000, wire_rate), wire_rate, rate)
    echo = retimed_whole(reference, played, rate)
    ref_part, rec_part = overlap(reference, played, round(echo.start_s * rate))
    level = rms_db(rec_part) - rms_db(ref_part)
    back_after = t0 + echo.start_s - t_in
    harness = {k: v - xruns_before.get(k, 0) for k, v in rig.harness_xruns.items()}
    print(f"\n{wire} {wire_rate} Hz, devices {rig.rate} Hz: echo {echo}; level "
          f"{level:+.2f} dB, echo began {back_after:.2f} s after the speech did; "
          f"rig {harness}; {summary['line']}")
    glitch = f" (the rig's own xruns meanwhile: {harness})"
    assert not echo.problems, f"{echo}{glitch}"
    assert abs(level) <= 3.0, f"level {level:+.2f} dB{glitch}"
    assert back_after > len(speech) / 16000, "the echo comes after the visitor spoke"
    assert summary["audible"] == 0, summary["line"]
    assert summary["underflows"] == 0, summary["line"]
    assert summary["reopens"] == 0, summary["line"]
