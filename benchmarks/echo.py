"""Barge-in and echo removal per `audio.echo` mode and echo path.

The real echo controls run on a synthetic kiosk at 48 kHz, fed 20 ms blocks as the uplink
feeds them: the far end is what the speaker was handed; the microphone hears it after the
speaker's latency (40 ms), the echo path (none; -20 dB, 40 ms; -6 dB, 40 ms; and a
reverberant room: -6 dB, 40 ms with a diffuse tail of RT60 0.5 s) and its own
latency (20 ms), over the microphone's own noise (-70 dBFS). The assistant says a 7 s
line (espeak-ng, -6 dBFS peaks).

- barge-in: a visitor (another line, same level) starts talking 0, 40 ms (with the first
  echo), 0.5, 1.5 or 3 s after the assistant's first word leaves the speaker. The time
  until the output carries the visitor — a 10 ms frame of visitor speech kept within
  10 dB of what the microphone captured — counted from their onset in the microphone
  stream; the worst of the five onsets. "kept" is the visitor's level in the output while
  both talk, relative to the microphone (its median over the visitor's frames).
- echo removed: with the visitor silent, the microphone's energy over what is left of it
  in the output, over the whole line (its 10 ms frames where the echo is 20 dB above
  the noise, so the noise does not count as echo).
- CPU: microseconds of CPU time per 20 ms block (far + near), this machine, with the
  visitor silent (the median of three runs), and "talking": with the visitor talking over
  the assistant (the median of the five onsets). The load average is printed above.

    .venv/bin/python benchmarks/echo.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.audio.echo import make_echo_control  # noqa: E402
from tests.rig.signals import espeak  # noqa: E402

RATE = 48000
BLOCK = RATE // 50
OUT_LAT, IN_LAT = 40, 20  # ms
ONSETS_S = (0.0, 0.04, 0.5, 1.5, 3.0)
PATHS = (("none", None, 0, 0.0), ("-20 dB, 40 ms", -20.0, 40, 0.0),
         ("-6 dB, 40 ms", -6.0, 40, 0.0), ("-6 dB, RT60 0.5s", -6.0, 40, 0.5))
ASSISTANT = ("Welcome to the front desk. Please tell me your name and who you are here to "
             "see, and I will let them know that you have arrived. The lifts are on your left.")
VISITOR = "Excuse me, I am Robin Smith and I am here to see Doctor Lee"
LEAD = RATE // 2  # the far end starts after 0.5 s of silence
CPU_RUNS = 3  # the CPU figure: the median of this many runs with the visitor silent


def ms(n: int) -> int:
    return RATE * n // 1000


NOISE = 32768 * 10 ** (-70 / 20)


def response(gain_db: float, rt60: float) -> np.ndarray:
    """The echo path's impulse response: the direct sound, and with `rt60` a diffuse tail
    (decaying 60 dB in rt60 s) holding a quarter of the direct sound's energy."""
    direct = 10 ** (gain_db / 20)
    if not rt60:
        return np.array([direct])
    t = np.arange(int(rt60 * RATE)) / RATE
    tail = np.random.default_rng(5).standard_normal(len(t)) * 10 ** (-3 * t / rt60)
    tail[: ms(3)] = 0.0
    tail *= 0.5 * direct / np.sqrt(np.sum(tail ** 2))
    tail[0] = direct
    return tail


def room(far: np.ndarray, gain_db: float | None, delay_ms: int, visitor: np.ndarray | None,
         onset: int, noise: float = NOISE, rt60: float = 0.0) -> np.ndarray:
    """The microphone stream: echo of what the speaker was handed, plus the visitor."""
    mic = np.random.default_rng(0).normal(0.0, noise, len(far))
    if gain_db is not None:
        d = ms(OUT_LAT + delay_ms + IN_LAT)
        echo = np.convolve(far.astype(np.float64), response(gain_db, rt60))[: len(far) - d]
        mic[d:] += echo
    if visitor is not None:
        mic[onset:onset + len(visitor)] += visitor[: len(mic) - onset]
    return np.clip(mic, -32768, 32767).astype(np.int16)


