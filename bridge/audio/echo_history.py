"""The echo gate's streams kept as history (`echo_path`, `echo_analysis`): the newest
samples, their cumulative count and, optionally, their running energy."""

from __future__ import annotations

import numpy as np


class History:
    """The newest `size` float32 samples of a stream and its cumulative count; with
    `energy`, also the running sum of their squares (float64), so the energy of any span
    is a difference of two sums instead of a pass over the span.

    Kept in a buffer twice as long, appended at its end and moved back to the front once
    it is full (one copy per `size` samples, not per append), so the newest samples are
    always one contiguous slice: `span` returns a view of them when it can.
    """

    def __init__(self, size: int, energy: bool = False) -> None:
        self.size = size
        self._buf = np.zeros(2 * size, dtype=np.float32)
        self._end = size  # _buf[_end - size:_end] holds the newest `size` samples
        # _cum[j] - _cum[i]: the energy of _buf[i:j]
        self._cum = np.zeros(2 * size + 1) if energy else None
        self.count = 0  # samples appended so far; buf[-1] is sample count - 1

    @property
    def buf(self) -> np.ndarray:
        return self._buf[self._end - self.size:self._end]

    def append(self, x: np.ndarray) -> None:
        n = len(x)
        if n == 0:
            return
        size, cum, e = self.size, self._cum, self._end
        if n >= size:
            x, m, e = x[-size:], size, 0
        else:
            m = n
            if e + m > len(self._buf):  # full: the newest `size` samples back to the front
                start = e - size
                self._buf[:size] = self._buf[start:e]
                if cum is not None:
                    cum[:size + 1] = cum[start:e + 1] - cum[start]
                e = size
        self._buf[e:e + m] = x
        if cum is not None:
            if e == 0:
                cum[0] = 0.0
            part = cum[e + 1:e + m + 1]  # np.cumsum's sums, without its wrapper's cost
            np.add.accumulate(np.square(self._buf[e:e + m], dtype=np.float64), out=part)
            part += cum[e]
        self._end = e + m
        self.count += n

    def span(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) by cumulative index: zeros where not (or no longer) held.
        A view into the history where it holds them all (read it, do not keep it)."""
        first = self.count - self.size
        if start >= first and stop <= self.count and stop >= start:
            e = self._end
            return self._buf[e - (self.count - start):e - (self.count - stop)]
        out = np.zeros(max(0, stop - start), dtype=np.float32)
        lo, hi = max(start, first), min(stop, self.count)
        if hi > lo:
            b = self._end - self.size
            out[lo - start:hi - start] = self._buf[b + lo - first:b + hi - first]
        return out

    def energy(self, length: int) -> float:
        """The energy of the newest `length` samples (`energy` and `length <= size`)."""
        assert self._cum is not None and length <= self.size
        return float(self._cum[self._end] - self._cum[self._end - length])

    def energies(self, length: int, w: int, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """The energy under each `w`-sample window of the newest `length` samples (float64,
        `length - w + 1` windows, oldest first; only windows `lo` … `hi - 1` of them if
        given). Needs `energy` and `length <= size`."""
        assert self._cum is not None and w <= length <= self.size
        c = self._cum[self._end - length:self._end + 1]
        hi = length - w + 1 if hi is None else hi
        return c[w + lo:w + hi] - c[lo:hi]
