"""Streaming resamplers measured sample-accurately, the way the live path uses them.

Every candidate gets a known signal 20 ms at a time, one call per block, never flushed:
  delay    how far the output lags the input at its worst block: the input fed so far less
           the output returned so far, with the output's lag behind the ideal resampled
           signal (found by cross-correlation of band-limited noise against soxr VHQ's
           whole-signal, delay-free result) counted in — what a frame-paced uplink or a
           playout buffer waits for; the mean over blocks is within 0.1 ms of it for the
           FIRs (steady) and smaller for soxr's block engines (bursty)
  −3 dB    the passband's −3 dB edge (tones, bisection to 5 Hz)
  +50/+200 alias rejection just above the lower Nyquist frequency: down, a tone that much
           above the new Nyquist, measured where it folds to; up, a tone that much below
           the old Nyquist, measured at its image above it (dB below the tone)
  SINAD    a 1 kHz tone at −6 dBFS: the fitted sine against all that is left (dB)
  µs       CPU per 20 ms block (process time, median of 3 interleaved rounds of 5 s)

    .venv/bin/python benchmarks/resample.py

The measures (`delay_ms`, `edge_hz`, `alias_db`, `sinad_db`) need only numpy and soxr, so
the unit tests hold the bridge's figures with them (tests/unit/test_fir_design.py); the
other candidates' libraries are imported when they are built.

CPU figures on a shared, loaded machine are indicative only; compare within a column.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np
import soxr
from soxr import soxr_ext

from bridge.audio.polyphase import ATTEN_DB, TRANSITION, PolyphaseFIR, is_integer_ratio
from bridge.audio.resample import Resampler

BLOCK_S = 0.02
SOXR_MINIMUM_PHASE = 0x30  # libsoxr's recipe flag (soxr.h); python-soxr does not name it
ROUTES = ((48000, 16000), (16000, 48000), (48000, 8000), (8000, 48000), (44100, 16000),
          (16000, 44100))


class Stream(Protocol):
    def process(self, samples: np.ndarray) -> np.ndarray: ...


class FIR:
    """The bridge's FIR with another design (the trade of taps, hence CPU, for band)."""

    def __init__(self, a: int, b: int, atten_db: float, transition: float,
                 minimum_phase: bool = False) -> None:
        self._f = PolyphaseFIR(a, b, atten_db, transition, minimum_phase=minimum_phase)

    def process(self, samples: np.ndarray) -> np.ndarray:
        return self._f.resample_chunk(samples)


class Soxr:
    def __init__(self, a: int, b: int, quality: str, vr: bool) -> None:
        self._s = soxr.ResampleStream(a, b, 1, dtype="int16", quality=quality, vr=vr)

    def process(self, samples: np.ndarray) -> np.ndarray:
        return self._s.resample_chunk(samples)


class SoxrMinPhase:
    """soxr's ordinary engine with its minimum-phase recipe (python-soxr hides the flag,
    so through its extension's constructor)."""

    def __init__(self, a: int, b: int, quality: str) -> None:
        recipe = getattr(soxr_ext, quality) | SOXR_MINIMUM_PHASE
        self._s = soxr_ext.CSoxr(a, b, 1, soxr_ext.SOXR_INT16_I, recipe, False)

    def process(self, samples: np.ndarray) -> np.ndarray:
        return self._s.process_int16(samples.reshape(-1, 1), False)[:, 0]


class LibSamplerate:
    def __init__(self, a: int, b: int, converter: str) -> None:
        import samplerate  # the test extra's, not the package's

        self._r = samplerate.Resampler(converter, channels=1)
        self._ratio = b / a

    def process(self, samples: np.ndarray) -> np.ndarray:
        out = self._r.process(samples.astype(np.float32) / 32768.0, self._ratio, False)
        return np.clip(np.rint(out * 32768.0), -32768, 32767).astype(np.int16)


