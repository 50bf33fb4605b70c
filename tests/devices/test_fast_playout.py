"""Faster-than-real-time delivery through real (virtual) devices, with the profile's
defaults: a reply sent at 3x real time or whole at once plays whole on the speaker, and the
call's recording keeps its two legs on one clock, whatever the downlink does.

What the speaker played is the rig's recording of the speaker monitor; what the assistant
said is the simulator's record of its downlink. The recording's alignment is measured with
a known signal: a clip played into the microphone at a known instant (the rig's DAC-time
clock) is found on the left leg, and the speaker's recording (on the same clock) is found on
the right leg; both must put that instant at the same place in the WAV.
"""

from __future__ import annotations

import re
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from bridge.call.recording_legs import SLACK_S
from tests.devices.conftest import (
    require_espeak,
    running_bridge,
    summary_of,
    wait_streaming,
    write_profile,
)
from tests.e2e.replies import LINE, compare, the_reply
from tests.rig.pulse import PulseRig
from tests.rig.retiming import retimed_whole
from tests.rig.signals import align, align_and_correlate, espeak, resample, wav_bytes

WIRES = {"pcm": ("pcm_s16le", 16000), "mulaw": ("mulaw", 8000)}
SPEEDS = {"3x": "3", "whole": "whole"}
GREETING = "Welcome to the front desk. How can I help you today?"


def read_stereo(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return data.reshape(-1, 2), w.getframerate()


def profile_for(tmp_path: Path, sim: Any, rig: PulseRig, fmt: str, rate: int,
                max_s: int = 14, **assistant: Any) -> Path:
    return write_profile(tmp_path / "kiosk.yaml", sim.base_url,
                         assistant=assistant or {"overrides": {}},
                         wire={"format": fmt, "sample_rate": rate},
                         call={"max_duration_seconds": max_s},
                         audio={"device_rate": rig.rate},
                         record={"path": str(tmp_path / "rec" / "{call_id}")})


# both wire formats and both deliveries, in two calls of 11 s (CI's serial stage: the line
# is 8.3 s from the call's first instant, Vapi's limit counts from the socket's connection;
# the calls were 14 s, 3 s of silence each after the line); tests/e2e/test_fast_delivery.py
# plays all four pairings through `file:` devices
@pytest.mark.parametrize(("wire", "speed"), [(WIRES["pcm"], SPEEDS["whole"]),
                                             (WIRES["mulaw"], SPEEDS["3x"])],
                         ids=["pcm-whole", "mulaw-3x"])
def test_a_fast_reply_plays_whole_on_the_speaker(rig: PulseRig, start_sim: Any, tmp_path: Path,
                                                 wire: tuple[str, int], speed: str) -> None:
    require_espeak()
    fmt, rate = wire
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump([{"say": LINE, "wait": False},
                                      {"say": "Yes?", "wait": True}]))
    sim = start_sim(f"script:{script}", "--downlink-speed", speed)
    profile = profile_for(tmp_path, sim, rig, fmt, rate, max_s=11)
    rig.start_speaker_recording()
    with running_bridge(rig, profile) as bp:
        wait_streaming(sim, bp)
        code = bp.finish()
    played, played_rate, _ = rig.stop_speaker_recording()
    assert code == 0, bp.err
    summary = summary_of(bp.out)
    call = sim.calls()[0]
    reply = the_reply(wav_bytes(sim.get_bytes(f"/_sim/calls/{call['id']}/downlink.wav")), rate)
    heard = resample(played, played_rate, rate)
    corr, said_s, heard_s = compare(reply, heard, rate)
    lead = call["downlink"]["leadSeconds"]
    print(f"\n{fmt} {speed}: reply {len(reply) / rate:.2f} s sent {lead:.2f} s ahead of real "
          f"time; the speaker played {heard_s:.2f} of {said_s:.2f} s of speech, correlation "
          f"{corr:.3f}\n{summary['line']}")
    assert lead >= 0.5 * len(reply) / rate, "the simulator sent it ahead of real time"
    assert summary["speech_dropped"] == 0, summary["line"]
    assert abs(heard_s - said_s) <= 0.03 * said_s, "every word reached the speaker"
    assert corr >= 0.9, "the reply played as one piece, without a cut or a gap"


