"""A reply delivered faster than real time — at 3× or whole at once, in Vapi-sized chunks
or as one oversized frame — plays whole at the speaker (the `file:` output, clocked in real
time like a device), with the profile's defaults and both wire formats, and the call's
recording holds exactly what the speaker played, as long as the call lasted.

What the speaker played is compared with what the simulator's assistant said: the amount
of speech (10 ms blocks above -40 dBFS) and the correlation of the whole reply as one
piece (a gap or a cut anywhere inside it would lower it)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import ROOT, ProfileBuilder, bridge_cmd, bridge_env, run_bridge
from tests.e2e.replies import LINE, compare, the_reply
from tests.rig.signals import align_and_correlate, read_stereo, read_wav, wav_bytes

WIRES = {"pcm": {"format": "pcm_s16le", "sample_rate": 16000},
         "mulaw": {"format": "mulaw", "sample_rate": 8000}}
SPEEDS = {"3x": 3.0, "whole": float("inf")}


REPLY = [{"say": LINE, "wait": False}, {"say": "Yes?", "wait": True}]


def run_call(start_sim: Any, profiles: ProfileBuilder, tmp_path: Path, wire: dict[str, Any],
             speed: float, faults: tuple[str, ...] = (),
             lines: list[dict[str, Any]] = REPLY) -> dict[str, Any]:
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump(lines))
    sim = start_sim(assistant=f"script:{script}", downlink_speed=speed, faults=faults)
    out = tmp_path / "speaker.wav"
    profile = profiles.write(sim.base_url, assistant={"overrides": {}}, wire=wire,
                             call={"max_duration_seconds": 12},
                             audio={"output": f"file:{out}"},
                             record={"path": str(tmp_path / "rec" / "{call_id}")})
    result = run_bridge("run", "--profile", str(profile))
    assert result.returncode == 0, result.stderr
    call = sim.only_call()
    rate = wire["sample_rate"]
    said = wav_bytes(sim.get_bytes(f"/_sim/calls/{call['id']}/downlink.wav"))
    heard, out_rate = read_wav(out)
    assert out_rate == rate
    stereo, rec_rate = read_stereo(tmp_path / "rec" / f"{call['id']}.wav")
    assert rec_rate == rate
    m = re.search(r"dropped (\d+) ms of speech and (\d+) ms of silence", result.stdout)
    assert m, result.stdout
    return {"reply": the_reply(said, rate), "heard": heard, "rate": rate, "call": call,
            "stereo": stereo, "speech_dropped": int(m[1]), "stdout": result.stdout,
            "lead": call["downlink"]["leadSeconds"]}


@pytest.mark.parametrize("speed", SPEEDS.values(), ids=SPEEDS.keys())
@pytest.mark.parametrize("wire", WIRES.values(), ids=WIRES.keys())
def test_a_reply_faster_than_real_time_plays_whole(start_sim, profiles: ProfileBuilder,
                                                   tmp_path: Path, wire: dict[str, Any],
                                                   speed: float) -> None:
    r = run_call(start_sim, profiles, tmp_path, wire, speed)
    rate, reply = r["rate"], r["reply"]
    corr, said_s, heard_s = compare(reply, r["heard"], rate)
    print(f"\n{wire['format']} {speed}x: reply {len(reply) / rate:.2f} s, sent "
          f"{r['lead']:.2f} s ahead of real time; speaker: {heard_s:.2f} of {said_s:.2f} s "
          f"of speech, correlation {corr:.4f}\n{r['stdout'].strip()}")
    assert r["lead"] >= 0.5 * len(reply) / rate, "the simulator sent it ahead of real time"
    assert r["speech_dropped"] == 0
    assert abs(heard_s - said_s) <= 0.02 * said_s, "every word reached the speaker"
    assert corr >= 0.98, "the reply played as one piece, without a cut or a gap"
    _, rec_corr = align_and_correlate(reply, r["stereo"][:, 1], rate)
    assert rec_corr >= 0.98, "the recording's right leg is what the speaker played"


@pytest.mark.parametrize("wire", WIRES.values(), ids=WIRES.keys())
def test_oversized_frames_and_a_stall_keep_the_recording_to_the_call(
        start_sim, profiles: ProfileBuilder, tmp_path: Path, wire: dict[str, Any]) -> None:
    """Each reply in one binary frame, then a 1.5 s stall of the downlink: the WAV lasts as
    long as the call, its right leg holds the whole reply, exactly as the speaker (the
    `file:` output) played it."""
    r = run_call(start_sim, profiles, tmp_path, wire, float("inf"),
                 faults=("one-frame", "stall=1500@8"))
    rate, call = r["rate"], r["call"]
    chunks = call["downlink"]["chunkBytes"]
    assert max(chunks) >= len(r["reply"]) * (2 if wire["format"] == "pcm_s16le" else 1), \
        "the reply came in one frame"
    call_s = call["endedMonotonic"] - call["connectedMonotonic"]
    wav_s = len(r["stereo"]) / rate
    right = r["stereo"][:, 1]
    _, said_s, heard_s = compare(r["reply"], right, rate)
    _, corr = align_and_correlate(right, r["heard"], rate)
    print(f"\ncall {call_s:.2f} s, recording {wav_s:.2f} s; right leg {heard_s:.2f} of "
          f"{said_s:.2f} s of speech, correlation with what the speaker played {corr:.4f}")
    assert abs(wav_s - call_s) < 0.5, "the recording is as long as the call"
    assert r["speech_dropped"] == 0
    assert abs(heard_s - said_s) <= 0.02 * said_s, "the whole reply is on the right leg"
    assert corr >= 0.99, "the right leg is what the speaker played, without a gap"


def test_a_goodbye_sent_whole_is_recorded_whole(start_sim, profiles: ProfileBuilder,
                                                tmp_path: Path) -> None:
    """The assistant's goodbye ends the call (Vapi ends it once the goodbye is sent), sent
    whole: the speaker plays it out after the call has ended, and the recording's right
    leg holds all of it, not just what played before the end (0.3 s of 6.6)."""
    r = run_call(start_sim, profiles, tmp_path, WIRES["pcm"], float("inf"),
                 lines=[{"say": LINE, "wait": False, "endCall": True}])
    rate, right = r["rate"], r["stereo"][:, 1]
    _, said_s, heard_s = compare(r["reply"], r["heard"], rate)
    _, _, recorded_s = compare(r["reply"], right, rate)
    _, corr = align_and_correlate(r["reply"], right, rate)
    print(f"\ngoodbye {said_s:.2f} s of speech sent {r['lead']:.2f} s ahead; speaker "
          f"{heard_s:.2f} s, recording's right leg {recorded_s:.2f} s (correlation "
          f"{corr:.4f})\n{r['stdout'].strip()}")
    assert "assistant-ended-call" in r["stdout"]
    assert abs(heard_s - said_s) <= 0.02 * said_s, "every word reached the speaker"
    assert abs(recorded_s - said_s) <= 0.02 * said_s, "and the recording"
    assert corr >= 0.98, "the right leg holds the goodbye as one piece"


def test_a_stop_while_a_recorded_goodbye_plays_out_fades_it(
        start_sim, profiles: ProfileBuilder, tmp_path: Path) -> None:
    """SIGTERM (systemd stopping the kiosk, 10 s before it kills it) while the speaker
    plays out a goodbye sent whole: the rest fades out at once instead of being waited for
    and recorded, and both files are complete."""
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump([{"say": LINE, "wait": False, "endCall": True}]))
    sim = start_sim(assistant=f"script:{script}", downlink_speed=float("inf"))
    out = tmp_path / "speaker.wav"
    profile = profiles.write(sim.base_url, assistant={"overrides": {}},
                             audio={"output": f"file:{out}"},
                             record={"path": str(tmp_path / "{call_id}")})
    proc = subprocess.Popen(bridge_cmd("run", "--profile", str(profile)), cwd=ROOT,
                            env=bridge_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stderr is not None
        err = ""
        while "playing out" not in err:  # the call has ended; its goodbye is playing out
            line = proc.stderr.readline()
            assert line, err
            err += line
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err + rest
    call = sim.only_call()
    reply = the_reply(wav_bytes(sim.get_bytes(f"/_sim/calls/{call['id']}/downlink.wav")), 16000)
    stereo, rate = read_stereo(tmp_path / f"{call['id']}.wav")
    heard, _ = read_wav(out)
    _, said_s, recorded_s = compare(reply, stereo[:, 1], rate)
    _, _, heard_s = compare(reply, heard, rate)
    ended = json.loads((tmp_path / f"{call['id']}.jsonl").read_text().splitlines()[-1])
    print(f"\ngoodbye {said_s:.2f} s; stopped as it played out: speaker {heard_s:.2f} s, "
          f"right leg {recorded_s:.2f} s")
    assert ended["ended"]["endedReason"] == "assistant-ended-call", ended
    assert recorded_s < 0.5 * said_s and heard_s < 0.5 * said_s, "faded, not waited for"
    assert abs(recorded_s - heard_s) <= 0.1, "the right leg is what the speaker played"
