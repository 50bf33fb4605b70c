"""Barge-in with the default echo control, through real (virtual) devices.

With the profile defaults (echo control, device rate, wire format), a scripted assistant
speaks two long lines; a visitor talks over the first from its first word. Four rooms:
no acoustic path, a speaker→microphone loop at −20 dB / 40 ms, one at −6 dB / 40 ms, and
two at −9 dB, 40 and 55 ms (two speakers, or a desk reflecting as loud as the direct sound;
its echo alone: `ECHO_ONLY`).
The visitor must reach what the simulator received within 300 ms of their onset, and
with the visitor silent — a whole call, and the second line of the visitor's call — the
echo reaching the simulator must be at least 25 dB below what the loops put into the
microphone (recorded at the microphone, as the paths actually ran).

Everything is measured on the audio's own clocks: the visitor's onset is where what the
harness played lands in the simulator's received audio (cross-correlation), its arrival
the first 10 ms there that carries the visitor; the echo is compared with what reached the
microphone (the rig records it), aligned with what the simulator received. Not with what the
simulator sent through the loops' nominal gains: a loaded sound server moves a loop's delay,
and two -9 dB paths 15 ms apart that met added up 3 dB louder than their powers' sum (the
gate at its 30 dB measured 27.0 dB, 1 run of 4). What still fails under load is the echo
control's own: bursts of whole echo let through while the speaker underflows (12.8 dB, 20-140
ms bursts, 0.08-0.74 s of a call, in 2 calls of 8 beside a CPU hog; 30.2-30.7 dB without
them). The simulator's
voice detector is set out of reach, so the assistant never stops: the test sees the echo
control alone, not barge-in handling.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.devices.conftest import boosted_rig, rig_env
from tests.e2e.conftest import ProfileBuilder, bridge_cmd
from tests.echo.conftest import call_audio
from tests.rig.pulse import PulseRig
from tests.rig.signals import align, espeak, resample

ROOT = Path(__file__).resolve().parents[2]
WIRE_RATES = {"pcm_s16le": 16000, "mulaw": 8000}  # the profile defaults
LINE_1 = ("Welcome to the front desk. Please tell me your name and who you are here to "
          "see, and I will let them know that you have arrived.")
LINE_2 = ("The lifts are on your left, the cafeteria is on the second floor, and visitors "
          "sign the book by the door.")
VISITOR = "Excuse me, I am Robin Smith and I am here to see Doctor Lee"
# echo path (loop gain dB, delay ms); the device rate: the default (the wire rate, which
# the rig takes), and 48 kHz, as many USB devices insist on; the wire format. µ-law at its
# default 8 kHz device rate: the whole 4 kHz band matched the far end too poorly at the
# echo's onset, and the assistant's first word reached Vapi (13 runs of 14 with a voice
# detector that could hear it). Two like paths (two speakers, or a desk reflecting as loud
# as the direct sound: -9 dB each, 15 ms apart, give or take the rig's ±4 ms): no single lag
# explained half the echo, it passed 7-17 dB down and reached Vapi as the visitor
PATHS = {"none": ((), None, "pcm_s16le"), "-20dB-40ms": (((-20.0, 40),), None, "pcm_s16le"),
         "-6dB-40ms": (((-6.0, 40),), None, "pcm_s16le"),
         "-6dB-40ms-48k": (((-6.0, 40),), 48000, "pcm_s16le"),
         "-6dB-40ms-mulaw": (((-6.0, 40),), None, "mulaw"),
         "two-9dB-40+55ms": (((-9.0, 40), (-9.0, 55)), None, "pcm_s16le")}
# rooms where only the echo, with the visitor silent, is measured (one call, one line: ~12 s
# of the serial stage, not ~30): barge-in is the one-path rooms' (the visitor's voice
# matches no path however many there are), the echo after double talk with two paths is
# tests/unit/test_echo_gate_paths.py's
ECHO_ONLY = {"two-9dB-40+55ms"}
ARRIVAL_MS = 300
ECHO_DOWN_DB = 25


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseRig]:
    with boosted_rig(48000, tmp_path_factory.mktemp("echo-barge-in")) as r:
        yield r


@pytest.fixture(scope="module")
def visitor() -> np.ndarray:
    v = espeak(VISITOR, 48000, peak_db=-6.0)
    return v[int(np.argmax(np.abs(v) > 300)):]  # its onset is its first sample


def assistant_started(sim: Any) -> bool:
    calls = sim.calls()
    return bool(calls) and any(
        e["event"].get("type") == "speech-update" and e["event"].get("role") == "assistant"
        and e["event"].get("status") == "started" for e in calls[0]["eventsSent"])


def run_call(rig: PulseRig, start_sim: Any, profiles: ProfileBuilder, tmp: Path, name: str,
             lines: list[dict[str, Any]], visitor: np.ndarray | None,
             device_rate: int | None = None, wire: str = "pcm_s16le",
             after_s: float = 0.1, speech: str = "auto") -> dict[str, Any]:
    """One call with the profile defaults; the visitor, if any, starts as the assistant's
    first word reaches the speaker (`after_s` from its first frame sent: the playout
    buffer and the speaker's latency), or later; `speech`: the simulator's voice."""
    script = tmp / f"{name}-script.yaml"
    script.write_text(yaml.safe_dump(lines))
    sim = start_sim(assistant=f"script:{script}", vad_threshold_dbfs=-3.0, speech=speech)
    profile = profiles.write(
        sim.base_url, name=name, assistant={"overrides": {"maxDurationSeconds": 22}},
        audio={"input": rig.mic_device, "output": rig.speaker_device,
               **({"device_rate": device_rate} if device_rate else {})},
        wire={"format": wire, "sample_rate": WIRE_RATES[wire]},
        log={"level": os.environ.get("ECHO_LOG", "info")})
    played: list[float] = []

    def talk() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not assistant_started(sim):
            time.sleep(0.01)
        time.sleep(after_s)
        assert visitor is not None
        played.append(rig.play_into_mic(visitor, 48000))

    rig.start_speaker_recording()
    rig.start_mic_recording()
    proc = subprocess.Popen(bridge_cmd("run", "--profile", str(profile)), cwd=ROOT,
                            env=rig_env(rig), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    thread = threading.Thread(target=talk, daemon=True)
    if visitor is not None:
        thread.start()
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    if visitor is not None:
        thread.join(5)
        rig.wait_mic_idle()
    speaker, speaker_rate, speaker_t0 = rig.stop_speaker_recording()
    mic = resample(rig.stop_mic_recording(), rig.rate, WIRE_RATES[wire])
    assert proc.returncode == 0, err
    assert "echo control: gate" in err, "the default echo control is the gate"
    up, down = call_audio(sim, name, err, WIRE_RATES[wire])
    first_word = speaker_t0 + int(np.argmax(np.abs(speaker) > 1000)) / speaker_rate
    return {"up": up.astype(np.float64), "down": down.astype(np.float64),
            "mic": mic.astype(np.float64),
            "visitor_from_first_word": played[0] - first_word if played else None}


def arrival_ms(up: np.ndarray, visitor: np.ndarray, rate: int) -> tuple[float, int]:
    """(ms from the visitor's onset in the received audio until it carries the visitor —
    a 10 ms frame of their speech within 10 dB of what they said —, the onset position)."""
    ref = resample(visitor, 48000, rate).astype(np.float64)
    onset = align(ref, up)
    frame = rate // 100
    n = min(len(ref), len(up) - onset) // frame
    v = ref[: n * frame].reshape(n, frame)
    got = up[onset:onset + n * frame].reshape(n, frame)
    power = np.sum(v ** 2, axis=1)
    speech = power > power.max() * 10 ** (-25 / 10)
    kept = np.sum(got * v, axis=1) / np.maximum(power, 1.0)
    heard = speech & (kept >= 10 ** (-10 / 20))
    assert heard.any(), "the visitor never reached the simulator"
    return (int(np.argmax(heard)) + 1) * 10.0, onset


def echo_down_db(up: np.ndarray, mic: np.ndarray, span: tuple[int, int] | None = None
                 ) -> float:
    """How far below what reached the microphone (`mic`, the rig's recording at the wire
    rate) the echo in the received audio is, over `span` of the received audio (default:
    all of it)."""
    lo, hi = span or (0, len(up))
    part = np.zeros_like(up)
    part[lo:hi] = up[lo:hi]  # the visitor, if any, is outside the span
    lag = align(mic, part)  # captured → echo control → sent → received
    lo, hi = max(lo, lag), min(hi, len(mic) + lag)
    into_mic = float(np.sum(mic[lo - lag:hi - lag] ** 2))
    received = float(np.sum(up[lo:hi] ** 2))
    assert into_mic > 0, "the assistant spoke in the span"
    return 10 * np.log10(into_mic / max(received, 1.0))


@pytest.mark.parametrize("path", list(PATHS))
def test_visitor_is_heard_over_the_assistant_from_its_first_word(
        rig: PulseRig, start_sim: Any, profiles: ProfileBuilder, tmp_path: Path,
        visitor: np.ndarray, path: str) -> None:
    loops, device_rate, wire = PATHS[path]
    rate = WIRE_RATES[wire]
    # each call ends as its last line has been sent (endCall), not at a fixed length; the
    # second line is there to measure the echo after the double talk, so without an echo
    # path the call ends with the first (the visitor's 4 s are over 3 s before it ends)
    lines = [{"say": LINE_1, "wait": False},
             {"say": LINE_2, "wait": False, "delay": 1.0, "endCall": True}]
    if not loops:
        lines = [{**lines[0], "endCall": True}]
    with contextlib.ExitStack() as stack:
        for gain, delay in loops:
            stack.enter_context(rig.loop_speaker_into_mic(gain_db=gain, delay_ms=delay))
        talked = None if path in ECHO_ONLY else run_call(
            rig, start_sim, profiles, tmp_path, f"{path}-talk", lines, visitor, device_rate,
            wire)
        silent = None if not loops else run_call(
            rig, start_sim, profiles, tmp_path, f"{path}-silent",
            [{**lines[0], "endCall": True}], None, device_rate, wire)
    if talked is None:
        assert silent is not None
        whole = echo_down_db(silent["up"], silent["mic"])
        report = f"\n{path}: echo with the visitor silent {whole:.1f} dB down (whole call)"
        print(report)
        assert whole >= ECHO_DOWN_DB, report
        return
    offset = talked["visitor_from_first_word"]
    took, onset = arrival_ms(talked["up"], visitor, rate)
    report = (f"\n{path}: visitor began {offset * 1000:+.0f} ms from the assistant's first "
              f"word at the speaker; reached the simulator {took:.0f} ms after their onset")
    if silent is not None:
        whole = echo_down_db(silent["up"], silent["mic"])
        # the second line of the visitor's call: after the double talk
        after = onset + len(resample(visitor, 48000, rate)) + rate
        second = echo_down_db(talked["up"], talked["mic"], (after, len(talked["up"])))
        report += (f"; echo with the visitor silent {whole:.1f} dB down (whole call), "
                   f"{second:.1f} dB down (the line after the double talk)")
    print(report)
    assert -0.3 <= offset <= 0.5, f"the visitor talked from the assistant's first word{report}"
    assert took <= ARRIVAL_MS, report
    if silent is not None:
        assert whole >= ECHO_DOWN_DB, report
        assert second >= ECHO_DOWN_DB, report
