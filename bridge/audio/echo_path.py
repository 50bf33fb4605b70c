"""Where, and how loud, the speaker comes back in the microphone.

The bridge knows exactly what the speaker played (the far end), so the echo path is
measured, not guessed from the microphone's level: the newest `window_ms` of microphone
is cross-correlated (FFT, at a low analysis rate) with the far end at every lag up to
`max_lag_ms`. The best lag explains the largest share of the microphone's energy; that
share (the squared normalised correlation, `rho2`; with the lags beside it, and a second
path, fitted with it: `echo_taps`) says whether the microphone is mostly echo. A visitor's
voice is not correlated with the far end, so it neither moves the lag nor biases the
least-squares gain: unlike a level learned from the microphone alone, the estimate
cannot learn a visitor as echo.

Streams are indexed by their own cumulative sample counts (far `f`, microphone `m`); an
echo path is the constant relation `m + lag` = the far sample heard at microphone sample
`m`, so it holds across ticks whatever the callbacks' timing. The lock (`lag`, `ratio`:
microphone energy over far energy at that lag) is updated only from windows the far end
explains well (`rho2 >= lock_rho2`), twice running at the same lag (within 2 ms), and
dropped once a whole window of microphone holds `MISSING` less than the echo it predicts
(`refuted`): the far end played at the lag and no echo came, so the lock was a chance
match (a visitor repeating the assistant's word in a like voice) or the path is gone;
kept, it would take a visitor for echo for as long as the far end played.
Once locked, `track` follows the path at the lags near the lock (dot products: about a
sixth of the search's cost), searching every lag only now and then or when those no
longer explain the microphone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bridge.audio.echo_history import History
from bridge.audio.echo_taps import PAIR_MS, fit

NEAR_MS = 5.0  # a locked path is followed this far each way with no FFT (`track`)
# and searched over every lag every this many measurements, twice as many after each such
# search that left the lock where it was, up to `FULL_MAX`
FULL_EVERY, FULL_MAX = 4, 16
# a locked path's second is searched for at most once this often, twice as long after each
# search that found none (a visitor talking, one path), up to `SEARCH_GAP_MAX_MS`
SEARCH_GAP_MS, SEARCH_GAP_MAX_MS = 60.0, 960.0
MISSING = 100.0  # 20 dB: a lock predicting this much more echo than the microphone holds


@dataclass
class PathMeasurement:
    lag: int  # far index minus microphone index of the best lag
    gain2: float  # least-squares power gain at that lag (the echo the lag explains)
    rho2: float  # share of the microphone's energy the far end explains there


class EchoPathEstimator:
    def __init__(self, rate: int, *, window_ms: float = 128.0, max_lag_ms: float = 850.0,
                 lock_rho2: float = 0.5, min_dbfs: float = -80.0) -> None:
        self.rate = rate
        self.window = int(rate * window_ms / 1000)
        self.max_lag = int(rate * max_lag_ms / 1000)
        self.lock_rho2 = lock_rho2
        # the least energy worth measuring: 10 ms at `min_dbfs` (full scale 1)
        self.min_energy = 10 ** (min_dbfs / 10) * rate / 100
        self.lag: int | None = None  # the locked echo path
        self.ratio = 0.0  # microphone / far energy at the locked lag (reverb, noise included)
        self.locks = 0
        self.searches = 0  # measurements over every lag (FFTs: most of the gate's CPU)
        # (lag, microphone count) where a confident measurement first found a lag: it is
        # locked once found again a whole window later, on new data (a real echo path
        # stays; a chance match — a visitor whose voice resembles the assistant's, at one
        # of thousands of lags — does not)
        self._candidate: tuple[int, int] | None = None
        self._agree = max(1, rate // 500)  # 2 ms
        self._nfft = 1 << int(np.ceil(np.log2(self.window + self.max_lag)))
        self._spectrum = np.zeros(self._nfft // 2 + 1, dtype=np.complex64)
        self._spectrum_of: tuple[int, int] | None = None  # (far history, its count)
        self._both = np.zeros((2, self._nfft), dtype=np.float32)  # far end, microphone
        self._near = max(1, round(rate * NEAR_MS / 1000))  # lags `track()` looks at, each way
        self._pair = round(rate * PAIR_MS / 1000)  # a second path is looked for this near
        self._tracked, self._full = 0, FULL_EVERY  # since the last whole search; apart
        self._gap = self._gap_min = round(rate * SEARCH_GAP_MS / 1000)
        self._gap_max = round(rate * SEARCH_GAP_MAX_MS / 1000)
        self._searched_at = -self._gap_max  # microphone count at the last search for a pair
        self._searching = False  # this fit may search
        self._last: tuple[int, int] | None = None  # the last pair found (lags)

    def measure(self, far: History, mic: History, window: int | None = None,
                lock: bool = True, held: bool = False) -> PathMeasurement | None:
        """The best explanation of the newest `window` samples of microphone (default: the
        estimator's window, at most that) by the far end, or None when either is too quiet
        to tell. Updates the lock (if `lock`) when the far end explains it. `far` keeps its
        energy (`History(…, energy=True)`) and at least `window + max_lag` samples. `held`:
        the lock is being followed (`track`), so its lag explaining enough ends the fit."""
        w = window or self.window
        m_end = mic.count
        x = mic.span(m_end - w, m_end)
        e_m = float(np.dot(x, x))
        if e_m < self.min_energy:
            return None
        # lags from "the far end just played" (far.count - m_end) back to max_lag earlier:
        # the far end's newest w + max_lag samples, whatever the window
        e_f = far.energies(w + self.max_lag, w)  # far energy under the window, per lag
        if float(e_f.max()) < self.min_energy:
            return None
        # correlated against the far end's newest window + max_lag samples (one spectrum for
        # every window length, kept while the far end has not moved): a shorter window is
        # the estimator's with its older samples zero, so its lags start `window - w` later
        off = self.window - w
        self.searches += 1
        spectrum, far_spectrum = self._spectra(far, x)
        r = np.fft.irfft(np.conj(spectrum) * far_spectrum, self._nfft)[off:off + len(e_f)]
        return self._best(r, e_f, e_m, far.count - m_end - self.max_lag, m_end, lock,
                          far, w, held=held)

    def track(self, far: History, mic: History) -> PathMeasurement | None:
        """`measure()` for a locked path, at a fraction of its cost: most times only the
        lags within `NEAR_MS` of the lock are correlated (dot products, no FFT); the whole
        range is searched every `FULL_EVERY` to `FULL_MAX` times, and whenever the lags
        near the lock explain less than the lock needs (the path moved: an underrun, a lost
        block), so a measurement finds what `measure()` would wherever the lock still holds."""
        self._tracked += 1
        if self.lag is not None and self._tracked < self._full:
            near = self._measure_near(far, mic, self.lag)
            if near is not None and near.rho2 >= self.lock_rho2:
                return near
        lag, self._tracked = self.lag, 0
        found = self.measure(far, mic, held=True)
        self._full = (min(2 * self._full, FULL_MAX) if lag is not None and self.lag == lag
                      else FULL_EVERY)
        return found

    def _measure_near(self, far: History, mic: History, lag: int) -> PathMeasurement | None:
        """The best lag within `NEAR_MS` of `lag`, or None when the microphone, or the far
        end there, is too quiet to tell. Updates the lock as `measure()` does."""
        w, m_end, s = self.window, mic.count, self._near
        x = mic.span(m_end - w, m_end)
        e_m = float(np.dot(x, x))
        if e_m < self.min_energy:
            return None
        # lag index k as in measure(): lag = far.count - m_end - max_lag + k
        k0 = lag - (far.count - m_end - self.max_lag)
        lo, hi = max(0, k0 - s), min(self.max_lag, k0 + s)
        if hi < lo:
            return None
        e_f = far.energies(w + self.max_lag, w, lo, hi + 1)
        if float(e_f.max()) < self.min_energy:
            return None
        first = far.count - w - self.max_lag + lo  # far index under x[0] at lag index lo
        r = np.correlate(far.span(first, first + w + hi - lo), x, "valid")
        return self._best(r, e_f, e_m, lag - k0 + lo, m_end, True, far, w, s, True)

    def _best(self, r: np.ndarray, e_f: np.ndarray, e_m: float, first_lag: int, m_end: int,
              lock: bool, far: History, w: int, pair: int | None = None,
              held: bool = False) -> PathMeasurement:
        """Of the lags `first_lag`, `first_lag + 1`, … (their correlations `r` with the
        newest `w` samples of microphone, whose energy is `e_m`, and the far end's energy
        `e_f` under each), the one that explains most, with its neighbours and a second
        path within `pair` lags (default `PAIR_MS`) fitted with it (`echo_taps.fit`); it
        updates the lock (if `lock`) when they explain enough."""
        explained = np.square(r, dtype=np.float64) / np.maximum(e_f, self.min_energy)
        start = m_end - w + first_lag  # the far end under the window's first sample, lag 0
        lock_at = (self.lag - first_lag, self.lock_rho2 * e_m) if (
            held and self.lag is not None) else None
        last = None if self._last is None else (self._last[0] - first_lag,
                                                 self._last[1] - first_lag)
        k, both, two = fit(r, e_f, e_m, int(np.argmax(explained)),
                           self._pair if pair is None else pair,
                           lambda lo, hi: far.span(start + lo, start + hi - 1 + w), w,
                           lock_at, last, lambda: self._may_search(m_end, pair is not None))
        if two is not None and pair is None:  # not a pair `track` found near the lock
            self._last = (first_lag + two[0], first_lag + two[1])
        if self._searching:  # a search ran: none found, the next one later
            self._gap = self._gap_min if two is not None else min(2 * self._gap, self._gap_max)
            self._searching = False
        e_far = max(float(e_f[k]), self.min_energy)
        found = PathMeasurement(lag=first_lag + k, gain2=both / e_far,
                                rho2=min(1.0, both / e_m))
        if lock and found.rho2 >= self.lock_rho2:
            self._confirm(found, e_m / e_far, m_end)
        return found

    def _may_search(self, at: int, near: bool) -> bool:
        """Whether a pair may be searched for at microphone count `at` (a search costs
        an FFT and a few fits; while a visitor talks over the echo it ran on most ticks,
        doubling the gate's CPU): always before a lock, then at most once per `_gap`;
        near the lock (`near`, a smaller search) only while no pair is remembered (one
        out of its reach failed it on most ticks)."""
        if near:
            return self._last is None
        if self.lag is None:
            self._gap = self._gap_min
        elif at - self._searched_at < self._gap:
            return False
        self._searched_at, self._searching = at, True
        return True

    def _spectra(self, far: History, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`x`'s spectrum and the far end's newest window + max_lag samples' (kept while
        the far end has not moved); both in one transform when the far end moved: numpy's
        FFT plans each call anew, about half of an 8192-point transform's time."""
        key = (id(far), far.count)
        if self._spectrum_of == key:
            return np.fft.rfft(x, self._nfft), self._spectrum
        n, both = self.window + self.max_lag, self._both
        both[0, :n] = far.span(far.count - n, far.count)
        both[1, :len(x)] = x
        both[1, len(x):] = 0.0
        self._spectrum, spectrum = np.fft.rfft(both)
        self._spectrum_of = key
        return spectrum, self._spectrum

    def refuted(self, far: History, mic: History, floor: float) -> bool:
        """Whether the microphone's newest window holds `MISSING` less energy than the echo
        the lock predicts there (and than `floor`); the lock is dropped then. Two dot
        products. `mic` keeps its energy."""
        if self.lag is None:
            return False
        x = far.span(mic.count - self.window + self.lag, mic.count + self.lag)
        if self.ratio * float(np.dot(x, x)) <= MISSING * max(mic.energy(self.window), floor):
            return False
        self.lag, self.ratio, self._candidate = None, 0.0, None
        return True

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
