"""Recordings: a stereo WAV at the wire rate (left = what we sent, right = what the
speaker played, on one clock) and a transcript JSONL — valid however the call ends."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.e2e.conftest import ProfileBuilder, SimHandle, bridge_cmd, bridge_env, run_bridge
from tests.rig.signals import align_and_correlate, espeak, read_stereo, wav_bytes, write_wav

ROOT = Path(__file__).resolve().parents[2]


def echo_call_recorded(start_sim, profiles: ProfileBuilder, tmp_path: Path,
                       name: str) -> tuple[SimHandle, Path, Path]:
    """The echo assistant, a visitor's line from a WAV, a `file:` speaker and a recording
    named by `name`: (the simulator, the profile, the speaker's WAV)."""
    sim = start_sim(assistant="echo")
    visitor = tmp_path / "visitor.wav"
    write_wav(visitor, espeak("Is the cafeteria on the second floor", 16000), 16000)
    speaker = tmp_path / "speaker.wav"
    profile = profiles.write(sim.base_url, call={"max_duration_seconds": 10},
                             audio={"input": f"file:{visitor}", "output": f"file:{speaker}"},
                             record={"path": str(tmp_path / "rec" / name)})
    return sim, profile, speaker


def test_recording_holds_both_legs_aligned_and_the_transcript(
        start_sim, profiles: ProfileBuilder, tmp_path: Path) -> None:
    sim, profile, speaker = echo_call_recorded(start_sim, profiles, tmp_path,
                                               "{profile}-{call_id}")
    result = run_bridge("run", "--profile", str(profile))
    assert result.returncode == 0, result.stderr
    call = sim.only_call()
    wav = tmp_path / "rec" / f"kiosk-{call['id']}.wav"
    stereo, rate = read_stereo(wav)
    assert rate == 16000 and stereo.shape[1] == 2
    sent = wav_bytes(sim.get_bytes(f"/_sim/calls/{call['id']}/uplink.wav"))
    heard = wav_bytes(sim.get_bytes(f"/_sim/calls/{call['id']}/downlink.wav"))
    lag_l, corr_l = align_and_correlate(sent[: 16000 * 8], stereo[:, 0], rate)
    lag_r, corr_r = align_and_correlate(heard[: 16000 * 8], stereo[:, 1], rate)
    played = wav_bytes(speaker.read_bytes())
    _, corr_p = align_and_correlate(stereo[:, 1], played, rate)
    print(f"\nleft {corr_l:.3f} at {lag_l * 1000:.0f} ms, right {corr_r:.3f} at "
          f"{lag_r * 1000:.0f} ms; right vs the speaker {corr_p:.4f}")
    assert corr_l > 0.99, "left is exactly what the simulator received"
    assert corr_r > 0.9, "right is what the assistant sent"
    assert corr_p > 0.999, "right is what the speaker played, as one piece"
    assert 0 <= lag_r - lag_l < 0.5, "the reply plays after it was sent, by the playout delay"
    *entries, end = [json.loads(x) for x in wav.with_suffix(".jsonl").read_text().splitlines()]
    lines = [x for x in entries if "role" in x]  # what was said; and one line per turn heard:
    turns = [x for x in entries if "heardGapMs" in x]
    assert len(lines) + len(turns) == len(entries), "every line is a transcript line or a turn"
    assert [x["role"] for x in lines][:2] == ["user", "assistant"]
    assert all({"t", "time", "role", "text"} <= set(x) for x in lines)
    assert turns and all(0 < x["heardGapMs"] < 5000 for x in turns), turns
    assert end["ended"]["callId"] == call["id"], "the last line: the call's full id, once over"


def test_recording_of_a_call_ended_by_sigterm_is_valid(start_sim, profiles: ProfileBuilder,
                                                        tmp_path: Path) -> None:
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url,
                             record={"path": str(tmp_path / "{call_id}")})
    proc = subprocess.Popen(bridge_cmd("run", "--profile", str(profile)), cwd=ROOT,
                            env=bridge_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        sim.wait_streaming(100)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    stereo, rate = read_stereo(tmp_path / f"{sim.only_call()['id']}.wav")
    assert stereo.shape[1] == 2 and len(stereo) > rate, "both channels, over a second of call"


def test_a_busy_machine_leaves_no_gaps_in_the_recording(start_sim, profiles: ProfileBuilder,
                                                        tmp_path: Path) -> None:
    """The bridge is paused for 30 ms now and then (a loaded kiosk: the scheduler runs
    something else). Its timers fire late and catch up, nothing is lost, so neither leg of
    the recording may get silence the simulator and the speaker never had."""
    sim, profile, speaker = echo_call_recorded(start_sim, profiles, tmp_path, "{call_id}")
    proc = subprocess.Popen(bridge_cmd("run", "--profile", str(profile)), cwd=ROOT,
                            env=bridge_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    pauses: list[float] = []
    try:
        try:
            sim.wait_streaming(25)  # half a second into the call: the legs have settled
        except AssertionError:
            proc.kill()
            raise AssertionError(proc.communicate()[1]) from None
        for _ in range(12):
            t0 = time.monotonic()
            proc.send_signal(signal.SIGSTOP)
            time.sleep(0.03)
            proc.send_signal(signal.SIGCONT)
            pauses.append(time.monotonic() - t0)
            time.sleep(0.3)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
    assert proc.returncode == 0, err
    lost = re.search(r"time lost and filled with silence: sent (\d+) ms, speaker (\d+) ms",
                     err)
    assert lost, err
    # a pause past the uplink's 60 ms restarts its schedule: that time is lost, rightly
    allowed = sum(p for p in pauses if p > 0.055) * 1000
    print(f"\npauses {[round(p * 1000) for p in pauses]} ms; lost: sent {lost[1]} ms, "
          f"speaker {lost[2]} ms")
    assert int(lost[1]) <= allowed and int(lost[2]) <= allowed, (pauses, lost[0])
    call = sim.only_call()
    stereo, rate = read_stereo(tmp_path / "rec" / f"{call['id']}.wav")
    sent = wav_bytes(sim.get_bytes(f"/_sim/calls/{call['id']}/uplink.wav"))
    _, corr_l = align_and_correlate(sent[: rate * 6], stereo[:, 0], rate)
    _, corr_p = align_and_correlate(stereo[:, 1], wav_bytes(speaker.read_bytes()), rate)
    if not allowed:
        assert corr_l > 0.99, "left is exactly what the simulator received"
        assert corr_p > 0.99, "right is what the speaker played, as one piece"