def run(mode: str, far: np.ndarray, mic: np.ndarray) -> tuple[np.ndarray, float]:
    """The output stream and the CPU per block (µs)."""
    control = make_echo_control(mode, RATE, OUT_LAT + IN_LAT)
    if control is None:
        return mic.copy(), 0.0
    out = np.zeros(len(mic), np.int16)
    pos, spent = 0, 0.0
    for i in range(0, len(mic) - BLOCK + 1, BLOCK):
        t = time.process_time()
        control.far(far[i:i + BLOCK])
        got = control.near(mic[i:i + BLOCK])
        spent += time.process_time() - t
        out[pos:pos + len(got)] = got
        pos += len(got)
    return out, spent / (len(mic) // BLOCK) * 1e6


def frames(x: np.ndarray) -> np.ndarray:
    n = len(x) // ms(10)
    return x[: n * ms(10)].astype(np.float64).reshape(n, ms(10))


def barge_in(out: np.ndarray, visitor: np.ndarray, onset: int) -> tuple[float, float]:
    """(ms from onset until the output carries the visitor, median level kept in dB)."""
    v = frames(visitor)
    power = np.mean(v ** 2, axis=1)
    speech = power > power.max() * 10 ** (-25 / 10)
    o = frames(out[onset:onset + len(visitor)])
    kept = np.sum(o * v[: len(o)], axis=1) / np.maximum(np.sum(v[: len(o)] ** 2, axis=1), 1)
    heard = speech[: len(o)] & (kept >= 10 ** (-10 / 20))
    if not heard.any():
        return float("inf"), float("-inf")
    first = int(np.argmax(heard))
    level = 20 * np.log10(max(float(np.median(np.abs(kept[speech[: len(o)]]))), 1e-6))
    return (first + 1) * 10.0, level


def main() -> None:
    far_line = espeak(ASSISTANT, RATE, peak_db=-6.0)
    visitor = espeak(VISITOR, RATE, peak_db=-6.0)
    first_word = int(np.argmax(np.abs(far_line) > 300))
    n = LEAD + len(far_line) + RATE
    far = np.zeros(n, np.int16)
    far[LEAD:LEAD + len(far_line)] = far_line
    speaker_onset = LEAD + first_word + ms(OUT_LAT)  # the first word leaves the speaker
    v_start = int(np.argmax(np.abs(visitor) > 300))
    visitor = visitor[v_start:]
    modes = ("off", "gate", "aec")
    print(f"Echo control at {RATE} Hz, 20 ms blocks (gate is the default); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'echo path':<16} {'mode':<5} {'barge-in (worst)':>16} {'kept':>8} "
          f"{'echo removed':>13} {'CPU/20 ms':>10} {'talking':>8}")
    for name, gain_db, delay, rt60 in PATHS:
        for mode in modes:
            worst, kept, talking = 0.0, [], []
            for onset_s in ONSETS_S:
                onset = speaker_onset + int(onset_s * RATE) + ms(IN_LAT)
                mic = room(far, gain_db, delay, visitor, onset, rt60=rt60)
                out, spent = run(mode, far, mic)
                talking.append(spent)
                arrival, level = barge_in(out, visitor, onset)
                worst = max(worst, arrival)
                kept.append(level)
            mic = room(far, gain_db, delay, None, 0, rt60=rt60)
            runs = [run(mode, far, mic) for _ in range(CPU_RUNS)]
            out, cpu = runs[0][0], float(np.median([c for _, c in runs]))
            echo = np.sum(frames(room(far, gain_db, delay, None, 0, 0.0, rt60)) ** 2, axis=1)
            audible = echo > 100 * NOISE ** 2 * ms(10)
            before, after = np.sum(frames(mic)[audible] ** 2), np.sum(frames(out)[audible] ** 2)
            removed = ("no echo" if gain_db is None else
                       f"{10 * np.log10(before / max(after, 1.0)):.1f} dB")
            shown = "never" if worst == float("inf") else f"{worst:.0f} ms"
            low = min(kept)
            level = "none" if low == float("-inf") else f"{low if abs(low) >= 0.05 else 0.0:.1f} dB"
            print(f"{name:<16} {mode:<5} {shown:>16} {level:>8} {removed:>13} {cpu:>7.0f} µs "
                  f"{float(np.median(talking)):>5.0f} µs")


if __name__ == "__main__":
    # no options: --help shows what is measured, anything else is refused
    argparse.ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
