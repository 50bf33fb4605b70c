"""`vapi-bridge listen --play`: a call heard live on a (virtual) speaker — both parties,
mixed, as the simulator carried them."""

from __future__ import annotations

import io
import subprocess
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from tests.devices.conftest import bridge, rig_env, write_profile
from tests.rig.pulse import PulseRig
from tests.rig.signals import align_and_correlate, espeak, resample, silence, write_wav

ROOT = Path(__file__).resolve().parents[2]


def _mono(data: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(data), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int16)


def test_listen_plays_both_parties_on_a_speaker(rig: PulseRig, start_sim: Any,
                                                 tmp_path: Path) -> None:
    sim = start_sim("echo")
    visitor = tmp_path / "visitor.wav"
    write_wav(visitor, np.concatenate([silence(1500, 16000),
                                       espeak("Where can I park my bicycle", 16000)]), 16000)
    profile = write_profile(tmp_path / "kiosk.yaml", sim.base_url,
                            call={"max_duration_seconds": 12},
                            audio={"input": f"file:{visitor}", "output": "null"})
    env = rig_env(rig)
    call_proc = subprocess.Popen(bridge("run", "--profile", str(profile)), env=env, cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    listen = None
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not sim.calls():
            time.sleep(0.05)
        call_id = sim.calls()[0]["id"]
        rig.start_speaker_recording()
        listen = subprocess.Popen(bridge("listen", "--call-id", call_id, "--profile",
                                         str(profile), "--play", rig.speaker_device,
                                         "--out", "-"),
                                  env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        assert call_proc.wait(40) == 0
        _, listen_err = listen.communicate(timeout=20)
    finally:
        for p in (call_proc, listen):
            if p is not None and p.poll() is None:
                p.kill()
    heard, rate, _ = rig.stop_speaker_recording()
    assert listen.returncode == 0, listen_err
    up = _mono(sim.get_bytes(f"/_sim/calls/{call_id}/uplink.wav"))
    down = _mono(sim.get_bytes(f"/_sim/calls/{call_id}/downlink.wav"))
    n = min(len(up), len(down))
    mixed = ((up[:n].astype(np.int32) + down[:n]) // 2).astype(np.int16)
    reference = resample(mixed[16000 * 1:16000 * 10], 16000, rate)  # visitor, then its echo
    lag, corr = align_and_correlate(reference, heard, rate)
    print(f"\nspeaker vs the two legs mixed: correlation {corr:.3f} at {lag:.2f} s")
    assert corr >= 0.8
