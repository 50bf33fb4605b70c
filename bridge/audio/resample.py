"""Sample-rate conversion for the live path and for files.

The live path was chosen by measurement (`benchmarks/resample.py`: a known signal fed
20 ms at a time through each candidate, one call per block, no flush, its delay found by
correlation against the ideal resampled signal). For the integer ratios a call uses
(48 k ↔ 16 k, 48 k ↔ 8 k, 16 k ↔ 8 k, …) it is a linear-phase polyphase FIR (a Kaiser-window
lowpass whose stopband starts at the lower rate's Nyquist frequency, 90 dB deep; designed
in `fir_design.py` with numpy alone): every call returns exactly in × out/in samples,
delayed by half the filter (3.6 ms at 48 k ↔ 16 k, 7.1 ms at 48 k ↔ 8 k), with the −3 dB
edge at 0.94 × Nyquist and aliases from Nyquist on rejected by ≥ 88 dB. A minimum-phase
version of the same filter (`minimum_phase=True`) delays speech by only 0.2–0.4 ms, but
it shifts the top of the band by up to 1.7 ms against the bottom: a consonant's waveform
no longer matches what was sent, which the rig's tests of what the speaker played and of
the echo path (correlations against the sent audio) measure as damage. Linear phase
keeps the waveform, within the issue's floor for this passband and depth.
soxr's ordinary engine works in large blocks and returns bursts (20–175 ms held back at
these ratios, 31–159 ms with its minimum-phase recipe); its variable-rate engine holds back
12.6–27.8 ms and lets a tone 50 Hz above the new Nyquist through at −33 dB (48 k → 16 k);
libsamplerate's sinc converters hold back 1.2–18 ms with a −3 dB edge at 0.80–0.96 ×
Nyquist, for 2–15× this FIR's CPU. The FIR costs per block about what soxr's variable-rate
engine did (it beats it at 48 k ↔ 16 k) and 3–8× soxr's ordinary engine. Other ratios
(44.1 k ↔ 16 k) stream through soxr's variable-rate engine. When both rates are equal there
is no filter.

The streaming filter itself is written here on `numpy.convolve` (one call per polyphase
branch, so each output costs only its own taps): scipy's `upfirdn` has no state to
carry between blocks and is several times slower per block.
"""

from __future__ import annotations

from math import gcd

import numpy as np
import soxr

from bridge.audio.fir_design import group_delay, linear_phase_lowpass, min_phase_lowpass

DEFAULT_QUALITY = "MQ"
# The FIR's design: the stopband begins at the lower Nyquist frequency; the transition band
# is this share of it (−6 dB at 0.95 × Nyquist, −3 dB at 0.94); the stopband is this
# deep (below 16-bit noise for a 16 kHz wire; µ-law's own noise is ~38 dB below full scale).
TRANSITION = 0.10
ATTEN_DB = 90.0
SPEECH_HZ = 1000.0  # where the reported group delay is taken


