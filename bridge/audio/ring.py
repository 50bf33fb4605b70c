"""A single-producer / single-consumer ring of int16 samples, without a lock.

Each side advances only its own counter (a Python int assignment is atomic), so an audio
callback can write while the event loop reads. When the reader falls a whole ring behind,
it skips to the newest audio.
"""

from __future__ import annotations

import numpy as np


class SampleRing:
    def __init__(self, capacity: int) -> None:
        self.buf = np.zeros(capacity, dtype=np.int16)
        self.cap = capacity
        self.w = 0  # written by the producer only
        self.r = 0  # written by the consumer only

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
