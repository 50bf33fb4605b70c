"""The wake word in a standby daemon, off the devices: the microphone is a WAV file (played
in real time, as `audio.input: file:` does) saying "hello there", "okay nabu", then what
the visitor wants. The real `vapi-bridge run` against the simulator places exactly one call,
after the wake word, goes back to standby afterwards, and the call's audio is what was said
after the word, never the word or what came before it."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np

from tests.e2e.conftest import ProfileBuilder, bridge_cmd, bridge_env
from tests.rig.pulse.daemon import terminate
from tests.rig.signals import espeak, rms_db, silence, wav_bytes, write_wav

ROOT = Path(__file__).resolve().parents[2]
RATE = 16000


def test_a_wake_word_in_the_microphone_places_one_call(espeak_ng: None, start_sim,
                                                       profiles: ProfileBuilder,
                                                       tmp_path: Path) -> None:
    after = espeak("I am here to see Doctor Lee.", RATE, voice="en", speed=150)
    parts = [silence(500, RATE), espeak("hello there", RATE, voice="en", speed=120),
             silence(500, RATE), espeak("okay nabu", RATE, voice="en", speed=120, peak_db=None),
             silence(600, RATE), after, silence(500, RATE)]
    mic = tmp_path / "visitor.wav"
    write_wav(mic, np.concatenate(parts), RATE)
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, service={"mode": "standby"},
                             trigger={"wake_word": "okay_nabu"},
                             assistant={"overrides": {"firstMessage": "",
                                                      "maxDurationSeconds": 3}},
                             audio={"input": f"file:{mic}"})
    log = tmp_path / "bridge.log"
    env = bridge_env()
    with open(log, "w") as err:
        proc = subprocess.Popen(bridge_cmd("run", "--profile", str(profile)), cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=err, text=True)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and proc.poll() is None and \
                "listening for the wake word" not in log.read_text():
            time.sleep(0.05)
        status = subprocess.run(bridge_cmd("ctl", "--profile", str(profile), "status"),
                                capture_output=True, text=True, env=env, cwd=ROOT, timeout=20)
        while time.monotonic() < deadline and proc.poll() is None and \
                log.read_text().count("listening for the wake word") < 2:
            time.sleep(0.1)  # listening again once the call is over
        text = log.read_text()
    finally:
        terminate(proc, 20)  # SIGTERM: the daemon ends the call and exits 0
    assert proc.returncode == 0, text
    # what the kiosk is doing, for whoever stands at it wondering why it does not answer
    assert "wake word 'Okay Nabu': listening" in status.stdout, (status.stdout, status.stderr)
    assert "wake word 'Okay Nabu' heard (probability 0." in text
    assert text.count("listening for the wake word 'Okay Nabu'") == 2, text
    calls = sim.calls()
    assert [c["endedReason"] for c in calls] == ["exceeded-max-duration"], text
    up = wav_bytes(sim.get_bytes(f"/_sim/calls/{calls[0]['id']}/uplink.wav"))
    # what the visitor said after the word reaches the call; the word itself does not
    assert rms_db(up[: RATE // 4]) < -60, "the call's audio starts with the wake word"
    voiced = [rms_db(up[i:i + RATE // 10]) > -40 for i in range(0, len(up), RATE // 10)]
    assert sum(voiced) * 0.1 >= 0.7 * len(after) / RATE, "the visitor's line was not sent"


def test_a_wake_word_refused_by_the_spending_limit_says_so(espeak_ng: None, start_sim,
                                                            profiles: ProfileBuilder,
                                                            tmp_path: Path) -> None:
    """A kiosk at its daily limit: the word logged "placing a call", then nothing (the limit
    is said once, at start), and whoever reads the journal looked for a call that never
    came. Now the next line says why none was placed."""
    mic = tmp_path / "visitor.wav"
    # (the file plays from the daemon's start: its first second may go by before it listens)
    write_wav(mic, np.concatenate([silence(1000, RATE), espeak("okay nabu", RATE, voice="en",
                                                                speed=120, peak_db=None),
                                   silence(300, RATE)]), RATE)
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, name="limited", service={"mode": "standby"},
                             trigger={"wake_word": "okay_nabu"},
                             call={"max_daily_minutes": 0}, audio={"input": f"file:{mic}"})
    log = tmp_path / "bridge.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(bridge_cmd("run", "--profile", str(profile)), cwd=ROOT,
                                env=bridge_env(), stdout=subprocess.DEVNULL, stderr=err,
                                text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None and \
                log.read_text().count("listening for the wake word") < 2:
            time.sleep(0.05)  # heard, refused, and listening again
        text = log.read_text()
    finally:
        terminate(proc, 20)
    assert sim.calls() == [], text
    heard = text.index("wake word 'Okay Nabu' heard (probability 0.")
    assert ("no call placed for the wake word: spending limit reached: today's calls have "
            "lasted 0.00 min, at or over call.max_daily_minutes (0)\n") in text[heard:], text