class PolyphaseFIR:
    """Streaming resampler by an integer factor (up or down) with a fixed FIR.

    Output sample m of a decimator by M is Σ h[k]·x[mM − k]; of an interpolator by L,
    y[nL + q] = Σ h[jL + q]·x[n − j]. Both are computed as M (or L) short convolutions of
    the input's polyphase branches, carrying the last taps' worth of input between calls.
    Its stopband begins at the lower rate's Nyquist frequency, `transition` × that wide.
    """

    def __init__(self, in_rate: int, out_rate: int, atten_db: float = ATTEN_DB,
                 transition: float = TRANSITION, *, minimum_phase: bool = False) -> None:
        up, down = out_rate // gcd(in_rate, out_rate), in_rate // gcd(in_rate, out_rate)
        if up != 1 and down != 1:
            raise ValueError(f"{in_rate}→{out_rate} is not an integer ratio")
        self.up, self.down, self.out_rate = up, down, out_rate
        high, low = max(in_rate, out_rate), min(in_rate, out_rate)
        design = min_phase_lowpass if minimum_phase else linear_phase_lowpass
        taps = design(high, low / 2 * (1 - transition), low / 2, atten_db)
        factor = max(up, down)
        k = -(-len(taps) // factor)  # taps per branch
        padded = np.zeros(k * factor)
        padded[: len(taps)] = taps
        self.group_delay_ms = group_delay(padded, SPEECH_HZ, high) / high * 1000.0
        self._k = k
        if down > 1:
            # branch c of the (rows, M) input matrix holds x[iM − (M−1−c)]: it meets the
            # taps h[jM + M−1−c]
            self._branches = [padded[factor - 1 - c::factor][:k].copy() for c in range(factor)]
            self._history = k * factor - 1
        else:
            self._branches = [padded[q::factor] * factor for q in range(factor)]
            self._history = k - 1
        self._buf = np.zeros(self._history + 4096)
        self._n = self._history  # zeros before the stream starts

    def filter(self, samples: np.ndarray) -> np.ndarray:
        """The output `samples` complete, unrounded: len(samples) × up / down of them,
        give or take the decimator's phase."""
        n = len(samples)
        if self._n + n > len(self._buf):
            grown = np.zeros(2 * (self._n + n))
            grown[: self._n] = self._buf[: self._n]
            self._buf = grown
        self._buf[self._n:self._n + n] = samples
        self._n += n
        k = self._k
        if self.down > 1:
            m = self.down
            rows = self._n // m
            count = max(0, rows - k + 1)
            cols = self._buf[: rows * m].reshape(rows, m).T
            acc = np.zeros(count)
            if count:
                for c, taps in enumerate(self._branches):
                    acc += np.convolve(cols[c], taps, "valid")
            used = count * m
        else:
            count = self._n - k + 1
            x = self._buf[: self._n]
            wide = np.empty((count, self.up))
            for q, taps in enumerate(self._branches):
                wide[:, q] = np.convolve(x, taps, "valid")
            acc = wide.reshape(-1)
            used = count
        rest = self._n - used
        self._buf[:rest] = self._buf[used:self._n]
        self._n = rest
        return acc

    def resample_chunk(self, samples: np.ndarray) -> np.ndarray:
        return _to_int16(self.filter(samples))

    def clear(self) -> None:
        """Forget the input seen so far (the same calls as soxr's stream)."""
        self._n = self._history
        self._buf[: self._n] = 0.0


def _to_int16(x: np.ndarray) -> np.ndarray:
    out = np.empty(len(x), dtype=np.int16)
    np.rint(x, out=x)
    np.clip(x, -32768, 32767, out=out, casting="unsafe")
    return out


def is_integer_ratio(in_rate: int, out_rate: int) -> bool:
    g = gcd(in_rate, out_rate)
    return in_rate == g or out_rate == g


class Resampler:
    """Streaming int16 mono resampler; `reset()` drops its history (after a flush)."""

    def __init__(self, in_rate: int, out_rate: int, quality: str = DEFAULT_QUALITY) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.passthrough = in_rate == out_rate
        self._in = self._out = 0  # samples fed and returned since the last reset
        self._latency_ms = 0.0  # what the filter delays the signal by, beyond held samples
        self._stream: soxr.ResampleStream | PolyphaseFIR | None = None
        if self.passthrough:
            pass
        elif is_integer_ratio(in_rate, out_rate):
            self._stream = PolyphaseFIR(in_rate, out_rate)
            self._latency_ms = self._stream.group_delay_ms
        else:
            self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16",
                                               quality=quality, vr=True)

    def process(self, samples: np.ndarray) -> np.ndarray:
        if self._stream is None:
            return samples
        out = self._stream.resample_chunk(samples)
        self._in += len(samples)
        self._out += len(out)
        return out

    def reset(self) -> None:
        if self._stream is not None:
            self._stream.clear()
        self._in = self._out = 0

    @property
    def held_ms(self) -> float:
        """How far the output lags the input: the input not come out yet (soxr's engine
        works in blocks, so this varies from call to call), plus the filter's own group
        delay at speech frequencies (the FIR returns every sample at once, delayed by it)."""
        if self.passthrough:
            return 0.0
        held = max(0.0, self._in / self.in_rate - self._out / self.out_rate) * 1000.0
        return held + self._latency_ms


def resample_all(samples: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Resample a whole signal at once (for files, not the live path)."""
    if in_rate == out_rate:
        return samples
    return soxr.resample(samples, in_rate, out_rate, quality="HQ")
