"""A `file:` microphone in a standby daemon stands for the visitor at every call: each call
hears the WAV from its start (before, the first call had it all and every later call sent
silence for the daemon's whole life)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.control.conftest import control_profile, wait_for
from tests.e2e.conftest import ProfileBuilder
from tests.rig.signals import rms_db, silence, wav_bytes, write_wav

RATE = 16000


def test_each_standby_call_hears_the_file_visitor_from_its_start(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon,
        tmp_path: Path) -> None:
    t = np.arange(RATE) / RATE
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    mic = tmp_path / "visitor.wav"
    write_wav(mic, np.concatenate([silence(300, RATE), tone]), RATE)  # 1.3 s in all
    sim = start_sim(assistant="echo")
    daemon = start_daemon(control_profile(
        profiles, sim, short_dir / "ctl.sock", overrides={"maxDurationSeconds": 3},
        audio={"input": f"file:{mic}", "output": "null"}))
    for n in (1, 2):
        daemon.ok("call")
        wait_for(lambda n=n: len(sim.calls()) == n and sim.calls()[-1]["status"] == "ended",
                 30, f"call {n} to end")
    assert daemon.stop() == 0
    for call in sim.calls():
        up = wav_bytes(sim.get_bytes(f"/_sim/calls/{call['id']}/uplink.wav"))
        loud = [i / 10 for i in range(0, 25) if rms_db(up[i * RATE // 10:
                                                         (i + 1) * RATE // 10]) > -30]
        assert loud, f"call {call['id'][-8:]} heard nothing of the visitor"
        assert loud[0] < 0.6, f"the visitor started {loud[0]} s into the call"
