"""How often the wake word is heard, and how often words like it place a call, off the devices.

Each phrase is said by espeak-ng in `--voices` voices at 120, 150 and 180 words a minute
(peak -12 dBFS, half a second of silence before, 0.7 s after), at 48 kHz, and fed as
standby feeds a device (`bridge.audio.wakeword` after the bridge's resampler, 40 ms blocks),
each to a fresh detector. A trial counts when the model's probability (its sliding mean)
rises above the threshold. The wake word is then said over noise at each SNR (the speech's
active RMS over the noise's): white, pink, and a reception's babble (five espeak-ng voices
talking at once, no "okay" among them). Last, a stream of reception chatter per voice, with
two lines that begin like the word ("Okay now, …", "OK, not you, …"): detections per hour.

    .venv/bin/python benchmarks/wake_accuracy.py [--voices 8] [--model okay_nabu]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.audio.resample import Resampler  # noqa: E402
from bridge.audio.wakeword import RATE, WakeWordDetector  # noqa: E402
from tests.rig.signals import espeak, silence  # noqa: E402

DEVICE_RATE = 48000
BLOCK = DEVICE_RATE * 40 // 1000  # what standby reads every 40 ms
VOICES = ("en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-029", "en+f3", "en-us+f2",
          "en+m3")
SPEEDS = (120, 150, 180)
WORD = ("okay nabu", "ok nabu", "okay nabu, I have an appointment")
ALIKE = ("okay now", "hey nabu", "okay google", "OK, not you", "Nadia", "okay Nadia",
         "okay, no boo", "okay Anna", "okay, nah")
THRESHOLDS = (0.5, 0.7, 0.85, 0.9, 0.95, 0.97)
SNRS = (30, 20, 15, 10, 5, 0)
CHATTER = (
    "Good morning, I have an appointment at ten with Doctor Lee.",
    "Could you sign in here please, and take a visitor badge.",
    "The lifts are on your left, second floor.",
    "Okay, thank you, that is very kind of you.",
    "Is there somewhere I can leave my coat?",
    "Okay now, where is the elevator?",
    "Hi Nadia, how was your weekend?",
    "The delivery is for the third floor, can you call them?",
    "Okay, no problem, I will wait over there.",
    "Nobody told me the meeting had moved.",
    "Do you know if the cafe is open yet?",
    "OK, not you, I was talking to my colleague.",
)


def peak(audio: np.ndarray, model: str) -> float:
    """The highest probability over `audio` (48 kHz), fed as standby feeds it."""
    detector = WakeWordDetector(model, threshold=1.0)
    resampler = Resampler(DEVICE_RATE, RATE)
    for i in range(0, len(audio), BLOCK):
        detector.feed(resampler.process(audio[i:i + BLOCK]))
    detector.close()
    return detector.peak


def said(text: str, voice: str, speed: int) -> np.ndarray:
    return np.concatenate([silence(500, DEVICE_RATE),
                           espeak(text, DEVICE_RATE, voice=voice, speed=speed, peak_db=-12.0),
                           silence(700, DEVICE_RATE)])


def active_rms(x: np.ndarray) -> float:
    """RMS over the 10 ms frames within 26 dB of the loudest (the speech, not its pauses)."""
    n = len(x) // 480 * 480
    frames = np.sqrt((x[:n].astype(np.float64).reshape(-1, 480) ** 2).mean(axis=1))
    return float(np.sqrt((frames[frames > frames.max() * 0.05] ** 2).mean()))


def babble(voices: tuple[str, ...]) -> np.ndarray:
    tracks = []
    for k, voice in enumerate(voices[:5]):
        lines = [t for t in CHATTER if "kay" not in t and "OK" not in t]
        lines = lines[k:] + lines[:k]
        tracks.append(np.concatenate([espeak(t, DEVICE_RATE, voice=voice, speed=160,
                                             peak_db=-6.0).astype(np.float64)
                                      for t in lines]))
    n = min(len(t) for t in tracks)
    return np.sum([t[:n] for t in tracks], axis=0)


def noise(kind: str, n: int, rng: np.random.Generator, crowd: np.ndarray) -> np.ndarray:
    if kind == "babble":
        start = int(rng.integers(0, len(crowd) - n))
        return crowd[start:start + n].copy()
    white = rng.standard_normal(n)
    if kind == "white":
        return white
    spectrum = np.fft.rfft(white)
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    return np.fft.irfft(spectrum / np.sqrt(f), n)


def mixed(speech: np.ndarray, extra: np.ndarray, snr_db: float) -> np.ndarray:
    extra = extra * active_rms(speech) / (np.sqrt((extra ** 2).mean()) * 10 ** (snr_db / 20))
    y = speech.astype(np.float64) + extra
    y *= min(1.0, 32000 / np.abs(y).max())
    return y.astype(np.int16)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", type=int, default=len(VOICES))
    parser.add_argument("--model", default="okay_nabu")
    args = parser.parse_args()
    voices = VOICES[:max(1, args.voices)]
    trials = [(v, s) for v in voices for s in SPEEDS]
    print(f"{args.model}: each phrase in {len(voices)} voices x {len(SPEEDS)} speeds "
          f"= {len(trials)} trials; calls placed at each threshold")
    print(f"{'phrase':<34}" + "".join(f"{t:>6}" for t in THRESHOLDS))
    for text in WORD + ALIKE:
        peaks = np.array([peak(said(text, v, s), args.model) for v, s in trials])
        print(f"{text:<34}" + "".join(f"{int((peaks > t).sum()):>6}" for t in THRESHOLDS))

    rng = np.random.default_rng(1)
    crowd = babble(VOICES)
    print(f"\n{WORD[0]!r} over noise: calls of {len(trials)} at the model's threshold "
          f"(at 0.7 in brackets); SNR in dB")
    print(f"{'noise':<8}" + "".join(f"{snr:>9}" for snr in SNRS))
    cutoff = WakeWordDetector(args.model).threshold
    words = [said(WORD[0], v, s) for v, s in trials]  # (each spoken once, not per SNR)
    for kind in ("white", "pink", "babble"):
        row = []
        for snr in SNRS:
            peaks = np.array([peak(mixed(w, noise(kind, len(w), rng, crowd), snr), args.model)
                              for w in words])
            row.append(f"{int((peaks > cutoff).sum())} ({int((peaks > 0.7).sum())})")
        print(f"{kind:<8}" + "".join(f"{r:>9}" for r in row))

    seconds, found = 0.0, []
    for voice in voices:
        parts = []
        for text in CHATTER:
            parts += [espeak(text, DEVICE_RATE, voice=voice, speed=160, peak_db=-12.0),
                      silence(float(rng.uniform(300, 1500)), DEVICE_RATE)]
        audio = np.concatenate(parts)
        seconds += len(audio) / DEVICE_RATE
        detector = WakeWordDetector(args.model)
        resampler = Resampler(DEVICE_RATE, RATE)
        for i in range(0, len(audio), BLOCK):
            if detector.feed(resampler.process(audio[i:i + BLOCK])) is not None:
                found.append(f"{voice} at {i / DEVICE_RATE:.1f} s")
        detector.close()
    print(f"\nreception chatter, {seconds:.0f} s: {len(found)} calls "
          f"({len(found) / seconds * 3600:.0f} an hour of such talk): {', '.join(found)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
