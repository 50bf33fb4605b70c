"""Sample-rate conversion for the live path and for files.

The live path was chosen by measurement (`benchmarks/resample.py`: a known signal fed
20 ms at a time through each candidate, one call per block, no flush, its delay found by
correlation against the ideal resampled signal). For the integer ratios a call uses
(48 k ↔ 16 k, 48 k ↔ 8 k, 16 k ↔ 8 k, …) it is a linear-phase polyphase FIR (a Kaiser-window
lowpass whose stopband starts at the lower rate's Nyquist frequency, 90 dB deep; designed
in `fir_design.py` with numpy alone): every call returns exactly in × out/in samples,
delayed by half the filter (3.6 ms at 48 k ↔ 16 k, 7.1 ms at 48 k ↔ 8 k), with the −3 dB
edge at 0.94 × Nyquist and aliases from Nyquist on rejected by ≥ 88 dB. Linear phase keeps
the waveform: what the speaker plays is what Vapi sent, sample for sample, which the rig's
tests of what the speaker played (correlations against the sent audio) hold it to.
The uplink uses the minimum-phase version of the same filter (`minimum_phase=True`): it
delays speech by only 0.2–0.4 ms. That is what decides whether a sound captured near the
end of a device block leaves with that block's frame or waits a whole block for the next
capture (with 20 ms blocks, the last 3.6 or 7.1 ms of every block would wait 20 ms: the
p95 of mic → wire). It shifts the top of the band by up to 1.7 ms against the bottom:
nothing a speech recogniser uses, and at or under the ear's threshold for group delay that
high up, but a waveform comparison sees it: a spoken sentence through 48 → 16 → 48 kHz
correlates 0.989 with the original (linear phase both ways: 0.998), through 8 kHz 0.926
(0.991).
soxr's ordinary engine works in large blocks and returns bursts (20–175 ms held back at
these ratios, 31–159 ms with its minimum-phase recipe); its variable-rate engine holds back
12.6–27.8 ms and lets a tone 50 Hz above the new Nyquist through at −33 dB (48 k → 16 k);
libsamplerate's sinc converters hold back 1.2–18 ms with a −3 dB edge at 0.80–0.96 ×
Nyquist, for 6–40× this FIR's CPU. The FIR costs 10–14 µs per block here, a quarter to half
of soxr's variable-rate engine, about twice soxr's ordinary engine. Other ratios
(44.1 k ↔ 16 k) stream through soxr's variable-rate engine. When both rates are equal there
is no filter.

The streaming filter itself is one single-precision matrix product per block (numpy's
BLAS), a handful of numpy calls whatever the block: one `numpy.convolve` per polyphase
branch cost 3× as much (numpy's per-call overhead more than the arithmetic), and scipy's
`upfirdn` has no state to carry between blocks and is slower still.
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


ROW_OUTPUTS = 16  # input positions per row of the product (each gives `up` outputs)
MAX_MNK = 1 << 19  # m·n·k: OpenBLAS (numpy's wheels) keeps a product this small on one thread
_LOW, _HIGH = np.array(-32768.0, np.float32), np.array(32767.0, np.float32)


class PolyphaseFIR:
    """Streaming resampler by an integer factor (up or down) with a fixed FIR.

    Output sample m of a decimator by M is Σ_t x[mM + t]·h[L−1−t] (L taps, zero-padded
    to a multiple of M); of an interpolator by U, y[iU + q] = Σ_t x[i + t]·g[t, q] with
    g[t, q] = U·h[(k−1−t)U + q] (k taps per branch). Either way the outputs of
    `ROW_OUTPUTS` consecutive input positions are one row's dot products with a fixed
    banded matrix: the rows (windows of the input, `hop` apart, `width` long) are copied
    out of a preallocated float32 history once, and one single-precision matrix product
    gives every output of the block — a few numpy calls per block instead of one per
    branch and output. The band wastes ~13 % of the products; float32 is exact to
    ~0.005 LSB, far below the int16 output's rounding. Each product is kept small enough
    that OpenBLAS does not wake its other threads (a long chunk goes in several passes).
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
        b = ROW_OUTPUTS
        if down > 1:  # row j: x[jbM … jbM + width), column i: output jb + i
            span, self._step, self._hop = k * down, down, b * down
            width = (b - 1) * down + span
            matrix = np.zeros((width, b))
            for i in range(b):
                matrix[i * down:i * down + span, i] = padded[::-1]
        else:  # row j: x[jb … jb + width), column iU + q: output (jb + i)U + q
            span, self._step, self._hop = k, 1, b
            width = b - 1 + k
            g = padded.reshape(k, up)[::-1] * up  # g[t, q]
            matrix = np.zeros((width, b * up))
            for i in range(b):
                matrix[i:i + k, i * up:(i + 1) * up] = g
        self._matrix = matrix.astype(np.float32)
        self._span = span  # input samples one output position reads
        self._history = span - 1
        self._rows = max(1, MAX_MNK // (width * b * max(up, 1)))  # rows per product
        self._pass = self._rows * self._hop  # input samples per pass, at most
        size = self._history + self._pass + self._hop + width
        self._buf = np.zeros(size, dtype=np.float32)
        self._windows = np.lib.stride_tricks.as_strided(
            self._buf, (self._rows, width), (self._hop * 4, 4), writeable=False)
        self._rowbuf = np.zeros((self._rows, width), dtype=np.float32)
        self._out = np.zeros((self._rows, b * up), dtype=np.float32)
        self._flat = self._out.reshape(-1)
        self._n = self._history  # zeros before the stream starts

    def _pass_of(self, samples: np.ndarray) -> np.ndarray:
        """Feed at most `_pass` samples; the float32 outputs they complete (a view into a
        buffer the next pass overwrites)."""
        n = len(samples)
        buf = self._buf
        buf[self._n:self._n + n] = samples
        self._n += n
        count = max(0, (self._n - self._span) // self._step + 1)  # output positions
        rows = -(-count // ROW_OUTPUTS)
        if rows:
            np.copyto(self._rowbuf[:rows], self._windows[:rows])
            np.matmul(self._rowbuf[:rows], self._matrix, out=self._out[:rows])
        used = count * self._step
        rest = self._n - used
        buf[:rest] = buf[used:self._n]
        self._n = rest
        return self._flat[: count * self.up]

    def filter(self, samples: np.ndarray) -> np.ndarray:
        """The output `samples` complete, unrounded (float32): len(samples) × up / down
        of them, give or take the decimator's phase."""
        p = self._pass
        return np.concatenate([self._pass_of(samples[i:i + p]).copy()
                               for i in range(0, max(len(samples), 1), p)])

    def resample_chunk(self, samples: np.ndarray) -> np.ndarray:
        if len(samples) <= self._pass:
            return _to_int16(self._pass_of(samples))
        return _to_int16(self.filter(samples))

    def clear(self) -> None:
        """Forget the input seen so far (the same calls as soxr's stream)."""
        self._n = self._history
        self._buf[: self._n] = 0.0


def _to_int16(x: np.ndarray) -> np.ndarray:
    """Rounded to the nearest, saturated (clobbers `x`)."""
    np.minimum(x, _HIGH, out=x)
    np.maximum(x, _LOW, out=x)
    np.rint(x, out=x)
    return x.astype(np.int16)


def is_integer_ratio(in_rate: int, out_rate: int) -> bool:
    g = gcd(in_rate, out_rate)
    return in_rate == g or out_rate == g


class Resampler:
    """Streaming int16 mono resampler; `reset()` drops its history (after a flush).
    `minimum_phase`: the integer ratios' FIR in its minimum-phase form (0.2–0.4 ms instead
    of 3.6–7.1 ms; the waveform's phase is not kept), for the uplink."""

    def __init__(self, in_rate: int, out_rate: int, quality: str = DEFAULT_QUALITY, *,
                 minimum_phase: bool = False) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.passthrough = in_rate == out_rate
        self._in = self._out = 0  # samples fed and returned since the last reset
        self._latency_ms = 0.0  # what the filter delays the signal by, beyond held samples
        self._stream: soxr.ResampleStream | PolyphaseFIR | None = None
        if self.passthrough:
            pass
        elif is_integer_ratio(in_rate, out_rate):
            self._stream = PolyphaseFIR(in_rate, out_rate, minimum_phase=minimum_phase)
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
