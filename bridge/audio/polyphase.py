"""The streaming FIRs the live resampler runs (`bridge.audio.resample` chooses among them
and says why): a polyphase FIR at any rational ratio as one float32 matrix product per
block, and a two-stage route through 48 kHz for rates with no integer ratio to the other.
"""

from __future__ import annotations

from math import gcd

import numpy as np

from bridge.audio.fir_design import (
    group_delay,
    kaiser_order,
    linear_phase_lowpass,
    min_phase_lowpass,
)

# The FIR's design: the stopband begins at the lower Nyquist frequency; the transition band
# is this share of it (−6 dB at 0.95 × Nyquist, −3 dB at 0.94); the stopband is this
# deep (below 16-bit noise for a 16 kHz wire; µ-law's own noise is ~38 dB below full scale).
TRANSITION = 0.10
ATTEN_DB = 90.0
SPEECH_HZ = 1000.0  # where the reported group delay is taken


ROW_OUTPUTS = 16  # integer ratios: input (up) or output (down) positions per product row
MAX_MNK = 1 << 19  # m·n·k: OpenBLAS (numpy's wheels) keeps a product this small on one thread
MAX_MATRIX = 1 << 21  # floats (8 MB): an odd ratio whose matrix is larger goes to soxr
BRIDGE_RATE = 48000  # what 44.1 kHz (and other rates with no integer ratio) go through
MAX_PERIOD_MS = 10.0  # a rational ratio's outputs come a period at a time: at most this
# the 48 kHz stage's depth: its leak folds into the band (the image of 1 kHz at 43.1 kHz
# lands on 4.9 kHz), at 90 dB the largest spur (SINAD 88–89 dB); 110 dB costs 2 more matrix
# rows (156 instead of 154 up, 169 instead of 167 down)
SHORT_ATTEN_DB = 110.0
_LOW, _HIGH = np.array(-32768.0, np.float32), np.array(32767.0, np.float32)