@pytest.mark.parametrize("wire", WIRES.values(), ids=WIRES.keys())
def test_recording_legs_stay_aligned_through_bursts_and_stalls(
        rig: PulseRig, start_sim: Any, tmp_path: Path, wire: tuple[str, int]) -> None:
    """The echo assistant replies in one oversized frame (whole at once), the downlink
    stalls 1 s meanwhile; a visitor clip is then played into the microphone and echoed."""
    require_espeak()
    fmt, rate = wire
    sim = start_sim("echo", "--downlink-speed", "whole", "--fault", "one-frame",
                    "--fault", "stall=1000@2")
    profile = profile_for(tmp_path, sim, rig, fmt, rate, id="echo",
                          overrides={"firstMessage": GREETING})
    clip = espeak("Is the cafeteria on the second floor", rig.rate, peak_db=-6.0)
    rig.start_speaker_recording()
    with running_bridge(rig, profile) as bp:
        wait_streaming(sim, bp, frames=250)  # past the first message and the stall
        t_mic = rig.play_into_mic(clip, rig.rate)
        rig.wait_mic_idle()
        code = bp.finish()
    played, played_rate, t_speaker = rig.stop_speaker_recording()
    assert code == 0, bp.err
    summary = summary_of(bp.out)
    call = sim.calls()[0]
    stereo, rec_rate = read_stereo(tmp_path / "rec" / f"{call['id']}.wav")
    assert rec_rate == rate
    left = stereo[:, 0]
    right = stereo[:, 1].astype(np.float64)
    # the clip on the left: where the microphone heard it
    at_left = align(resample(clip, rig.rate, rate), left) / rate
    # the right leg within the speaker's recording: the WAV position of any speaker instant
    speaker = resample(played, played_rate, rate).astype(np.float64)
    # followed piece by piece: a speaker that runs short on a loaded machine plays silence
    # the daemon never wrote, and the recorder fills such a gap only past SLACK_S (shorter
    # ones leave the rest of the leg that much early), so one lag for the whole leg scored
    # a few ms of it as a correlation of 0.5 (8 of 54 runs under load)
    retimed = retimed_whole(right, speaker, rate)
    # the offset where it matters: from the clip's instant on (its echo)
    start = int(at_left * rate)
    lag, corr = align_and_correlate(right[start:], speaker, rate)
    at_right = t_mic - (t_speaker + lag - start / rate)
    error_ms = (at_left - at_right) * 1000
    moved_ms = max((abs(ms) for _, ms in retimed.changes), default=0.0)
    call_s = call["endedMonotonic"] - call["connectedMonotonic"]
    print(f"\n{fmt}: the clip is at {at_left:.3f} s on the left, its instant at "
          f"{at_right:.3f} s on the right (error {error_ms:+.1f} ms); right leg vs speaker "
          f"from there: correlation {corr:.3f}; whole leg: {retimed}; WAV "
          f"{len(stereo) / rate:.2f} s, call {call_s:.2f} s\n"
          f"{summary['line']}\n" + "\n".join(x for x in bp.err.splitlines() if "recording" in x))
    assert not retimed.problems, f"the right leg is what the speaker played: {retimed}"
    assert moved_ms <= SLACK_S * 1000 + 10, "re-timed only by gaps too short to fill"
    # a device that ran short (an underflow, a gap the leg shows, time the recorder filled
    # from one jittery stamp) moves a leg up to SLACK_S before it is filled: 34–48 ms seen
    # in 4 of 54 runs under load, against 20 ms at most undisturbed (README)
    disturbed = bool(summary["underflows"] or summary["overflows"] or retimed.changes
                     or " leg lost " in bp.err)
    bound_ms = SLACK_S * 1000 + 10 if disturbed else 20
    assert abs(error_ms) <= bound_ms, f"the two legs are on one clock ({bound_ms:g} ms)"
    # the WAV: the call, and the queue the speaker played out after it (here the steady
    # depth and the device's own latency: the echo was sent long before the end)
    tail = re.search(r"recording finished: .* \(\d+\.\d s, (\d+\.\d+) s of it played out", bp.err)
    assert tail and float(tail[1]) < 1.0, bp.err  # at most play_out's slack past the queue
    assert abs(len(stereo) / rate - float(tail[1]) - call_s) < 0.5, \
        "the recording lasts as long as the call"
    assert summary["speech_dropped"] == 0, summary["line"]
    # the time lost it sums up is the time lost it logged, leg by leg: the legs' placement
    # before their offset settles (a device's first stamps) is not lost audio
    lost = re.search(r"time lost and filled with silence: sent (\d+) ms, speaker (\d+) ms",
                     bp.err)
    assert lost, bp.err
    for leg, total in (("sent", int(lost[1])), ("speaker", int(lost[2]))):
        lines = re.findall(rf"recording: the {leg} leg lost (\d+) ms at", bp.err)
        logged = sum(int(ms) for ms in lines)
        assert abs(total - logged) <= 1 + len(lines) / 2, (leg, total, logged, bp.err)
