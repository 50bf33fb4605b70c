"""The wake word off the devices: the detector wrapper on WAV files (espeak-ng's voice at
48 kHz, through the bridge's own resampler in 40 ms blocks, as standby reads a device), its
refractory time, and `trigger.*` in a profile: bad values, a custom model, the [wake]
extra missing (one line, exit 2), and a wake word outside standby mode (a warning)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bridge.audio.resample import Resampler
from bridge.audio.wakeword import RATE, WakeWordDetector
from bridge.errors import ProfileError
from bridge.profile import parse_profile
from bridge.service.standby import detector_for
from tests.rig.signals import espeak, read_wav, silence, write_wav

ROOT = Path(__file__).resolve().parents[2]
DEVICE_RATE = 48000
BLOCK = DEVICE_RATE * 40 // 1000  # what standby reads every 40 ms
# ten seconds and more of a visitor's speech without the wake word
SPEECH = ("Good morning. I have an appointment at half past ten with Doctor Lee on the second "
          "floor. Could you tell me where the lifts are, and whether I can leave my coat here? "
          "Okay, thank you, that is very kind of you.")
STANDBY = "assistant:\n  id: a\nservice:\n  mode: standby\n"


def wav_of(tmp_path: Path, *texts: str, gap_ms: float = 500) -> Path:
    """`texts` said by `espeak-ng -v en -s 120`, half a second of silence around each, in a
    48 kHz WAV file."""
    parts = [silence(gap_ms, DEVICE_RATE)]
    for text in texts:
        parts += [espeak(text, DEVICE_RATE, voice="en", speed=120, peak_db=None),
                  silence(gap_ms, DEVICE_RATE)]
    path = tmp_path / "said.wav"
    write_wav(path, np.concatenate(parts), DEVICE_RATE)
    return path


def detections(path: Path, detector: WakeWordDetector) -> list[tuple[float, float]]:
    """(seconds into the file, probability) of each detection."""
    audio, rate = read_wav(path)
    audio = audio.ravel()
    resampler = Resampler(rate, RATE)
    found = []
    for i in range(0, len(audio), BLOCK):
        prob = detector.feed(resampler.process(audio[i:i + BLOCK]))
        if prob is not None:
            found.append(((i + BLOCK) / rate, prob))
    return found


def test_okay_nabu_is_heard_once_at_the_models_threshold(espeak_ng: None,
                                                        tmp_path: Path) -> None:
    detector = WakeWordDetector("okay_nabu")
    assert detector.threshold == 0.85  # the model's own probability_cutoff
    found = detections(wav_of(tmp_path, "okay nabu"), detector)
    print(f"\nokay nabu: detected at {found}, peak probability {detector.peak:.3f}")
    assert len(found) == 1
    assert 1.0 < found[0][0] < 2.5, "heard as the word ends, not before"


def test_speech_without_the_wake_word_is_not_heard(espeak_ng: None, tmp_path: Path) -> None:
    detector = WakeWordDetector("okay_nabu")
    path = wav_of(tmp_path, "hello there", SPEECH)
    audio, rate = read_wav(path)
    assert len(audio) / rate >= 12
    found = detections(path, detector)
    print(f"\nhello there + {len(audio) / rate:.1f} s: peak probability {detector.peak:.3f}")
    assert found == []


@pytest.mark.parametrize(("refractory", "heard"), [(0.0, 2), (3.0, 1)])
def test_a_second_wake_word_within_the_refractory_time_is_ignored(
        espeak_ng: None, tmp_path: Path, refractory: float, heard: int) -> None:
    path = wav_of(tmp_path, "okay nabu", "okay nabu", gap_ms=700)
    found = detections(path, WakeWordDetector("okay_nabu", refractory_s=refractory))
    assert len(found) == heard, found


@pytest.mark.parametrize("between", ["skipped", "rearmed"])
def test_a_word_said_again_once_the_speaker_stops_or_the_wait_begins_is_heard(
        espeak_ng: None, tmp_path: Path, between: str) -> None:
    """The refractory time ran only in listened audio: a word, then the kiosk's speaker (a
    call, the offline line: not listened to), then the word said again as it stopped was
    ignored as a repeat of the first (3 of 3 runs on the rig right after a call)."""
    path = wav_of(tmp_path, "okay nabu")
    detector = WakeWordDetector("okay_nabu", refractory_s=10.0)
    assert len(detections(path, detector)) == 1
    if between == "skipped":
        detector.skip(11 * RATE)  # the offline line played 11 s
    else:
        detector.rearm()  # a call came and went: a new wait
    detector.reset()
    assert len(detections(path, detector)) == 1


def test_a_custom_model_is_its_json_relative_to_the_profile(espeak_ng: None,
                                                            tmp_path: Path) -> None:
    import pymicro_wakeword

    bundled = Path(pymicro_wakeword.__file__).parent / "models"
    models = tmp_path / "models"
    models.mkdir()
    for name in ("okay_nabu.json", "okay_nabu.tflite"):
        shutil.copy(bundled / name, models / name)
    profile = parse_profile(STANDBY + "trigger:\n  wake_word: models/okay_nabu.json\n"
                            "  threshold: 0.5\n", origin="kiosk.yaml", directory=tmp_path)
    detector = detector_for(profile)
    assert detector is not None and detector.threshold == 0.5
    assert len(detections(wav_of(tmp_path, "okay nabu"), detector)) == 1

    (models / "broken.json").write_text(json.dumps({"model": "okay_nabu.tflite"}))
    for model, why in (("models/broken.json", "is not a microWakeWord model's JSON"),
                       ("models/absent.json", "cannot load")):
        profile = parse_profile(STANDBY + f"trigger:\n  wake_word: {model}\n",
                                origin="kiosk.yaml", directory=tmp_path)
        with pytest.raises(ProfileError) as info:
            detector_for(profile)
        assert str(info.value).startswith("trigger.wake_word: ")
        assert why in str(info.value)


@pytest.mark.parametrize(("value", "expected"), [
    ("okay_nabo", "kiosk.yaml:6: trigger.wake_word: 'okay_nabo' is neither a bundled model "
                  "(okay_nabu, hey_jarvis, alexa, hey_mycroft) nor a path to a model's .json "
                  "(did you mean 'okay_nabu'?)"),
    ("[1]", "kiosk.yaml:6: trigger.wake_word: expected a text value, got a list"),
])
def test_a_wake_word_that_is_neither_bundled_nor_a_json_is_refused(value: str,
                                                                  expected: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_profile(STANDBY + f"trigger:\n  wake_word: {value}\n", origin="kiosk.yaml")
    assert str(info.value) == expected


def test_a_wake_word_outside_standby_is_a_warning_and_not_listened_for() -> None:
    profile = parse_profile("assistant:\n  id: a\ntrigger:\n  wake_word: alexa\n",
                            origin="kiosk.yaml")
    assert ("trigger.wake_word is listened for in standby mode only; ignored in once mode — "
            "set service.mode: standby") in profile.warnings
    assert detector_for(profile) is None
    standby = parse_profile(STANDBY + "trigger:\n  wake_word: alexa\n", origin="kiosk.yaml")
    assert standby.warnings == ()
    assert standby.trigger.refractory_seconds == 2.0 and standby.trigger.threshold is None


def test_without_the_extra_run_says_so_in_one_line_and_exits_2(tmp_path: Path) -> None:
    """pymicro_wakeword shadowed by a package that fails to import, as a missing one does."""
    shadow = tmp_path / "shadow" / "pymicro_wakeword"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named "
                                        "'pymicro_wakeword'\", name='pymicro_wakeword')\n")
    profile = tmp_path / "kiosk.yaml"
    profile.write_text(STANDBY + "audio:\n  input: null\n  output: null\n"
                       "trigger:\n  wake_word: okay_nabu\n")
    result = subprocess.run([sys.executable, "-m", "bridge", "run", "--profile", str(profile)],
                            capture_output=True, text=True, timeout=60, cwd=ROOT,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "shadow"),
                                 "VAPI_API_KEY": "sk-test"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"vapi-bridge: {profile}:9: trigger.wake_word: a wake word needs the [wake] extra "
        f"(pymicro_wakeword is missing) — run: {sys.executable} -m pip install -e "
        f"'{ROOT}[wake]'"]
