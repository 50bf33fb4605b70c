"""The echo gate against the visitor's level and their words' soft starts.

benchmarks/echo.py's synthetic kiosk (48 kHz, 20 ms blocks, the speaker's 40 ms and the
microphone's 20 ms latency, -70 dBFS noise, the same espeak-ng line for the assistant),
with the default echo control:

- levels: the visitor's line at 0, -6, -12 and -18 dB (active speech level, 10 ms frames
  within 25 dB of the loudest) relative to the echo at the microphone, starting 0, 40 ms,
  0.5, 1.5 and 3 s after the assistant's first word leaves the speaker. "first heard": ms
  from the visitor's onset until a 10 ms frame of their speech is kept within 10 dB (as
  benchmarks/echo.py's barge-in), the median and the worst of the five onsets; then the
  share of the visitor's speech frames so kept: all of them, those while the assistant's
  echo is heard (within 30 dB of its loudest frame: double talk), those in its pauses;
  and the share of their speech energy kept.
- onsets: twelve visitor phrases at three onsets each (their level as the far end's, and
  +6 dB over the echo); for every word start while the echo is heard (2 ms frames rising
  30 dB below the phrase's loudest after 100 ms below it) the ms cut before the gate lets
  the visitor through (from the block it opened on, less what it let go from before).

    .venv/bin/python benchmarks/echo_visitor.py [--gate-only] [--phrases N] [--rooms N]

`--gate-only`: `EchoGate` without its look-back (`echo_lookback.py`), as before it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.signal import oaconvolve

sys.path.insert(0, str(Path(__file__).resolve().parent))
import echo as bench

from bridge.audio.echo import make_echo_control
from bridge.audio.echo_gate import EchoGate
from tests.rig.signals import espeak

RATE, BLOCK, F10 = bench.RATE, bench.BLOCK, bench.ms(10)
PATHS = (("-6 dB, 40 ms", -6.0, 40, 0.0), ("-6 dB, RT60 0.5s", -6.0, 40, 0.5))
LEVELS = (0.0, -6.0, -12.0, -18.0)
PHRASES = ("Excuse me, I am Robin Smith and I am here to see Doctor Lee",
           "Hello, sorry, can I ask something", "Hi, is this the front desk",
           "Sorry to interrupt", "Wait, where are the lifts", "Fine, thank you",
           "Hmm, I have a delivery", "Yes, that is me", "Should I sign in here",
           "Thanks, how long will it take", "Perhaps later", "Can you call a taxi")


def echo_of(far: np.ndarray, gain_db: float, delay_ms: int, rt60: float) -> np.ndarray:
    """benchmarks/echo.py's echo (`room` without noise or visitor), convolved by FFT."""
    d = bench.ms(bench.OUT_LAT + delay_ms + bench.IN_LAT)
    out = np.zeros(len(far))
    out[d:] = oaconvolve(far.astype(np.float64), bench.response(gain_db, rt60))[: len(far) - d]
    return out


def mic_of(echo: np.ndarray, visitor: np.ndarray, onset: int) -> np.ndarray:
    mic = np.random.default_rng(0).normal(0.0, bench.NOISE, len(echo)) + echo
    mic[onset:onset + len(visitor)] += visitor[: len(mic) - onset]
    return np.clip(mic, -32768, 32767).astype(np.int16)


def active_db(x: np.ndarray) -> float:
    p = np.mean(bench.frames(x) ** 2, axis=1)
    return float(10 * np.log10(np.mean(p[p > p.max() * 10 ** (-25 / 10)])))