class PolyphaseFIR:
    """Streaming resampler by a rational factor U/D (U = out/g, D = in/g) with a fixed FIR.

    Output m is Σ_i x[i]·U·h[mD − iU] (h: a lowpass at the common rate in × U): the
    polyphase form, evaluated only where it is not zero. The pattern repeats every D inputs
    and U outputs (a period: 1 output at 48 k → 16 k, 3 at 16 k → 48 k, 160 outputs per 147
    inputs at 44.1 k → 48 k), so the outputs of `periods` consecutive periods are one row's
    dot products with a fixed banded matrix: the rows (windows of the input, D × periods
    apart) are copied out of a preallocated float32 history once, and one single-precision
    matrix product gives every output of the block — a few numpy calls per block instead
    of one per branch and output. At an integer ratio output m leaves as soon as its
    newest input x[⌊mD/U⌋] has come; at a rational one, with the rest of its period.
    float32 is exact to ~0.005 LSB, far below the int16 output's rounding. Each product is
    kept small enough that OpenBLAS does not wake its other threads (a long chunk goes in
    several passes). The stopband begins at the lower rate's Nyquist frequency,
    `transition` × that wide, unless `band` gives (pass Hz, stop Hz). `minimum_phase`
    (integer ratios only: at a rational one the filter is designed at the common rate,
    too long for the cepstrum) gives the minimum-phase form of the same filter.
    """

    def __init__(self, in_rate: int, out_rate: int, atten_db: float = ATTEN_DB,
                 transition: float = TRANSITION, *, minimum_phase: bool = False,
                 band: tuple[float, float] | None = None) -> None:
        g = gcd(in_rate, out_rate)
        up, down = out_rate // g, in_rate // g
        if minimum_phase and up != 1 and down != 1:
            raise ValueError(f"{in_rate}→{out_rate}: minimum phase needs an integer ratio")
        self.up, self.down = up, down
        common = in_rate * up
        design = min_phase_lowpass if minimum_phase else linear_phase_lowpass
        taps = design(common, *_band(in_rate, out_rate, transition, band), atten_db) * up
        self.group_delay_ms = group_delay(taps, SPEECH_HZ, common) / common * 1000.0
        length = len(taps)
        periods, history, width = _layout(up, down, length)
        self._hop = periods * down  # input samples per row
        self._row = periods * up  # outputs per row
        if width * self._row > MAX_MATRIX:
            raise ValueError(f"{in_rate}→{out_rate}: the filter's matrix is too large")
        matrix = np.zeros((width, self._row))
        for q in range(up):
            first = -((length - 1 - q * down) // up)  # ⌈(qD − L + 1)/U⌉
            last = q * down // up
            weights = taps[q * down - np.arange(first, last + 1) * up]
            for p in range(periods):
                top = p * down + history + first
                matrix[top:top + len(weights), p * up + q] = weights
        self._matrix = matrix.astype(np.float32)
        self._history = history  # zeros before the stream starts
        self._rows = max(1, MAX_MNK // (width * self._row))  # rows per product
        self._pass = self._rows * self._hop  # input samples per pass, at most
        rows = self._rows + 3  # a pass's rows, and the unfinished periods before it
        self._buf = np.zeros(history + rows * self._hop + width, dtype=np.float32)
        self._windows = np.lib.stride_tricks.as_strided(
            self._buf, (rows, width), (self._hop * 4, 4), writeable=False)
        self._rowbuf = np.zeros((rows, width), dtype=np.float32)
        self._out = np.zeros((rows, self._row), dtype=np.float32)
        self._flat = self._out.reshape(-1)
        self._n = history
        # a rational ratio's period (10 ms at 44.1 k ↔ 16 k) comes out whole: a row of it is
        # a pass over the whole matrix (~0.5 MB), so Vapi's uneven chunks, cut mid-period,
        # would compute it twice; what a chunk leaves waits for the next (≤ one period, in
        # `held_ms`). A device's blocks (10 or 20 ms) are whole periods.
        self._whole_periods = min(up, down) > 1

    def _pass_of(self, samples: np.ndarray) -> np.ndarray:
        """Feed at most `_pass` samples; the float32 outputs they complete (a view into a
        buffer the next pass overwrites)."""
        n = len(samples)
        buf = self._buf
        buf[self._n:self._n + n] = samples
        self._n += n
        fed = self._n - self._history  # inputs in the buffer past the history
        if self._whole_periods:
            count = fed // self.down * self.up
        else:  # outputs complete (a decimator's once the first input of its period came)
            count = -(-fed * self.up // self.down) if fed > 0 else 0
        rows = -(-count // self._row)
        if rows:
            np.copyto(self._rowbuf[:rows], self._windows[:rows])
            np.matmul(self._rowbuf[:rows], self._matrix, out=self._out[:rows])
        used = -(-count // self.up) * self.down  # the periods begun: their inputs are spent
        rest = self._n - used
        buf[:rest] = buf[used:self._n]
        self._n = rest
        return self._flat[:count]

    def filter(self, samples: np.ndarray) -> np.ndarray:
        """The output `samples` complete, unrounded (float32): len(samples) × up / down
        of them, give or take where the period stands. A chunk of one pass (any device
        block, most of Vapi's) comes back as a view the next call overwrites: read it, or
        change it, before then."""
        p = self._pass
        if len(samples) <= p:
            return self._pass_of(samples)
        return np.concatenate([self._pass_of(samples[i:i + p]).copy()
                               for i in range(0, len(samples), p)])

    def resample_chunk(self, samples: np.ndarray) -> np.ndarray:
        return _to_int16(self.filter(samples))

    def clear(self) -> None:
        """Forget the input seen so far (the same calls as soxr's stream)."""
        self._n = self._history
        self._buf[: self._n] = 0.0

    def state(self) -> tuple[np.ndarray, int]:
        """The input it holds, for `restore` (a flush that leaves the stream as it was)."""
        return self._buf[:self._n].copy(), self._n

    def restore(self, state: tuple[np.ndarray, int]) -> None:
        held, self._n = state
        self._buf[:self._n] = held


def _to_int16(x: np.ndarray) -> np.ndarray:
    """Rounded to the nearest, saturated (clobbers `x`)."""
    np.minimum(x, _HIGH, out=x)
    np.maximum(x, _LOW, out=x)
    np.rint(x, out=x)
    return x.astype(np.int16)


class TwoStageFIR:
    """A rate with no integer ratio to the other (44.1 k ↔ 16 k or 8 k) through 48 kHz, an
    integer multiple of it: the usual FIR between 48 kHz and the lower rate (its minimum-
    phase form for the uplink), and between 48 kHz and the device's rate a short one. That
    one only has to keep the lower rate's band (to 8 kHz for a 16 kHz wire) and reject what
    would fold into it (from 48 kHz less that band: 40 kHz), so it has ~9 taps an output
    (1569 at the common 7.056 MHz, 110 dB deep, 0.11 ms of delay), where one filter with
    the usual band at 44.1 k ↔ 16 k needs 316 (a 0.5 MB matrix read at every period)."""

    def __init__(self, in_rate: int, out_rate: int, *, minimum_phase: bool = False) -> None:
        low = min(in_rate, out_rate)
        short = short_band(low)
        if in_rate > out_rate:
            self._first = PolyphaseFIR(in_rate, BRIDGE_RATE, SHORT_ATTEN_DB, band=short)
            self._second = PolyphaseFIR(BRIDGE_RATE, out_rate, minimum_phase=minimum_phase)
        else:
            self._first = PolyphaseFIR(in_rate, BRIDGE_RATE, minimum_phase=minimum_phase)
            self._second = PolyphaseFIR(BRIDGE_RATE, out_rate, SHORT_ATTEN_DB, band=short)
        self.group_delay_ms = self._first.group_delay_ms + self._second.group_delay_ms

    def resample_chunk(self, samples: np.ndarray) -> np.ndarray:
        return self._second.resample_chunk(self._first.filter(samples))

    def clear(self) -> None:
        self._first.clear()
        self._second.clear()

    def state(self) -> tuple[tuple[np.ndarray, int], tuple[np.ndarray, int]]:
        return self._first.state(), self._second.state()

    def restore(self, state: tuple[tuple[np.ndarray, int], tuple[np.ndarray, int]]) -> None:
        self._first.restore(state[0])
        self._second.restore(state[1])


def short_band(low: int) -> tuple[float, float]:
    """The 48 kHz stage's band: keep the lower rate's, reject what would fold into it."""
    return low / 2, BRIDGE_RATE - low / 2


def two_stage(in_rate: int, out_rate: int) -> bool:
    """Whether to go through 48 kHz: no integer ratio, 48 kHz a multiple of the lower rate
    (and above it), and the stage between 48 kHz and the higher rate fits both ways."""
    low, high = min(in_rate, out_rate), max(in_rate, out_rate)
    if is_integer_ratio(in_rate, out_rate) or low >= BRIDGE_RATE or BRIDGE_RATE % low:
        return False
    band = short_band(low)
    return (not is_integer_ratio(high, BRIDGE_RATE)
            and fir_fits(high, BRIDGE_RATE, band, SHORT_ATTEN_DB)
            and fir_fits(BRIDGE_RATE, high, band, SHORT_ATTEN_DB))


def is_integer_ratio(in_rate: int, out_rate: int) -> bool:
    g = gcd(in_rate, out_rate)
    return in_rate == g or out_rate == g


def _band(in_rate: int, out_rate: int, transition: float = TRANSITION,
          band: tuple[float, float] | None = None) -> tuple[float, float]:
    """(pass Hz, stop Hz): `band`, or the stopband from the lower rate's Nyquist frequency,
    the transition `transition` × that wide."""
    low = min(in_rate, out_rate)
    return band or (low / 2 * (1 - transition), low / 2)


def _layout(up: int, down: int, length: int) -> tuple[int, int, int]:
    """(periods a row, history, width) of the matrix for `length` taps at U/D = up/down.
    Output q of a period reads inputs i ∈ [q·D/U − (L−1)/U, q·D/U] of it: `history` before
    the period's first input, `reach` into it; a row holds `periods` periods (16 input or
    output positions at an integer ratio, at least one whole period otherwise)."""
    history, reach = (length - 1) // up, (up - 1) * down // up
    periods = ROW_OUTPUTS if min(up, down) == 1 else max(1, ROW_OUTPUTS // up)
    return periods, history, (periods - 1) * down + history + reach + 1


def fir_fits(in_rate: int, out_rate: int, band: tuple[float, float] | None = None,
             atten_db: float = ATTEN_DB) -> bool:
    """Whether the FIR for this ratio (and `band`) is worth keeping, judged before designing:
    its matrix small enough (every ratio between the usual rates: 8, 11.025, 16, 22.05, 32,
    44.1, 48, 96 kHz), and, at a rational ratio, its period (1/gcd s: outputs come a period
    at a time) at most `MAX_PERIOD_MS` (11.025 k ↔ 16 k: 40 ms, so soxr's vr engine)."""
    g = gcd(in_rate, out_rate)
    up, down = out_rate // g, in_rate // g
    if min(up, down) > 1 and 1000.0 / g > MAX_PERIOD_MS:
        return False
    pass_hz, stop_hz = _band(in_rate, out_rate, band=band)
    length, _ = kaiser_order(atten_db, (stop_hz - pass_hz) / (in_rate * up / 2))
    periods, _, width = _layout(up, down, length)
    return width * periods * up <= MAX_MATRIX
