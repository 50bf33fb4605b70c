"""The echo gate's analysis stream (`echo_gate`): the far end or the microphone brought to
~8 kHz, low-passed, decimated and pre-emphasised, kept as history."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from bridge.audio.echo_history import History

ANALYSIS_RATE = 8000  # about: the device rate divided by a whole number
# the analysis band's edge, as a share of the device rate's Nyquist frequency, at most: the
# echo's top octave is where a device's and a sound server's resamplers roll off and shift
# phase, so at 8 kHz the whole band matched the far end only 32-58 % on the rig, and the
# assistant's first word reached Vapi as the visitor (13 runs of 14); to 2.4 kHz, 82-99 %
MAX_BAND = 0.6


class Analysis:
    """One stream at the analysis rate: low-passed (a windowed-sinc FIR, ~1 ms of delay at
    48 kHz and at 8 kHz; `MAX_BAND`), decimated by an integer `k`, pre-emphasised, kept as
    history.

    The FIR and the pre-emphasis (`a[i] - 0.9 a[i-1]` on the decimated stream) are one
    filter on the device-rate input, evaluated only at the kept outputs: a matrix-vector
    product over overlapping windows of a preallocated buffer, no per-block arrays but
    the output."""

    def __init__(self, rate: int, keep_s: float, energy: bool = False) -> None:
        self.k = k = max(1, round(rate / ANALYSIS_RATE))
        self.rate = rate // k
        self.history = History(int(keep_s * self.rate), energy)
        # Hamming (-53 dB sidelobes), passband to 0.4 of the analysis rate, stopband from 0.6
        # (at 8 kHz, k = 1: to MAX_BAND of the Nyquist frequency)
        n = int(np.ceil(3.3 * rate / (0.2 * self.rate))) | 1
        t = np.arange(n) - (n - 1) / 2
        band = min(1 / k, MAX_BAND)  # the analysis Nyquist frequency, or below it
        taps = np.sinc(t * band) * np.hamming(n)
        taps = taps / taps.sum() / 32768.0  # symmetric
        g = np.zeros(n + k)  # y[i] = sum g[j] u[i k - j]: the FIR, less 0.9 of it a step back
        g[:n] += taps
        g[k:] -= 0.9 * taps
        self._g = g[::-1].astype(np.float32)  # against a window, oldest input first
        self._held = len(g) - 1  # inputs the next output reaches back over
        self._x = np.zeros(self._held + rate // 10, dtype=np.float32)  # held, then the block
        self._skip = 0  # inputs to skip before the next kept output
        self._windows: dict[tuple[int, int], np.ndarray] = {}

    def push(self, samples: np.ndarray) -> int:
        m, h, k = len(samples), self._held, self.k
        if h + m > len(self._x):
            self._x = np.concatenate((self._x[:h], np.zeros(m, dtype=np.float32)))
            self._windows.clear()
        x = self._x
        x[h:h + m] = samples
        rows = max(0, (m - self._skip + k - 1) // k)  # outputs ending in this block
        if rows:
            key = (self._skip, rows)
            windows = self._windows.get(key)
            if windows is None:  # a view of x: made once per block size and phase
                if len(self._windows) > 64:
                    self._windows.clear()
                windows = self._windows[key] = as_strided(
                    x[self._skip:], shape=(rows, h + 1), strides=(k * x.itemsize, x.itemsize),
                    writeable=False)
            self.history.append(np.dot(windows, self._g))
        x[:h] = x[m:m + h]
        self._skip = (self._skip - m) % k
        return rows
