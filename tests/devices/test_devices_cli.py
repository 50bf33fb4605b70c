"""`vapi-bridge devices`, and choosing a device, through the rig's real PortAudio devices."""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.audio.device_lookup import choose_rate
from bridge.errors import AudioDeviceError
from tests.devices.conftest import (
    ROOT,
    list_devices_json,
    run_bridge,
    running_bridge,
    wait_streaming,
    write_profile,
)
from tests.rig.pulse import PulseRig


def test_devices_lists_the_virtual_devices(rig: PulseRig) -> None:
    table = run_bridge(rig, "devices")
    assert table.returncode == 0, table.stderr
    rows = {line.split()[-1]: line.split() for line in table.stdout.splitlines()[1:]
            if "<-" not in line}
    assert {"vb_mic", "vb_speaker"} <= set(rows), table.stdout
    idx, ins, outs, _rate, api = rows["vb_mic"][:5]
    assert (int(ins) > 0, int(outs), api) == (True, 0, "ALSA")
    assert int(rows["vb_speaker"][1]) == 0 and int(rows["vb_speaker"][2]) > 0
    assert "<- default input" in table.stdout and "<- default output" in table.stdout

    devices = {d["name"]: d for d in list_devices_json(rig)}
    mic, speaker = devices["vb_mic"], devices["vb_speaker"]
    assert mic["inputs"] > 0 and mic["outputs"] == 0
    assert speaker["outputs"] > 0 and speaker["inputs"] == 0
    assert str(mic["index"]) == idx
    # PortAudio probes the default rate; the pulse-backed devices always say 44100
    assert mic["default_rate"] == speaker["default_rate"] == 44100.0
    assert {"index", "name", "hostapi", "inputs", "outputs", "default_rate", "default_input",
            "default_output"} == set(mic)
    assert sum(d["default_input"] for d in devices.values()) == 1
    assert sum(d["default_output"] for d in devices.values()) == 1


@pytest.mark.parametrize(("key", "kind", "real"), [("input", "input", "vb_mic"),
                                                   ("output", "output", "vb_speaker")])
def test_a_missing_device_fails_listing_the_real_ones(rig: PulseRig, tmp_path: Path, key: str,
                                                      kind: str, real: str) -> None:
    profile = write_profile(tmp_path / "p.yaml", "http://127.0.0.1:9",
                            audio={key: "no-such-device"})
    result = run_bridge(rig, "run", "--profile", str(profile))
    assert result.returncode == 4, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("vapi-bridge:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"vapi-bridge: audio.{key}: no {kind} device named "
                                f"'no-such-device'; available {kind}s: ")
    assert f": {real}" in errors[0] and "vapi-bridge devices" in errors[0]
    assert "Traceback" not in result.stderr


def test_an_ambiguous_name_and_a_wrong_index_are_refused(rig: PulseRig, tmp_path: Path) -> None:
    names = [d["name"] for d in list_devices_json(rig) if d["inputs"] > 0]
    assert "pulse" in names and "default" in names  # both contain "ul"
    profile = write_profile(tmp_path / "p.yaml", "http://127.0.0.1:9", audio={"input": "ul"})
    result = run_bridge(rig, "run", "--profile", str(profile))
    assert result.returncode == 4
    assert "audio.input 'ul' matches several devices ('pulse', 'default')" in result.stderr

    result = run_bridge(rig, "run", "--profile", str(profile), "--set", "audio.input=99")
    assert result.returncode == 4
    assert "no input device with index 99; available inputs: " in result.stderr


