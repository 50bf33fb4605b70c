"""`vapi-bridge listen --play`: a call heard live on a (virtual) speaker — both parties,
mixed, as the listen stream carried them.

What the speaker played is compared with what `listen` received (its `--out` WAV, the two
channels mixed as `--play` mixes them), and each channel of that with its party's leg as
the simulator recorded it. (Compared with the two legs' WAVs mixed sample for sample, the
correlation moved between 0.71 and 0.97 from run to run with no gap played, and failed
the suite's 0.8: the simulator's listen stream places each uplink frame on the downlink's
clock by its arrival, and the player skips a little silence to keep up, so neither is the
legs' WAVs sample for sample. Piece by piece, what the speaker played matched what listen
received at 0.99 and more.)"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from tests.devices.conftest import bridge, rig_env, streams_of, write_profile
from tests.rig.pulse import PulseRig
from tests.rig.signals import (
    espeak,
    piece_correlations,
    piece_matches,
    read_stereo,
    resample,
    silence,
    write_wav,
)
from tests.sim.listen_mix import assert_heard_to_the_end

ROOT = Path(__file__).resolve().parents[2]
LISTEN_JOINS_S = 6  # the visitor's silence before their words


def _mono(data: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(data), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int16)


def _call(rig: PulseRig, sim: Any, profile: Path) -> tuple[subprocess.Popen[str], str]:
    """`vapi-bridge run` on `profile`, and the id of the call it placed."""
    proc = subprocess.Popen(bridge("run", "--profile", str(profile)), env=rig_env(rig),
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not sim.calls() and proc.poll() is None:
        time.sleep(0.05)
    calls = sim.calls()
    assert calls, f"no call placed (exit {proc.poll()})"
    return proc, str(calls[0]["id"])


def _listen_and_play(rig: PulseRig, profile: Path, call_id: str,
                     out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(bridge("listen", "--call-id", call_id, "--profile", str(profile),
                                   "--play", rig.speaker_device, "--out", str(out)),
                            env=rig_env(rig), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _kill(*procs: subprocess.Popen[str] | None) -> None:
    for p in procs:
        if p is not None and p.poll() is None:
            p.kill()


def test_listen_plays_both_parties_on_a_speaker(rig: PulseRig, start_sim: Any,
                                                 tmp_path: Path) -> None:
    sim = start_sim("echo")
    visitor = tmp_path / "visitor.wav"
    # the visitor speaks once `listen` has joined: it starts after the call is up, and a
    # loaded machine took seconds to start it (the visitor's words went out before it
    # joined, 1.5 s into the call, and CI failed on "both parties carried")
    write_wav(visitor, np.concatenate([silence(LISTEN_JOINS_S * 1000, 16000),
                                       espeak("Where can I park my bicycle", 16000)]), 16000)
    profile = write_profile(tmp_path / "kiosk.yaml", sim.base_url,
                            call={"max_duration_seconds": LISTEN_JOINS_S + 10},
                            audio={"input": f"file:{visitor}", "output": "null"})
    call_proc, listen = None, None
    try:
        call_proc, call_id = _call(rig, sim, profile)
        rig.start_speaker_recording()
        listen = _listen_and_play(rig, profile, call_id, tmp_path / "listen.wav")
        assert call_proc.wait(40) == 0
        _, listen_err = listen.communicate(timeout=20)
    finally:
        _kill(call_proc, listen)
    heard, rate, _ = rig.stop_speaker_recording()
    write_wav(tmp_path / "speaker.wav", heard, rate)  # kept for a failure's post-mortem
    assert listen.returncode == 0, listen_err
    played = listen_err.strip().splitlines()[-1]
    received, wav_rate = read_stereo(tmp_path / "listen.wav")
    assert wav_rate == 16000
    assert_heard_to_the_end(len(received), sim.calls()[0]["listen"], wav_rate)
    mixed = (received.astype(np.int32).sum(axis=1) // 2).astype(np.int16)
    reference = resample(mixed[:-16000], 16000, rate)  # its last second may not be played
    # each voiced 250 ms piece at its own lag: the player skips a little silence to keep up
    # (20-60 ms a call), which moves the words after it; and the echo assistant repeats
    # the visitor's words, so one global alignment can put them on the echo's place (two
    # rehearsals' runs scored the echo's half of the pieces at ~0 so)
    matches = piece_matches(reference, heard, rate)
    played_pieces = [score for score, _ in matches]
    moved = [1000 * (lag - matches[0][1]) / rate for _, lag in matches] if matches else [0]
    legs = {"uplink": received[:, 0], "downlink": received[:, 1]}
    # the premise: the stream carried both parties (each leg's voiced 250 ms pieces found
    # in its channel; the median says how much of it)
    pieces = {name: piece_correlations(
        _mono(sim.get_bytes(f"/_sim/calls/{call_id}/{name}.wav")), channel, 16000)
        for name, channel in legs.items()}
    print(f"\nspeaker vs what listen received, voiced pieces: median "
          f"{np.median(played_pieces):.3f}, least {min(played_pieces, default=0.0):.3f}, "
          f"re-timed by {min(moved):.0f} to {max(moved):.0f} ms; "
          f"{played}; the listen stream's channels vs the legs, median of the voiced "
          f"pieces: " + ", ".join(f"{k} {np.median(v):.3f}" for k, v in pieces.items()))
    assert len(played_pieces) >= 8, "the two parties' words were received"
    assert np.median(played_pieces) >= 0.95 and min(played_pieces) >= 0.8, (
        f"{played}; pieces {np.round(played_pieces, 3).tolist()} moved by "
        f"{np.round(moved).tolist()} ms; harness {rig.harness_xruns}; in {tmp_path}")
    assert all(max(v, default=0.0) >= 0.9 for v in pieces.values()), "both parties carried"


def test_a_listener_starved_of_the_cpu_says_its_speaker_ran_dry(rig: PulseRig, start_sim: Any,
                                                                 tmp_path: Path) -> None:
    """`listen --play` stopped for 0.6 s mid-call (SIGSTOP: a machine too busy to feed the
    speaker): the speaker ran dry, which the playout's own counters cannot see (its queue
    had audio all along). The closing line says so rather than "played with no gap"."""
    sim = start_sim("echo")
    visitor = tmp_path / "visitor.wav"
    write_wav(visitor, np.concatenate([silence(3000, 16000),
                                       espeak("Where can I park my bicycle", 16000)]), 16000)
    profile = write_profile(tmp_path / "kiosk.yaml", sim.base_url,
                            call={"max_duration_seconds": 10},
                            audio={"input": f"file:{visitor}", "output": "null"})
    call_proc, listen = None, None
    try:
        call_proc, call_id = _call(rig, sim, profile)
        listen = _listen_and_play(rig, profile, call_id, tmp_path / "listen.wav")
        assert listen.stderr is not None
        assert listen.stderr.readline().startswith("listening to call "), "listen started"
        assert listen.stderr.readline().startswith("writing "), "the first audio arrived"
        deadline = time.monotonic() + 20  # its speaker open on the sound server: playing
        while time.monotonic() < deadline and not streams_of(rig, listen.pid)["sink-inputs"]:
            time.sleep(0.05)
        assert streams_of(rig, listen.pid)["sink-inputs"], "listen opened the speaker"
        os.kill(listen.pid, signal.SIGSTOP)
        time.sleep(0.6)
        os.kill(listen.pid, signal.SIGCONT)
        assert call_proc.wait(40) == 0
        _, listen_err = listen.communicate(timeout=20)
    finally:
        _kill(call_proc, listen)
    assert listen.returncode == 0, listen_err
    played = listen_err.strip().splitlines()[-1]
    print(f"\n{played}")
    assert "the speaker ran dry" in played or "gap(s)" in played, played
    received, wav_rate = read_stereo(tmp_path / "listen.wav")  # and not a word lost
    assert_heard_to_the_end(len(received), sim.calls()[0]["listen"], wav_rate)