def candidates(a: int, b: int) -> dict[str, Callable[[], Stream]]:
    c: dict[str, Callable[[], Stream]] = {}
    if is_integer_ratio(a, b):
        if a > b:  # device → wire: the uplink's form, then the other
            c["bridge uplink: min-phase FIR"] = lambda: Resampler(a, b, minimum_phase=True)
            c["  same, linear phase"] = lambda: FIR(a, b, ATTEN_DB, TRANSITION, False)
        else:  # wire → device: the downlink's
            c["bridge downlink: linear FIR"] = lambda: Resampler(a, b)
            c["  same, minimum phase"] = lambda: FIR(a, b, ATTEN_DB, TRANSITION, True)
        c["  same, 80 dB, 15 % band"] = lambda: FIR(a, b, 80.0, 0.15)
    elif a > b:  # 44.1 k: through 48 k (bridge/audio/polyphase.py's TwoStageFIR)
        c["bridge up: via 48 k, min-phase"] = lambda: Resampler(a, b, minimum_phase=True)
        c["  one FIR at 160/441, linear"] = lambda: FIR(a, b, ATTEN_DB, TRANSITION)
    else:
        c["bridge down: via 48 k, linear"] = lambda: Resampler(a, b)
        c["  one FIR at 441/160, linear"] = lambda: FIR(a, b, ATTEN_DB, TRANSITION)
    for q in ("QQ", "LQ", "MQ", "HQ", "VHQ"):
        c[f"soxr {q}"] = lambda q=q: Soxr(a, b, q, False)
    for q in ("QQ", "LQ", "MQ", "HQ", "VHQ"):
        c[f"soxr vr {q}"] = lambda q=q: Soxr(a, b, q, True)
    for q in ("MQ", "HQ"):
        c[f"soxr {q} min-phase"] = lambda q=q: SoxrMinPhase(a, b, q)
    for conv in ("sinc_fastest", "sinc_medium", "sinc_best"):
        c[f"samplerate {conv}"] = lambda conv=conv: LibSamplerate(a, b, conv)
    return c


def feed(make: Callable[[], Stream], x: np.ndarray, rate: int) -> tuple[np.ndarray, list[int]]:
    """Block by block, no flush: the output and the output count after each block."""
    s, block = make(), round(rate * BLOCK_S)
    outs, counts, total = [], [], 0
    for i in range(0, len(x) - block + 1, block):
        out = s.process(x[i:i + block])
        outs.append(out)
        total += len(out)
        counts.append(total)
    return np.concatenate(outs).astype(np.float64), counts


def tone(f: float, rate: int, seconds: float, amp: float = 16384.0) -> np.ndarray:
    return np.rint(amp * np.sin(2 * np.pi * f * np.arange(round(rate * seconds)) / rate))


def fit(y: np.ndarray, f: float, rate: int) -> tuple[float, float]:
    """Amplitude of the sine at `f` in `y` (least squares, after 100 ms) and the RMS left."""
    y = y[rate // 10:]
    t = np.arange(len(y)) / rate
    basis = np.stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t), np.ones_like(t)], 1)
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    rest = y - basis @ coef
    return float(np.hypot(coef[0], coef[1])), float(np.sqrt(np.mean(rest ** 2)))


