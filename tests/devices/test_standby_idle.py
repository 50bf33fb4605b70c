"""A standby kiosk waiting for a visitor holds no device open (bridge/service/idle.py): the
sound server lists no stream of the daemon's between calls, and `ctl status` says both are
closed. `ctl call` opens them again before the chime, which is heard whole, and the call
hears the microphone and plays on the speaker; after the call both close again.

On the 48 kHz rig, through real PortAudio devices. What the sound server sees is asked of
it (`pactl list`, by the daemon's process id), not of the bridge."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from bridge.profile.sounds import bundled
from tests.devices.conftest import (
    ROOT,
    boost_child,
    bridge,
    rig_env,
    streams_of,
    write_profile,
)
from tests.rig.pulse import PulseRig
from tests.rig.pulse.daemon import terminate
from tests.rig.signals import align_and_correlate, espeak, resample, rms_db, silence, wav_bytes

CLOSED = "standby: the {} is closed until it is needed"


def wait_for_count(log: Path, text: str, count: int, proc: subprocess.Popen[str],
                   timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while log.read_text().count(text) < count:
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{text!r} not logged {count}× (exit {proc.poll()}):\n"
                        f"{log.read_text()[-3000:]}")
        time.sleep(0.05)


def ctl(rig: PulseRig, sock: Path, *args: str) -> str:
    out = subprocess.run(bridge("ctl", "--socket", str(sock), *args), env=rig_env(rig),
                         cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def chime(rate: int) -> np.ndarray:
    with wave.open(str(bundled("triggered")), "rb") as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return resample(data.astype(np.int16), w.getframerate(), rate)


def test_a_standby_kiosk_holds_no_device_between_calls_and_calls_with_both(
        rig: PulseRig, start_sim, tmp_path: Path) -> None:
    sim = start_sim("echo")
    sock = tmp_path / "ctl.sock"
    profile = write_profile(tmp_path / "kiosk.yaml", sim.base_url,
                            service={"mode": "standby", "control_socket": str(sock)},
                            sounds={"triggered": "default"},
                            audio={"input": rig.mic_device, "output": rig.speaker_device,
                                   "device_rate": rig.rate})
    log = tmp_path / "bridge.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(bridge("-v", "run", "--profile", str(profile)),
                                env=rig_env(rig), cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=err, text=True, preexec_fn=boost_child)
    try:
        for part in ("microphone", "speaker"):
            wait_for_count(log, CLOSED.format(part), 1, proc, 20)
        assert streams_of(rig, proc.pid) == {"sink-inputs": 0, "source-outputs": 0}
        devices = ctl(rig, sock, "status")
        assert devices.count("(closed while standby waits)") == 2, devices

        rig.start_speaker_recording()
        try:
            ctl(rig, sock, "call")
            deadline = time.monotonic() + 15
            while not sim.calls() or sim.only_call()["uplink"]["frames"] < 10:
                assert time.monotonic() < deadline and proc.poll() is None, "no call"
                time.sleep(0.05)
            assert streams_of(rig, proc.pid) == {"sink-inputs": 1, "source-outputs": 1}
            line = np.concatenate([espeak("Hello, I am here to see Doctor Lee.", rig.rate),
                                   silence(1500, rig.rate)])
            rig.play_into_mic(line, rig.rate)  # the echo assistant says it back
            rig.wait_mic_idle()
            call = sim.only_call()
            ctl(rig, sock, "end")
            wait_for_count(log, CLOSED.format("speaker"), 2, proc, 20)
        finally:
            heard, rate, _ = rig.stop_speaker_recording()
        wait_for_count(log, CLOSED.format("microphone"), 2, proc, 5)
        assert streams_of(rig, proc.pid) == {"sink-inputs": 0, "source-outputs": 0}
    finally:
        terminate(proc, 20)
    assert proc.returncode == 0, log.read_text()[-3000:]

    sound = chime(rate)
    at, corr = align_and_correlate(sound, heard, rate)
    first = len(sound) // 8
    _, onset = align_and_correlate(sound[:first], heard[max(0, int(at * rate) - 480):], rate)
    up = wav_bytes(sim.get_bytes(f"/_sim/calls/{call['id']}/uplink.wav"))
    print(f"\nchime at {at:.2f} s, correlation {corr:.3f} (its first eighth {onset:.3f}); "
          f"uplink {len(up) / 16000:.1f} s, its loudest second {loudest_db(up):.1f} dBFS")
    assert corr >= 0.9 and onset >= 0.9, "the chime heard whole, from its first sample"
    assert loudest_db(up) > -40, "the call heard the microphone"
    assert rms_db(heard[int((at + len(sound) / rate) * rate):]) > -50, \
        "the speaker played the call (the echo assistant's reply)"


def loudest_db(x: np.ndarray, rate: int = 16000) -> float:
    return max((rms_db(x[i:i + rate]) for i in range(0, max(1, len(x) - rate), rate // 4)),
               default=-120.0)


# A DeviceSource as the daemon holds it through standby (bridge/service/idle.py): open,
# paused while the kiosk waits, resumed for the next call. Run in a child process on the
# rig's devices; prints, for each read in the 300 ms after the resume, when the device
# says the newest sample read was captured, relative to the resume (null: not yet known).
RESUMED = """
import json, sys, time
from bridge.audio.devices import DeviceSource
src = DeviceSource(sys.argv[1], 16000)
src.start()
deadline = time.monotonic() + 5
while not len(src.read(0)) or src.captured_until is None:
    assert time.monotonic() < deadline, "the microphone never delivered"
    time.sleep(0.01)
src.read(0)
src.pause()
time.sleep(float(sys.argv[2]))
resumed = time.monotonic()
src.resume()
stamps = []
while time.monotonic() < resumed + 0.3:
    src.read(0)
    at = src.captured_until
    stamps.append(None if at is None else round(at - resumed, 4))
    time.sleep(0.001)
src.close()
print(json.dumps(stamps))
"""


def test_a_resumed_microphone_claims_no_capture_from_before_its_pause(
        rig: PulseRig, tmp_path: Path) -> None:
    """Between two calls of a standby kiosk the microphone is closed; its capture clock
    kept the last call's last block, so the next call's first frames, read before the
    reopened stream's first block, were stamped as captured when the last call ended: the
    recording of that call began with as much silence on both legs as the kiosk had
    waited (4 s of 17 in 2 of 20 calls on this rig; a wait over 10 s, a clock jump)."""
    gap = 0.6
    out = subprocess.run([sys.executable, "-c", RESUMED, rig.mic_device, str(gap)],
                         env=rig_env(rig), cwd=ROOT, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr[-2000:]
    stamps = json.loads(out.stdout.splitlines()[-1])
    known = [s for s in stamps if s is not None]
    print(f"\n{len(stamps)} reads: {stamps.count(None)} before the first block, then "
          f"{known[:1]} s after the resume")
    assert known, "the reopened microphone never delivered a block"
    assert min(known) > -0.25, (f"a read after the resume said its samples were captured "
                                f"{-min(known):.2f} s before it (the pause lasted {gap} s)")
