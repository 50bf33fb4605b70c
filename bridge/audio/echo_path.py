"""Where, and how loud, the speaker comes back in the microphone.

The bridge knows exactly what the speaker played (the far end), so the echo path is
measured, not guessed from the microphone's level: the newest `window_ms` of microphone
is cross-correlated (FFT, at a low analysis rate) with the far end at every lag up to
`max_lag_ms`. The best lag explains the largest share of the microphone's energy; that
share (the squared normalised correlation, `rho2`) says whether the microphone is mostly
echo. A visitor's voice is not correlated with the far end, so it neither moves the lag
nor biases the least-squares gain: unlike a level learned from the microphone alone, the
estimate cannot learn a visitor as echo.

Streams are indexed by their own cumulative sample counts (far `f`, microphone `m`); an
echo path is the constant relation `m + lag` = the far sample heard at microphone sample
`m`, so it holds across ticks whatever the callbacks' timing. The lock (`lag`, `ratio`:
microphone energy over far energy at that lag) is updated only from windows the far end
explains well (`rho2 >= lock_rho2`), twice running at the same lag (within 2 ms).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PathMeasurement:
    lag: int  # far index minus microphone index of the best lag
    gain2: float  # least-squares power gain at that lag (the echo the lag explains)
    rho2: float  # share of the microphone's energy the far end explains there


class History:
    """The newest `size` float32 samples of a stream and its cumulative count."""

    def __init__(self, size: int) -> None:
        self.buf = np.zeros(size, dtype=np.float32)
        self.count = 0  # samples appended so far; buf[-1] is sample count - 1

    def append(self, x: np.ndarray) -> None:
        n = len(x)
        if n == 0:
            return
        size = len(self.buf)
        if n >= size:
            self.buf[:] = x[-size:]
        else:
            self.buf[:-n] = self.buf[n:]
            self.buf[-n:] = x
        self.count += n

    def span(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) by cumulative index: zeros where not (or no longer) held."""
        out = np.zeros(max(0, stop - start), dtype=np.float32)
        first = self.count - len(self.buf)
        lo, hi = max(start, first), min(stop, self.count)
        if hi > lo:
            out[lo - start:hi - start] = self.buf[lo - first:hi - first]
        return out


class EchoPathEstimator:
    def __init__(self, rate: int, *, window_ms: float = 128.0, max_lag_ms: float = 850.0,
                 lock_rho2: float = 0.5, min_dbfs: float = -80.0) -> None:
        self.rate = rate
        self.window = int(rate * window_ms / 1000)
        self.max_lag = int(rate * max_lag_ms / 1000)
        self.lock_rho2 = lock_rho2
        # the least energy worth measuring: 10 ms at `min_dbfs` (full scale 1)
        self._min_energy = 10 ** (min_dbfs / 10) * rate / 100
        self.lag: int | None = None  # the locked echo path
        self.ratio = 0.0  # microphone / far energy at the locked lag (reverb, noise included)
        self.locks = 0
        # (lag, microphone count) where a confident measurement first found a lag: it is
        # locked once found again a whole window later, on new data (a real echo path
        # stays; a chance match — a visitor whose voice resembles the assistant's, at one
        # of thousands of lags — does not)
        self._candidate: tuple[int, int] | None = None
        self._agree = max(1, rate // 500)  # 2 ms

    def measure(self, far: History, mic: History, window: int | None = None,
                lock: bool = True) -> PathMeasurement | None:
        """The best explanation of the newest `window` samples of microphone (default: the
        estimator's window) by the far end, or None when either is too quiet to tell.
        Updates the lock (if `lock`) when the far end explains it."""
        w = window or self.window
        nfft = 1 << int(np.ceil(np.log2(w + self.max_lag)))
        m_end = mic.count
        x = mic.span(m_end - w, m_end)
        e_m = float(np.dot(x, x))
        if e_m < self._min_energy:
            return None
        # lags from "the far end just played" (far.count - m_end) back to max_lag earlier
        top = far.count - m_end
        low = top - self.max_lag
        y = far.span(m_end - w + low, m_end + top)
        sq = np.concatenate(([0.0], np.cumsum(np.square(y, dtype=np.float64))))
        e_f = sq[w:] - sq[:-w]  # far energy under the window, per lag
        if float(e_f.max()) < self._min_energy:
            return None
        spec = np.conj(np.fft.rfft(x, nfft)) * np.fft.rfft(y, nfft)
        r = np.fft.irfft(spec, nfft)[: len(e_f)]
        explained = np.square(r) / np.maximum(e_f, self._min_energy)
        k = int(np.argmax(explained))
        rho2 = min(1.0, float(explained[k]) / e_m)
        gain2 = float(explained[k]) / max(float(e_f[k]), self._min_energy)
        found = PathMeasurement(lag=low + k, gain2=gain2, rho2=rho2)
        if lock and rho2 >= self.lock_rho2:
            self._confirm(found, e_m / max(float(e_f[k]), self._min_energy), m_end)
        return found

    def _confirm(self, found: PathMeasurement, ratio: float, at: int) -> None:
        c = self._candidate
        same = c is not None and abs(found.lag - c[0]) <= self._agree
        if c is None or not same:
            self._candidate = (found.lag, at)
            if not (self.lag is not None and abs(found.lag - self.lag) <= self._agree):
                return
        elif at - c[1] < self.window:
            return
        first = self.lag is None
        self.lag = found.lag
        self.ratio = ratio if first else 0.5 * self.ratio + 0.5 * ratio
        self.locks += 1
