"""One channel of a recording on its way to the file: the samples not yet written, where its
end lies on the recording's timeline, and the silence put in where its source lost time."""

from __future__ import annotations

import numpy as np


class Leg:
    """One channel's samples not yet written, and how many it has had in all."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.chunks: list[np.ndarray] = []
        self.n = 0
        self.padded = 0
        self.lags: list[int] = []  # how far behind its clock, over the first ticks

    def add(self, samples: np.ndarray) -> None:
        if len(samples):
            self.chunks.append(samples)
            self.n += len(samples)

    def pad(self, upto: int) -> None:
        """Silence up to `upto`: time this leg's source lost (counted in `padded`)."""
        if self.n < upto:
            self.padded += upto - self.n
            self.add(np.zeros(upto - self.n, dtype=np.int16))

    def take(self, n: int) -> np.ndarray:
        return _take(self.chunks, n)


def _take(chunks: list[np.ndarray], n: int) -> np.ndarray:
    """Remove and return the first n samples of a chunk list (zeros where it runs out)."""
    out = np.zeros(n, dtype=np.int16)
    filled = 0
    while chunks and filled < n:
        head = chunks[0]
        k = min(len(head), n - filled)
        out[filled:filled + k] = head[:k]
        filled += k
        if k == len(head):
            chunks.pop(0)
        else:
            chunks[0] = head[k:]
    return out
