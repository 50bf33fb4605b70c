"""A standby kiosk does not wake itself: the assistant's goodbye says the wake word ("To
talk again, say: Okay nabu."), Vapi sends it whole and ends the call, and the kiosk's
speaker plays it out after the call, while the daemon is back in standby listening for the
word. Through the rig's acoustic echo path (the speaker's monitor looped into the
microphone at -6 dB) the microphone hears it. Before, that placed a second call nobody
asked for; now the detector ignores the microphone while the speaker plays, and `ctl status` says
so (it said "listening"). A visitor who says the word afterwards still places a call.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import yaml

from tests.devices.conftest import ROOT, boost_child, bridge, require_espeak, rig_env, write_profile
from tests.devices.test_wake_word import HEARD, RATE, WAKE, calls_within, said, wait_for
from tests.e2e.replies import speech_blocks
from tests.rig.pulse import PulseRig
from tests.rig.pulse.daemon import terminate
from tests.rig.signals import wav_bytes

GOODBYE = "Goodbye. To talk again, say: Okay nabu."
LISTENING = "listening for the wake word 'Okay Nabu'"
WOKE = "wake word 'Okay Nabu' heard"


def test_the_assistant_saying_the_wake_word_places_no_call(rig: PulseRig, start_sim,
                                                           tmp_path: Path) -> None:
    require_espeak()
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump([{"say": GOODBYE, "wait": False, "endCall": True}]))
    sim = start_sim(f"script:{script}", "--downlink-speed", "whole")
    sock = tmp_path / "ctl.sock"
    profile = write_profile(tmp_path / "kiosk.yaml", sim.base_url,
                            service={"mode": "standby", "control_socket": str(sock)},
                            trigger={"wake_word": "okay_nabu"},
                            assistant={"overrides": {}},
                            call={"max_duration_seconds": 10},
                            audio={"input": rig.mic_device, "output": rig.speaker_device,
                                   "device_rate": rig.rate})
    log = tmp_path / "bridge.log"
    env = rig_env(rig)
    rig.loop_speaker_into_mic(gain_db=-6.0, delay_ms=30.0)
    with open(log, "w") as err:
        proc = subprocess.Popen(bridge("-v", "run", "--profile", str(profile)), env=env,
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, text=True,
                                preexec_fn=boost_child)
    try:
        wait_for(log, LISTENING, proc, 20)
        rig.start_speaker_recording()
        subprocess.run(bridge("ctl", "--socket", str(sock), "call"), env=env, cwd=ROOT,
                       check=True, capture_output=True, timeout=20)
        assert calls_within(sim, 10), log.read_text()
        deadline = time.monotonic() + 20
        while log.read_text().count(LISTENING) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the call is over: standby, the goodbye playing out
        during = wake_status(sock, env)  # the word said now is not heard: not "listening"
        call = sim.calls()[0]
        goodbye_s = len(wav_bytes(sim.get_bytes(f"/_sim/calls/{call['id']}/downlink.wav")))
        time.sleep(goodbye_s / RATE + 2.0)  # all of it played, and heard by the microphone
        played, played_rate, _ = rig.stop_speaker_recording()
        own = sim.calls()
        text = log.read_text()
        after_goodbye = wake_status(sock, env)

        rig.play_into_mic(said(*WAKE), RATE)  # the visitor says it
        rig.wait_mic_idle()
        after = calls_within_n(sim, 2, 10)
        text_after = wait_for(log, HEARD.pattern, proc, 5)
    finally:
        terminate(proc, 20)
    heard_s = speech_blocks(played, played_rate).sum() / 100
    print(f"\nthe speaker played {heard_s:.2f} s of the goodbye in standby; calls "
          f"{len(own)} after it, {len(after)} after the visitor's word")
    assert text.count(LISTENING) >= 2, text
    assert heard_s >= 2.0, "the goodbye played out in standby (the premise of the test)"
    assert len(own) == 1 and WOKE not in text, f"the kiosk woke itself:\n{text[-3000:]}"
    assert len(after) == 2 and text_after.count(WOKE) == 1, \
        "the visitor's wake word was not heard after the goodbye"
    # `ctl status` said "listening" while the goodbye played and a word was ignored
    assert during == {"word": "Okay Nabu", "listening": False, "heldBySpeaker": True}, during
    assert after_goodbye == {"word": "Okay Nabu", "listening": True,
                             "heldBySpeaker": False}, after_goodbye


def wake_status(sock: Path, env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run(bridge("ctl", "--socket", str(sock), "--json", "status"), env=env,
                         cwd=ROOT, check=True, capture_output=True, text=True, timeout=20)
    return json.loads(out.stdout)["wakeWord"]


def calls_within_n(sim, n: int, seconds: float) -> list[dict[str, object]]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(sim.calls()) < n:
        time.sleep(0.05)
    return sim.calls()
