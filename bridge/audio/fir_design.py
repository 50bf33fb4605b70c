"""The resampler's lowpass (linear phase; a minimum-phase variant for comparison),
designed with numpy alone.

The same design `scipy.signal` gives through `kaiserord`, `firwin(window=("kaiser", β))`,
`minimum_phase(method="homomorphic")` and `group_delay` (tests/unit/test_fir_design.py holds
the two equal when scipy is installed), written out here so the package does not need scipy
(~35 MB) at run time for a few dozen lines of textbook formulas:

- Kaiser's order and window shape for an attenuation and a transition width;
- a windowed-sinc lowpass, scaled to unity gain at 0 Hz;
- its minimum-phase half by the homomorphic method: the real cepstrum of half the log
  magnitude, folded onto positive quefrencies, exponentiated back. The result has about
  half the taps and the square root of the prototype's magnitude, so a prototype
  designed twice as deep (in dB) gives a minimum-phase filter of the depth asked for;
- the group delay of an FIR at one frequency, −dφ/dω = Re(Σ n·h[n]·zⁿ / Σ h[n]·zⁿ),
  z = e^(−jω).

Precomputed taps shipped as data would also drop scipy, but they would fix the rates and
the design: this keeps any integer ratio and the other designs the benchmark compares.
The design runs once per resampler, at call set-up: 9–35 ms here, as long as scipy took.
"""

from __future__ import annotations

from functools import lru_cache
from math import ceil, log2, pi

import numpy as np

# the homomorphic method's FFT length: the next power of two ≥ 2·(taps − 1)/0.01, which
# keeps the cepstrum's aliasing small (scipy's default; the test holds the taps to it)
_CEPSTRUM_ERROR = 0.01


def kaiser_beta(atten_db: float) -> float:
    """Kaiser's window shape β for a stopband `atten_db` deep."""
    if atten_db > 50:
        return 0.1102 * (atten_db - 8.7)
    if atten_db > 21:
        return 0.5842 * (atten_db - 21) ** 0.4 + 0.07886 * (atten_db - 21)
    return 0.0


def kaiser_order(atten_db: float, width: float) -> tuple[int, float]:
    """Taps and β of a Kaiser-window lowpass `atten_db` deep whose transition band is
    `width` wide (a share of the Nyquist frequency)."""
    if atten_db < 8:
        raise ValueError(f"{atten_db} dB is too shallow for Kaiser's formula (8 dB at least)")
    taps = (atten_db - 7.95) / (2.285 * pi * width) + 1
    return ceil(taps), kaiser_beta(atten_db)


def windowed_sinc(numtaps: int, cutoff: float, beta: float) -> np.ndarray:
    """A linear-phase lowpass of `numtaps` taps cut at `cutoff` (a share of the Nyquist
    frequency) under a Kaiser window, unity gain at 0 Hz."""
    n = np.arange(numtaps) - (numtaps - 1) / 2
    h = cutoff * np.sinc(cutoff * n) * np.kaiser(numtaps, beta)
    return h / h.sum()


def minimum_phase_half(h: np.ndarray) -> np.ndarray:
    """The minimum-phase filter of (len(h) + 1) // 2 taps whose magnitude is about the
    square root of the symmetric `h`'s (homomorphic method)."""
    n_fft = 2 ** ceil(log2(2 * (len(h) - 1) / _CEPSTRUM_ERROR))
    mag = np.abs(np.fft.rfft(h, n_fft))
    mag += 1e-7 * mag[mag > 0].min()  # keep the log finite at the stopband's zeros
    # half the log magnitude (the square root), its real cepstrum (even: a real spectrum)
    cepstrum = np.fft.irfft(0.5 * np.log(mag), n_fft)
    # fold onto positive quefrencies (n_fft is even): 1 at 0, 2 below n/2, 0 from n/2 on.
    # As scipy ≥ 1.14 does; the textbook keeps n/2 at 1 (taps ≤ 7e-8 apart, below rounding).
    cepstrum[1:n_fft // 2] *= 2
    cepstrum[n_fft // 2:] = 0
    h_min = np.fft.irfft(np.exp(np.fft.rfft(cepstrum)), n_fft)
    return h_min[: (len(h) + 1) // 2]


def group_delay(h: np.ndarray, hz: float, rate: float) -> float:
    """The FIR `h`'s group delay at `hz`, in samples at `rate`."""
    n = np.arange(len(h))
    z = np.exp(-2j * pi * hz / rate * n)
    return float(np.real(((n * h) @ z) / (h @ z)))


@lru_cache(maxsize=16)
def linear_phase_lowpass(rate: int, pass_hz: float, stop_hz: float,
                         atten_db: float) -> np.ndarray:
    """A linear-phase lowpass at `rate` (every frequency delayed alike: half its length):
    unity gain at 0 Hz and up to about `pass_hz`, at least `atten_db` down from `stop_hz`.
    Designed once per process; the taps come back read-only."""
    nyquist = rate / 2
    width = stop_hz - pass_hz
    numtaps, beta = kaiser_order(atten_db, width / nyquist)
    taps = windowed_sinc(numtaps | 1, (stop_hz - width / 2) / nyquist, beta)
    taps.setflags(write=False)
    return taps


@lru_cache(maxsize=16)
def min_phase_lowpass(rate: int, pass_hz: float, stop_hz: float,
                      atten_db: float) -> np.ndarray:
    """A minimum-phase lowpass at `rate`: unity gain at 0 Hz and up to about `pass_hz`, at
    least `atten_db` down from `stop_hz`. Designed once per process (10–35 ms here, more on
    a Pi: not at every call's set-up); the taps come back read-only."""
    nyquist = rate / 2
    width = stop_hz - pass_hz
    numtaps, beta = kaiser_order(2 * atten_db, width / nyquist)
    proto = windowed_sinc(numtaps | 1, (stop_hz - width / 2) / nyquist, beta)
    taps = minimum_phase_half(proto)
    taps = taps / taps.sum()
    taps.setflags(write=False)
    return taps
