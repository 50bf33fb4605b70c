"""The recent uplink audio, addressed by absolute sample position (for the echo assistant)."""

from __future__ import annotations

from collections import deque

import numpy as np


class RollingAudio:
    """Keeps the last ``seconds`` of audio as a list of chunks (no per-frame copying)."""

    def __init__(self, rate: int, seconds: float = 60.0) -> None:
        self.max = int(rate * seconds)
        self.chunks: deque[tuple[int, np.ndarray]] = deque()
        self.end = 0

    def append(self, x: np.ndarray) -> None:
        if len(x) == 0:
            return
        self.chunks.append((self.end, np.asarray(x, dtype=np.int16)))
        self.end += len(x)
        while self.chunks and self.end - (self.chunks[0][0] + len(self.chunks[0][1])) > self.max:
            self.chunks.popleft()

    def get(self, start: int, end: int) -> np.ndarray:
        """Samples [start, end) that are still held."""
        parts = [
            c[max(0, start - p) : max(0, end - p)]
            for p, c in self.chunks
            if p < end and p + len(c) > start
        ]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
