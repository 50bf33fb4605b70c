"""The `sounds:` section: defaults are the bundled files, a path is checked at load (one
line naming the key and the fix, exit 2), null turns a sound off."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from bridge.errors import ProfileError
from bridge.profile import parse_profile
from bridge.profile.sounds import SOUND_KEYS, bundled

GOOD = "assistant:\n  id: asst-1\n"


def write_wav(path: Path, rate: int = 16000, width: int = 2, seconds: float = 0.2) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(b"\x00" * int(rate * seconds) * width)
    return path


def samples(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def test_defaults_are_the_bundled_sounds_and_hang_is_off() -> None:
    s = parse_profile(GOOD).sounds
    assert (s.triggered, s.connecting, s.offline, s.hang) == ("default",) * 3 + (None,)
    assert s.volume_db == 0.0
    for name in SOUND_KEYS:  # every bundled file is in the package, and short
        with wave.open(str(bundled(name)), "rb") as w:
            assert w.getnchannels() == 1 and w.getsampwidth() == 2
            assert w.getframerate() in (16000, 22050)
            assert 0.1 < w.getnframes() / w.getframerate() < 6.0


def test_a_relative_path_is_relative_to_the_profile_and_null_or_off_is_none(
        tmp_path: Path) -> None:
    write_wav(tmp_path / "ding.wav")
    s = parse_profile(GOOD + "sounds:\n  triggered: ding.wav\n  connecting: null\n"
                      "  offline: off\n  hang: default\n", directory=tmp_path).sounds
    assert s.triggered == str(tmp_path / "ding.wav")
    assert s.connecting is None and s.offline is None
    assert s.hang == "default"


@pytest.mark.parametrize(("value", "expected"), [
    ("missing.wav", "sounds.offline: no such file: {dir}/missing.wav — give a 16-bit PCM WAV "
                    "file, `default` (the bundled sound) or null (no sound)"),
    ("notwav.wav", "sounds.offline: {dir}/notwav.wav is not a WAV file; only plain 16-bit "
                   "PCM WAV is read — convert it: sox {dir}/notwav.wav -b 16"),
    ("eight.wav", "sounds.offline: {dir}/eight.wav has 8-bit samples; only plain 16-bit PCM"),
    ("empty.wav", "sounds.offline: {dir}/empty.wav lasts 0.0 s"),
    (".", "sounds.offline: {dir} is a directory"),
    ("[1, 2]", "sounds.offline: expected default, a WAV file's path or null"),
])
def test_a_bad_sound_is_one_line_naming_the_key_and_the_fix(tmp_path: Path, value: str,
                                                            expected: str) -> None:
    (tmp_path / "notwav.wav").write_text("RIFF? no")
    write_wav(tmp_path / "eight.wav", width=1)
    write_wav(tmp_path / "empty.wav", seconds=0)
    with pytest.raises(ProfileError) as info:
        parse_profile(GOOD + f"sounds:\n  offline: {value}\n", origin="kiosk.yaml",
                      directory=tmp_path)
    message = str(info.value)
    assert message.startswith("kiosk.yaml:4: ")
    assert expected.format(dir=tmp_path) in message
    assert "\n" not in message


def test_run_with_a_missing_sound_exits_2_with_that_line(tmp_path: Path) -> None:
    profile = tmp_path / "kiosk.yaml"
    profile.write_text(GOOD + "sounds:\n  triggered: /nonexistent/ding.wav\n")
    result = subprocess.run([sys.executable, "-m", "bridge", "run", "--profile", str(profile)],
                            capture_output=True, text=True, timeout=30,
                            env={"VAPI_API_KEY": "sk-test", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "sounds.triggered: no such file: /nonexistent/ding.wav — give a 16-bit PCM" \
        in lines[0]
    assert "Traceback" not in result.stderr


def test_bundled_synthesized_sounds_regenerate_identically(tmp_path: Path) -> None:
    from bridge.audio import sounds_render

    sounds_render.main(["--out", str(tmp_path)])
    for name in ("triggered", "connecting", "hang"):
        fresh, shipped = samples(tmp_path / f"{name}.wav"), samples(bundled(name))
        assert len(fresh) == len(shipped), name
        # the same bytes here; 1 LSB of leeway for another platform's libm
        assert np.abs(fresh.astype(np.int32) - shipped).max() <= 1, name


def test_the_connecting_tone_loops_without_a_click() -> None:
    x = samples(bundled("connecting")).astype(np.int32)
    peak = np.abs(x).max()
    seam = np.concatenate([x[-16:], x[:16]])  # where the loop joins: silence into the pulse
    assert np.abs(seam).max() < 0.02 * peak
