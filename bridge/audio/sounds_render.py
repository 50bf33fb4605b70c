"""Render the kiosk's bundled sounds into `bridge/assets/sounds/` (16 kHz mono, 16-bit):

- `triggered.wav`: a two-note chime (G5 then C6, soft bell partials, exponential decay);
- `connecting.wav`: one period of the connecting tone (a soft 440 Hz pulse, then silence),
  looped while a call is created and connected;
- `hang.wav`: a very soft low double tap, for `sounds.hang: default`;
- `offline.wav`: the offline line, spoken by espeak-ng (`--speech`; needs `espeak-ng`).

The synthesized three are a pure function of this file (numpy only), so regenerating them
gives the same bytes; the spoken line depends on espeak-ng's version, so it is rendered
only when asked. `python -m bridge.audio.sounds_render [--speech] [--out DIR]`.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from bridge.audio.resample import resample_all

RATE = 16000
OFFLINE_LINE = "Sorry, I can't connect right now. Please ask at the front desk."
ASSETS = Path(__file__).resolve().parent.parent / "assets" / "sounds"


def _dbfs(db: float) -> float:
    return 32767.0 * 10 ** (db / 20)


def _note(freq: float, seconds: float, decay_s: float) -> np.ndarray:
    """A bell-like note: fundamental with two soft inharmonic partials, a 4 ms attack and
    an exponential decay, ending at zero."""
    t = np.arange(int(seconds * RATE)) / RATE
    tone = (np.sin(2 * np.pi * freq * t) + 0.25 * np.sin(2 * np.pi * 2.76 * freq * t)
            + 0.08 * np.sin(2 * np.pi * 5.40 * freq * t))
    env = np.exp(-t / decay_s) * np.minimum(1.0, t / 0.004)
    env *= np.minimum(1.0, (seconds - t) / 0.02)  # the last 20 ms reach zero
    return tone * env


def _two(first: np.ndarray, second: np.ndarray, at_s: float, length_s: float,
         level_dbfs: float) -> np.ndarray:
    """`first` at 0 and `second` at `at_s` in `length_s` of silence, peak at the level."""
    out = np.zeros(int(length_s * RATE))
    out[: len(first)] += first
    at = int(at_s * RATE)
    out[at: at + len(second)] += second
    return out / np.abs(out).max() * _dbfs(level_dbfs)


def chime() -> np.ndarray:
    return _two(_note(784.0, 0.18, 0.09), _note(1046.5, 0.40, 0.14), 0.12, 0.56, -12)


def connecting_tone() -> np.ndarray:
    """One 0.8 s period: a 0.3 s raised-cosine pulse of 440 Hz (with a touch of 880 Hz),
    then silence. Starts and ends at zero, so it loops without a click."""
    period, pulse = int(0.8 * RATE), int(0.3 * RATE)
    t = np.arange(pulse) / RATE
    env = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(pulse) / pulse)
    tone = (np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 880 * t)) * env
    out = np.zeros(period)
    out[:pulse] = tone / np.abs(tone).max() * _dbfs(-24)
    return out


def hang_cue() -> np.ndarray:
    tap = _note(523.3, 0.12, 0.04)
    return _two(tap, tap, 0.15, 0.3, -30)


def offline_line(voice: str = "en-us", wpm: int = 150) -> np.ndarray:
    """The offline line from espeak-ng, at 16 kHz, trimmed and peak-normalised."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "line.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(path),
                        OFFLINE_LINE], check=True, capture_output=True)
        with wave.open(str(path), "rb") as w:
            rate = w.getframerate()
            data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    x = resample_all(data.astype(np.int16), rate, RATE).astype(np.float64)
    loud = np.flatnonzero(np.abs(x) > 100)
    x = x[max(0, loud[0] - RATE // 50): loud[-1] + RATE // 20]
    return x / np.abs(x).max() * _dbfs(-3)


def write_wav(path: Path, samples: np.ndarray) -> None:
    data = np.clip(np.rint(samples), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(data.tobytes())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bridge.audio.sounds_render",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ASSETS, help="directory (default: %(default)s)")
    parser.add_argument("--speech", action="store_true",
                        help="also render offline.wav with espeak-ng")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rendered = {"triggered": chime(), "connecting": connecting_tone(), "hang": hang_cue()}
    if args.speech:
        rendered["offline"] = offline_line()
    for name, samples in rendered.items():
        write_wav(args.out / f"{name}.wav", samples)
        print(f"{args.out / name}.wav: {len(samples) / RATE:.2f} s")


if __name__ == "__main__":
    main()
