"""A single-producer / single-consumer ring of int16 samples, without a lock.

Each side advances only its own counter (a Python int assignment is atomic), so an audio
callback can write while the event loop reads. Positions count every sample ever written,
so a position is also a sample clock. `take()` hands the reader everything new; when it
has fallen a whole ring behind, it skips to the newest audio and counts what it lost.
The playout buffer uses the same storage with its own rule (the writer never overwrites
what is unread) and `copy_out` at its own read position.

The writer may mark when one of its samples was (or will be) heard. A mark is kept as a
single float, the time of position 0 on that clock, so one attribute store publishes it
whole however the two sides interleave, and marking allocates nothing.
"""

from __future__ import annotations

import numpy as np


class SampleRing:
    def __init__(self, capacity: int, rate: int = 0) -> None:
        self.buf = np.zeros(capacity, dtype=np.int16)
        self.cap = capacity
        self.rate = rate  # samples per second, for `mark` and `time_of`
        self.w = 0  # written by the producer only
        self.r = 0  # written by the consumer only
        self.lost = 0  # samples the consumer skipped, a whole ring behind: consumer only
        self.origin: float | None = None  # when position 0 is heard, per the latest mark

    # ---- producer ---------------------------------------------------------------------
    def put(self, samples: np.ndarray) -> None:
        """Append `samples`, overwriting the oldest when the reader lags (more than a ring
        at once keeps its newest ring's worth; the positions still count all of it)."""
        n = len(samples)
        pos = self.w
        if n > self.cap:
            pos += n - self.cap
            samples, n = samples[n - self.cap:], self.cap
        start = pos % self.cap
        first = min(n, self.cap - start)
        self.buf[start:start + first] = samples[:first]
        if first < n:
            self.buf[: n - first] = samples[first:n]
        self.w = pos + n  # published only once the samples are in place

    def mark(self, at: float, pos: int) -> None:
        """Sample `pos` was (or will be) heard at monotonic time `at`. Needs `rate`."""
        self.origin = at - pos / self.rate

    # ---- consumer ---------------------------------------------------------------------
    def time_of(self, pos: int) -> float | None:
        """When sample `pos` was (or will be) heard, from the latest mark."""
        origin = self.origin
        if origin is None or not self.rate:
            return None
        return origin + pos / self.rate

    def copy_out(self, pos: int, dst: np.ndarray) -> None:
        """Copy the `len(dst)` samples from position `pos` into `dst` (no allocation; the
        caller keeps `pos` within the last ring's worth written)."""
        n = len(dst)
        start = pos % self.cap
        first = min(n, self.cap - start)
        dst[:first] = self.buf[start:start + first]
        if first < n:
            dst[first:] = self.buf[: n - first]

    def take(self) -> np.ndarray:
        """Everything written since the last take (at most one ring's worth)."""
        w = self.w
        n = w - self.r
        if n > self.cap:
            self.lost += n - self.cap
            self.r = w - self.cap
            n = self.cap
        out = np.empty(n, dtype=np.int16)
        self.copy_out(self.r, out)
        self.r = w
        return out