def test_device_by_index_and_by_substring_with_latency_and_block(
        rig: PulseRig, start_sim, tmp_path: Path) -> None:
    sim = start_sim("echo")
    mic = next(d for d in list_devices_json(rig) if d["name"] == "vb_mic")
    profile = write_profile(tmp_path / "p.yaml", sim.base_url,
                            audio={"input": mic["index"], "output": "speaker",
                                   "latency": 0.1, "block_ms": 10, "echo": "off"})
    with running_bridge(rig, profile) as bp:
        wait_streaming(sim, bp)
        bp.stop()
        assert bp.finish() == 0, bp.err
    # 16 kHz: the wire rate, which the devices take, so no resampling
    assert "microphone: vb_mic at 16000 Hz, 160-frame blocks" in bp.err, bp.err
    assert "speaker: vb_speaker at 16000 Hz, 160-frame blocks" in bp.err, bp.err
    latencies = [float(line.split(", ")[-1].split()[0]) for line in bp.err.splitlines()
                 if "PortAudio latency" in line]
    assert len(latencies) == 2 and all(ms >= 90 for ms in latencies), bp.err


def _hide_portaudio() -> list[str] | None:
    """A command prefix running a child with libportaudio unreadable (a private mount
    namespace binds /dev/null over it), or None where that is not permitted."""
    lib = ctypes.util.find_library("portaudio")
    unshare = shutil.which("unshare")
    if lib is None or unshare is None:
        return None
    path = next((os.path.realpath(os.path.join(d, lib)) for d in
                 ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib",
                  "/usr/local/lib") if os.path.exists(os.path.join(d, lib))), None)
    if path is None:
        return None
    root = [] if os.geteuid() == 0 else ["--map-root-user"]
    prefix = [unshare, *root, "--mount", "--propagation", "private", "sh", "-c",
              f'mount --bind /dev/null "{path}" && exec "$0" "$@"']
    probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10)
    return prefix if probe.returncode == 0 else None


def test_missing_portaudio_is_one_line_naming_the_package(tmp_path: Path) -> None:
    prefix = _hide_portaudio()
    if prefix is None:
        pytest.skip("cannot hide libportaudio here (needs unshare and a mount namespace)")
    for args in (["devices"], ["run", "--profile", str(write_profile(
            tmp_path / "p.yaml", "http://127.0.0.1:9"))]):
        result = subprocess.run([*prefix, sys.executable, "-m", "bridge", *args], cwd=ROOT,
                                capture_output=True, text=True, timeout=30,
                                env={**os.environ, "VAPI_API_KEY": "k"})
        assert result.returncode == 4, result.stderr
        assert result.stderr.strip() == ("vapi-bridge: the PortAudio library is not installed "
                                         "— run: sudo apt-get install libportaudio2")


def test_rate_choice() -> None:
    """The fallback the rig cannot provoke (its devices take any rate): a 48 kHz-only
    device, as many USB microphones are."""

    def only_48k(rate: int) -> str | None:
        return None if rate == 48000 else "Invalid sample rate [PaErrorCode -9997]"

    assert choose_rate("input", 16000, None, 48000, only_48k) == 48000
    assert choose_rate("output", 48000, None, 44100, only_48k) == 48000
    assert choose_rate("input", 16000, None, 44100, lambda r: None) == 16000
    assert choose_rate("input", 16000, 48000, 44100, only_48k) == 48000
    # a speaker on µ-law's 8 kHz wire opens at its default rate (the bridge resamples,
    # before the playout buffer a barge-in flushes), unless that is refused or lower;
    # a microphone keeps the wire rate
    assert choose_rate("output", 8000, None, 44100, lambda r: None) == 44100
    assert choose_rate("output", 8000, None, 44100, lambda r: None if r == 8000 else "no") \
        == 8000
    assert choose_rate("output", 8000, None, 8000, lambda r: None) == 8000
    assert choose_rate("output", 8000, 8000, 48000, lambda r: None) == 8000
    assert choose_rate("input", 8000, None, 44100, lambda r: None) == 8000
    with pytest.raises(AudioDeviceError, match=r"the microphone refuses audio.device_rate "
                                               r"16000 Hz \(Invalid sample rate"):
        choose_rate("input", 8000, 16000, 48000, only_48k)
    with pytest.raises(AudioDeviceError, match=r"the speaker refuses 16000 Hz .* and its "
                                               r"default 44100 Hz; set audio.device_rate"):
        choose_rate("output", 16000, None, 44100, only_48k)
