"""A single-producer / single-consumer ring of int16 samples, without a lock.

Each side advances only its own counter (a Python int assignment is atomic), so an audio
callback can write while the event loop reads. When the reader falls a whole ring behind,
it skips to the newest audio.

The writer may stamp the ring with when its latest sample was (or will be) heard, as
`(monotonic time, write count)` in one tuple, so the reader can tell when the end of what
it took was heard, however the two sides interleave.
"""

from __future__ import annotations

import numpy as np


class SampleRing:
    def __init__(self, capacity: int) -> None:
        self.buf = np.zeros(capacity, dtype=np.int16)
        self.cap = capacity
        self.w = 0  # written by the producer only
        self.r = 0  # written by the consumer only
        self.stamp: tuple[float, int] | None = None  # (time of sample w, w): producer only
        self.rate = 0  # samples per second, for `time_of`

    def time_of(self, pos: int) -> float | None:
        """When sample `pos` was (or will be) heard, from the latest stamp."""
        stamp = self.stamp
        if stamp is None or not self.rate:
            return None
        return stamp[0] + (pos - stamp[1]) / self.rate

    def put(self, samples: np.ndarray) -> None:
        n = len(samples)
        if n > self.cap:
            samples, n = samples[-self.cap:], self.cap
        start = self.w % self.cap
        first = min(n, self.cap - start)
        self.buf[start:start + first] = samples[:first]
        if first < n:
            self.buf[: n - first] = samples[first:n]
        self.w += n

    def take(self) -> np.ndarray:
        """Everything written since the last take (at most one ring's worth)."""
        w = self.w
        n = w - self.r
        if n > self.cap:
            self.r = w - self.cap
            n = self.cap
        out = np.empty(n, dtype=np.int16)
        start = self.r % self.cap
        first = min(n, self.cap - start)
        out[:first] = self.buf[start:start + first]
        if first < n:
            out[first:] = self.buf[: n - first]
        self.r = w
        return out