def run(gate_only: bool, far: np.ndarray, mic: np.ndarray
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The output; each block's gain (at its end); how far the output was behind the
    input after each block (what the look-back held)."""
    control = EchoGate(RATE) if gate_only else make_echo_control("gate", RATE)
    assert control is not None
    gate = getattr(control, "gate", control)
    blocks = len(mic) // BLOCK
    out, gains, short, pos = np.zeros(len(mic), np.int16), np.zeros(blocks), np.zeros(blocks), 0
    for b in range(blocks):
        i = b * BLOCK
        control.far(far[i:i + BLOCK])
        got = control.near(mic[i:i + BLOCK])
        out[pos:pos + len(got)] = got
        pos += len(got)
        gains[b], short[b] = gate.gain, i + BLOCK - pos
    return out, gains, short


def kept(out: np.ndarray, v: np.ndarray, onset: int) -> np.ndarray:
    o = bench.frames(out[onset:onset + len(v)])
    f = bench.frames(v)[: len(o)]
    return np.sum(o * f, axis=1) / np.maximum(np.sum(f ** 2, axis=1), 1)


def word_starts(v: np.ndarray) -> list[int]:
    f = bench.ms(2)
    p = np.mean(v[: len(v) // f * f].reshape(-1, f) ** 2, axis=1)
    on = p > p.max() * 10 ** (-30 / 10)
    starts, quiet = [], 1 << 30
    for i, x in enumerate(on):
        if x and quiet >= 50:
            starts.append(i * f)
        quiet = 0 if x else quiet + 1
    return starts


def main(gate_only: bool, n_phrases: int, n_rooms: int) -> None:
    line = espeak(bench.ASSISTANT, RATE, peak_db=-6.0)
    far = np.zeros(bench.LEAD + len(line) + RATE, np.int16)
    far[bench.LEAD:bench.LEAD + len(line)] = line
    speaker = bench.LEAD + int(np.argmax(np.abs(line) > 300)) + bench.ms(bench.OUT_LAT)
    onsets = [speaker + int(s * RATE) + bench.ms(bench.IN_LAT) for s in bench.ONSETS_S]
    phrases = []
    for text in PHRASES[:n_phrases]:
        v = espeak(text, RATE, peak_db=-6.0)
        phrases.append(v[int(np.argmax(np.abs(v) > 300)):].astype(np.float64))
    print("echo control:", "gate without look-back" if gate_only else "default")
    for name, gain_db, delay, rt60 in PATHS[:n_rooms]:
        echo = echo_of(far, gain_db, delay, rt60)
        e_db = active_db(echo)
        p_echo = np.mean(bench.frames(echo) ** 2, axis=1)
        heard = p_echo > p_echo.max() * 10 ** (-30 / 10)
        print(f"\n{name}: visitor vs echo  first heard (median/worst)  speech kept: all  "
              "double talk  pauses  energy")
        for rel in LEVELS:
            v = phrases[0] * 10 ** ((e_db + rel - active_db(phrases[0])) / 20)
            speech = np.mean(bench.frames(v) ** 2, axis=1)
            loud = speech > speech.max() * 10 ** (-25 / 10)
            first, share = [], []
            for onset in onsets:
                out, _, _ = run(gate_only, far, mic_of(echo, v, onset))
                ok = loud[:len(k := kept(out, v, onset))] & (k >= 10 ** (-10 / 20))
                sp, dt = loud[:len(k)], heard[onset // F10:onset // F10 + len(k)]
                first.append((int(np.argmax(ok)) + 1) * 10.0 if ok.any() else float("inf"))
                share.append([ok.sum() / sp.sum(), (ok & dt).sum() / max(1, (sp & dt).sum()),
                              (ok & ~dt).sum() / max(1, (sp & ~dt).sum()),
                              np.sum(speech[:len(k)][ok]) / np.sum(speech[:len(k)][sp])])
            s = 100 * np.mean(share, axis=0)
            print(f"{'':<18}{rel:+5.0f} dB {np.median(first):>14.0f} / {max(first):.0f} ms "
                  f"{s[0]:>12.0f} % {s[1]:>9.0f} % {s[2]:>6.0f} % {s[3]:>6.0f} %")
        for label, rel in (("as loud as the far end", None), ("+6 dB over the echo", 6.0)):
            cut = []
            for v0 in phrases:
                v = v0 if rel is None else v0 * 10 ** ((e_db + rel - active_db(v0)) / 20)
                for onset in onsets[2:]:
                    _, gains, short = run(gate_only, far, mic_of(echo, v, onset))
                    for s in word_starts(v):
                        at = onset + s
                        if heard[min(at // F10, len(heard) - 1)]:  # over the echo
                            cut.append(cut_ms(gains, short, at))
            c = np.array(cut)
            print(f"  word starts, visitor {label}: {len(c)} over the echo; ms cut median "
                  f"{np.median(c):.0f}, p90 {np.percentile(c, 90):.0f}, max {c.max():.0f}; "
                  f"5 ms or more in {100 * np.mean(c >= 5):.0f} %")


def cut_ms(gains: np.ndarray, short: np.ndarray, at: int) -> float:
    """ms from microphone sample `at` until the gate let it through: from the first block
    at or after it with the gate open, less what that block let go from before it (the
    look-back); 0 if the gate was open already."""
    b = at // BLOCK
    if b and gains[b - 1] == 1.0:
        return 0.0
    opened = b
    while opened < len(gains) and gains[opened] < 1.0:
        opened += 1
    let_go = short[opened - 1] if opened else 0.0
    return max(0.0, (opened * BLOCK - let_go - at) / bench.ms(1))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gate-only", action="store_true", help="the gate without its look-back")
    p.add_argument("--phrases", type=int, default=len(PHRASES),
                   help=f"visitor phrases for the onsets (default all {len(PHRASES)})")
    p.add_argument("--rooms", type=int, default=len(PATHS),
                   help=f"rooms, in the order above (default all {len(PATHS)})")
    a = p.parse_args()
    main(a.gate_only, a.phrases, a.rooms)