def correlate_valid(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Σ x[n + k]·v[n] for every k where `v` lies wholly inside `x` (by FFT)."""
    size = 1 << (len(x) - 1).bit_length()  # ≥ len(x): no lag wraps round
    spectrum = np.fft.rfft(x, size) * np.conj(np.fft.rfft(v, size))
    return np.fft.irfft(spectrum, size)[: len(x) - len(v) + 1]


def delay_ms(make: Callable[[], Stream], a: int, b: int) -> float:
    rng = np.random.default_rng(7)
    low = min(a, b)
    noise = rng.standard_normal(low * 2)  # band-limited: made at the lower rate
    x = np.rint(soxr.resample(noise * 4000, low, a, "VHQ")) if a != low else np.rint(noise * 4000)
    ideal = soxr.resample(x, a, b, "VHQ")
    y, counts = feed(make, x.astype(np.int16), a)
    span = b // 5  # lags from −200 to +200 ms
    m = min(len(y), len(ideal)) - 2 * span
    corr = correlate_valid(y[: m + 2 * span], ideal[span:span + m])
    i = int(np.argmax(corr))
    peak = float(i)
    if 0 < i < len(corr) - 1:  # parabolic interpolation between samples
        d = corr[i - 1] - 2 * corr[i] + corr[i + 1]
        peak += 0.5 * (corr[i - 1] - corr[i + 1]) / d if d else 0.0
    lag = peak - span  # output samples by which the output trails the ideal
    block = round(a * BLOCK_S)
    worst = 0.0
    for k, c in enumerate(counts[10:], start=10):  # after the first 200 ms
        fed = (k + 1) * block / a
        worst = max(worst, fed - (c - lag) / b)
    return worst * 1000.0


def gain_db(make: Callable[[], Stream], a: int, b: int, f_in: float, f_out: float) -> float:
    y, _ = feed(make, tone(f_in, a, 0.4).astype(np.int16), a)
    amp, _ = fit(y, f_out, b)
    return 20 * np.log10(max(amp, 1e-3) / 16384.0)


def edge_hz(make: Callable[[], Stream], a: int, b: int) -> float:
    nyq = min(a, b) / 2
    lo, hi = 0.5 * nyq, nyq
    while hi - lo > 5:
        mid = (lo + hi) / 2
        if gain_db(make, a, b, mid, mid) > -3.0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def alias_db(make: Callable[[], Stream], a: int, b: int, above: float) -> float:
    if b < a:  # folds from new Nyquist + d to new Nyquist − d
        return gain_db(make, a, b, b / 2 + above, b / 2 - above)
    return gain_db(make, a, b, a / 2 - above, a / 2 + above)  # the image


def sinad_db(make: Callable[[], Stream], a: int, b: int) -> float:
    y, _ = feed(make, tone(1000.0, a, 0.5).astype(np.int16), a)
    amp, rest = fit(y, 1000.0, b)
    return 20 * np.log10(amp / np.sqrt(2) / max(rest, 1e-9))


def cpu_us(make: Callable[[], Stream], a: int) -> float:
    rng = np.random.default_rng(3)
    block = round(a * BLOCK_S)
    x = (rng.standard_normal(block * 250) * 3000).astype(np.int16)
    s = make()
    start = time.process_time()
    for i in range(0, len(x), block):
        s.process(x[i:i + block])
    return (time.process_time() - start) / 250 * 1e6


def main() -> None:
    print("Streaming resamplers, 20 ms blocks, no flush (benchmarks/resample.py)")
    print("CPU figures: a shared, loaded machine — indicative; compare within a route.")
    for a, b in ROUTES:
        cands = candidates(a, b)
        cpu: dict[str, list[float]] = {name: [] for name in cands}
        for _ in range(3):  # interleaved rounds
            for name, make in cands.items():
                cpu[name].append(cpu_us(make, a))
        print(f"\n{a // 1000 if a % 1000 == 0 else a / 1000} k → "
              f"{b // 1000 if b % 1000 == 0 else b / 1000} k")
        print(f"  {'engine':<30} {'delay ms':>8} {'−3 dB Hz':>9} {'+50 Hz':>7} {'+200 Hz':>8}"
              f" {'SINAD':>6} {'µs/20ms':>8}")
        for name, make in cands.items():
            print(f"  {name:<30} {delay_ms(make, a, b):>8.1f} {edge_hz(make, a, b):>9.0f}"
                  f" {alias_db(make, a, b, 50):>7.1f} {alias_db(make, a, b, 200):>8.1f}"
                  f" {sinad_db(make, a, b):>6.1f} {float(np.median(cpu[name])):>8.1f}")


if __name__ == "__main__":
    # no options (as benchmarks/echo.py): --help shows what is measured instead of running
    # it all, and anything else is refused
    argparse.ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
