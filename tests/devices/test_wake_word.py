"""Issue 14's wake word through real devices: a standby daemon (`trigger.wake_word:
okay_nabu`) listens on the virtual microphone of a 48 kHz rig; what is said into it is
espeak-ng's voice. "hello there" and a few seconds of other speech place no call; "okay
nabu" places one, and what reaches the simulator on that call starts after the word (the
standby audio never leaves the kiosk). About 10 s of audio in all: the 20 s of speech
without the wake word run off the devices, through the same detector and resampler, in
tests/unit/test_wakeword.py."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.devices.conftest import (
    ROOT,
    boost_child,
    bridge,
    require_espeak,
    rig_env,
    streams_of,
    write_profile,
)
from tests.e2e.conftest import SimHandle
from tests.rig.pulse import PulseRig
from tests.rig.pulse.daemon import terminate
from tests.rig.signals import espeak, rms_db, silence, wav_bytes

RATE = 16000
# the voice: `espeak-ng -v en -s 120`, at espeak's own level
WAKE = ("okay nabu", "en", 120)
# without the wake word: the greeting, then a visitor's line that starts with "okay"
OTHER = ("hello there", "Okay, I am here to see Doctor Lee.")
HEARD = re.compile(r"wake word 'Okay Nabu' heard \(probability (0\.\d+)\): placing a call")


def said(text: str, voice: str = "en", speed: int = 120) -> np.ndarray:
    """`text` with half a second of silence around it, at 16 kHz."""
    pad = silence(500, RATE)
    return np.concatenate([pad, espeak(text, RATE, voice=voice, speed=speed, peak_db=None),
                           pad])


def wait_for(log: Path, pattern: str, proc: subprocess.Popen[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text()
        if re.search(pattern, text):
            return text
        if proc.poll() is not None:
            pytest.fail(f"vapi-bridge exited with {proc.returncode}:\n{text[-3000:]}")
        time.sleep(0.05)
    pytest.fail(f"no {pattern!r} in the log within {timeout} s:\n{log.read_text()[-3000:]}")


def calls_within(sim: SimHandle, seconds: float) -> list[dict[str, object]]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not sim.calls():
        time.sleep(0.05)
    return sim.calls()


def test_the_wake_word_places_a_call_and_other_speech_does_not(
        rig: PulseRig, start_sim, tmp_path: Path) -> None:
    require_espeak()
    sim = start_sim("echo")
    profile = write_profile(tmp_path / "kiosk.yaml", sim.base_url,
                            service={"mode": "standby",
                                     "control_socket": str(tmp_path / "ctl.sock")},
                            trigger={"wake_word": "okay_nabu"},
                            call={"max_duration_seconds": 10},
                            audio={"input": rig.mic_device, "output": rig.speaker_device,
                                   "device_rate": rig.rate})
    log = tmp_path / "bridge.log"
    before = dict(rig.harness_xruns)
    with open(log, "w") as err:
        proc = subprocess.Popen(bridge("-v", "run", "--profile", str(profile)), env=rig_env(rig),
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, text=True,
                                preexec_fn=boost_child)
    try:
        wait_for(log, r"listening for the wake word 'Okay Nabu'", proc, 20)
        for text in OTHER:
            rig.play_into_mic(said(text), RATE)
            rig.wait_mic_idle()
        assert not calls_within(sim, 0.5), "a call without the wake word"
        assert " heard " not in log.read_text()
        # waiting: the microphone stays open for the word, the silent speaker is closed
        wait_for(log, r"standby: the speaker is closed until it is needed", proc, 5)
        assert streams_of(rig, proc.pid) == {"sink-inputs": 0, "source-outputs": 1}

        rig.play_into_mic(said(*WAKE), RATE)
        rig.wait_mic_idle()
        glitch = {k: v - before.get(k, 0) for k, v in rig.harness_xruns.items()}
        assert calls_within(sim, 10), (f"no call after the wake word (the rig's own xruns "
                                       f"meanwhile: {glitch}):\n{log.read_text()}")
        text = wait_for(log, HEARD.pattern, proc, 5)
        call = sim.only_call()
        while call["uplink"]["frames"] < 50 and proc.poll() is None:  # a second of it
            time.sleep(0.05)
            call = sim.only_call()
        # the call ends, and the visitor says the word again as soon as it is listened for:
        # a new request (it was ignored as a repeat of the first word, 3 runs of 3)
        ended = subprocess.run(bridge("ctl", "--socket", str(tmp_path / "ctl.sock"), "end"),
                               env=rig_env(rig), cwd=ROOT, capture_output=True, text=True,
                               timeout=30)
        assert ended.returncode == 0, ended.stderr
        deadline = time.monotonic() + 15
        while log.read_text().count("listening for the wake word") < 2:
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.05)
        word = espeak(WAKE[0], RATE, voice=WAKE[1], speed=WAKE[2], peak_db=None)
        rig.play_into_mic(np.concatenate([word, silence(500, RATE)]), RATE)  # no pause first
        rig.wait_mic_idle()
        deadline = time.monotonic() + 10
        while len(sim.calls()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(sim.calls()) == 2, f"the word said again was not heard:\n{log.read_text()}"
    finally:
        terminate(proc, 20)  # SIGTERM: the daemon ends the call and exits 0
    print(f"\nwake word heard at probability {HEARD.search(text)[1]}")
    assert proc.returncode == 0, log.read_text()[-3000:]
    # the call's audio starts after the wake word: the standby audio stayed on the kiosk
    up = wav_bytes(sim.get_bytes(f"/_sim/calls/{call['id']}/uplink.wav"))
    assert len(up) >= RATE // 2
    assert rms_db(up[: RATE // 2]) < -60, "the call's audio holds the wake word"
