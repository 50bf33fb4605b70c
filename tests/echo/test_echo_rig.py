"""Echo control on real (virtual) devices: the speaker is looped into the microphone
(-6 dB, 40 ms: an acoustic echo path, louder than most rooms), a scripted assistant speaks
a long line, and a visitor speaks into the microphone once it has finished. From the
simulator's record of the uplink: how much of the assistant's audio each mode removes, and
how much of the visitor it keeps. Both against what went into the microphone, from the
call's own records: the echo, what the simulator sent through the loop's gain (the loop is
within 1 dB of it: tests/rig/test_rig.py::test_echo_loopback); the visitor, what the harness
played. (Before, a third call with echo `off` measured both, ~15 s of CI's serial stage and
of the floors'; with echo off the uplink carries the microphone unchanged, as the echo-call
tests' round trip at 0 +/- 3 dB shows.) A visitor talking over the assistant is tested in
test_echo_barge_in.py; see also benchmarks/echo.py.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.devices.conftest import require_rig
from tests.e2e.conftest import ProfileBuilder, bridge_cmd, bridge_env
from tests.echo.conftest import call_audio
from tests.rig.pulse import PulseRig
from tests.rig.signals import align, espeak, overlap

ROOT = Path(__file__).resolve().parents[2]
RATE = 16000
SCRIPT = [  # one long line, then silence: the next line waits for a visitor the simulator's
    # VAD never hears (its threshold is out of reach), so echo cannot trigger barge-in
    {"say": "Welcome to the front desk. Please tell me your name and who you are here to "
            "see, and I will let them know that you have arrived.", "wait": False},
    {"say": "Thank you.", "wait": True},
]
TALKER_AT_S = 2.0  # after the first line ends
LOOP_GAIN_DB = -6.0  # the acoustic echo path: speaker into microphone
END_AFTER_S = 1.0  # after the visitor has spoken, the call is ended


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseRig]:
    require_rig()  # skipped locally without PulseAudio, a failure under CI
    with PulseRig(rate=RATE, tmpdir=tmp_path_factory.mktemp("echo-rig")) as r:
        # the harness (the visitor's player) starts now, not at the first call's visitor:
        # started mid-call, its PortAudio re-initialisation and two new streams on the rig's
        # sound server held up the simulator's thread (frames reached it up to 68 ms after
        # the bridge sent them) and the bridge's capture callbacks, a 30-90 ms "uplink gap"
        # ~9.2 s into that call that the bridge never sent
        r.activate_in_process()
        yield r


def envelope_db(x: np.ndarray, block: int = 800) -> np.ndarray:
    n = len(x) // block
    blocks = x[: n * block].astype(np.float64).reshape(n, block)
    return 10 * np.log10(np.mean(blocks ** 2, axis=1) / 32768.0 ** 2 + 1e-12)


def run_call(rig: PulseRig, start_sim: Any, profiles: ProfileBuilder, mode: str,
             talker: np.ndarray, tmp: Path) -> dict[str, Any]:
    script = tmp / "script.yaml"
    script.write_text(yaml.safe_dump(SCRIPT))
    sim = start_sim(assistant=f"script:{script}", vad_threshold_dbfs=-3.0)
    profile = profiles.write(
        sim.base_url, name=f"echo-{mode}",
        assistant={"overrides": {"maxDurationSeconds": 16}},
        audio={"input": rig.mic_device, "output": rig.speaker_device, "echo": mode,
               "device_rate": RATE})
    env = {**bridge_env(), **rig.env}
    proc = subprocess.Popen(bridge_cmd("run", "--profile", str(profile)), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the visitor speaks in the assistant's pause: after its first line has gone out
    def visitor() -> None:
        for _ in range(400):
            calls = sim.calls()
            events = [e["event"] for e in calls[0]["eventsSent"]] if calls else []
            stops = [e for e in events if e.get("type") == "speech-update"
                     and e.get("role") == "assistant" and e.get("status") == "stopped"]
            if stops:
                time.sleep(TALKER_AT_S)
                rig.play_into_mic(talker, RATE)
                rig.wait_mic_idle()
                spoke.set()
                time.sleep(END_AFTER_S)  # the visitor's last words have gone up
                proc.terminate()  # the call ends cleanly (exit 0), not at its 16 s limit
                return
            time.sleep(0.05)
    spoke = threading.Event()
    thread = threading.Thread(target=visitor, daemon=True)
    thread.start()
    out, err = proc.communicate(timeout=60)
    thread.join(5)
    assert proc.returncode == 0, err
    assert spoke.is_set(), "the visitor spoke after the assistant's line"
    up, down = call_audio(sim, mode, err, RATE)
    return {"up": up, "down": down, "stdout": out}


def mean_db(env: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(10 ** (env / 10))))


def measure(result: dict[str, Any], talker: np.ndarray) -> dict[str, float]:
    """In dBFS: the echo in the uplink while the assistant talks, and what went into the
    microphone then (what the simulator sent, through the loop's gain); the visitor in the
    uplink, and as the harness played it."""
    up, down = result["up"], result["down"]
    lag = align(talker, up)
    played, rec = overlap(talker, up, lag)
    # the assistant is silent by then: the aligned window holds the visitor alone
    visitor_db = 10 * np.log10(float(np.mean(rec ** 2)) + 1e-12)
    env_down, env_up = envelope_db(down), envelope_db(up)
    n = min(len(env_down), len(env_up))
    talking = env_down[:n] > -45
    talking[: 10] = False  # the start, before the devices settle
    v0, v1 = max(0, lag // 800 - 2), (lag + len(talker)) // 800 + 8
    talking[v0:v1] = False  # not while the visitor speaks
    return {"echo": mean_db(env_up[:n][talking]),
            "into_mic": mean_db(env_down[:n][talking]) + LOOP_GAIN_DB,
            "visitor": float(visitor_db),
            "visitor_played": float(10 * np.log10(float(np.mean(played ** 2)) + 1e-12))}


def test_gate_and_aec_remove_the_echo_and_keep_the_visitor(
        rig: PulseRig, start_sim: Any, profiles: ProfileBuilder, tmp_path: Path) -> None:
    talker = espeak("My name is Robin Smith and I am here to see Doctor Lee", RATE,
                    peak_db=-6.0)
    results: dict[str, dict[str, float]] = {}
    with rig.loop_speaker_into_mic(gain_db=LOOP_GAIN_DB, delay_ms=40):
        for mode in ("gate", "aec"):
            results[mode] = measure(run_call(rig, start_sim, profiles, mode, talker,
                                             tmp_path), talker)
    print()
    for mode, m in results.items():
        print(f"{mode:>4}: echo {m['echo']:6.1f} dBFS (removed {m['into_mic'] - m['echo']:5.1f} "
              f"dB of {m['into_mic']:6.1f}), visitor {m['visitor']:6.1f} dBFS "
              f"({m['visitor'] - m['visitor_played']:+.1f} dB of {m['visitor_played']:6.1f})")
    for mode, m in results.items():
        assert m["into_mic"] > -40, "the assistant spoke: its echo went into the microphone"
        assert m["visitor_played"] > -35, "the visitor spoke into the microphone"
        assert m["visitor"] - m["visitor_played"] >= -3, f"{mode} keeps the visitor"
    assert results["gate"]["into_mic"] - results["gate"]["echo"] >= 15
    assert results["aec"]["into_mic"] - results["aec"]["echo"] >= 20
