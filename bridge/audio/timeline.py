"""One channel of a recording on its way to the file: the samples not yet written, where its
end lies on the recording's timeline, and the silence put in where its source lost time.

A leg's clock that jumps is not time lost (a stamp on another clock; once, the frames sent
before the microphone's first block were placed at the monotonic clock's zero, the
machine's boot): a leg more than `jump` behind where its clock puts it takes the difference
as its `shift` and goes on from there, rather than padding hours of silence (gigabytes, on
the event loop)."""

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
        self.shift = 0  # how far its clock jumped in all (samples): left out of its place

    def add(self, samples: np.ndarray) -> None:
        if len(samples):
            self.chunks.append(samples)
            self.n += len(samples)

    def place(self, target: int, slack: int, jump: int, settling: bool) -> tuple[int, int]:
        """Pad up to `target` (its clock's place for the end of the samples so far) when
        more than `slack` behind it; (samples padded, samples its clock jumped by)."""
        behind = target - self.shift - self.n
        if behind > jump:  # (a clock jumping back pads nothing: the leg waits for it)
            self.shift += behind
            return 0, behind
        if settling:
            self.lags.append(behind)
        if behind <= slack:
            return 0, 0
        self.pad(self.n + behind)
        return behind, 0

    def pad(self, upto: int) -> None:
        """Silence up to `upto`: time this leg's source lost (counted in `padded`)."""
        if self.n < upto:
            self.padded += upto - self.n
            self.add(np.zeros(upto - self.n, dtype=np.int16))

    def take(self, n: int) -> np.ndarray:
        return _take(self.chunks, n)


def settle(*legs: Leg) -> int:
    """How far each leg's samples lag where their clock puts them (the median, against the
    first ticks' jitter); the leg that lags less gets the difference as silence at its
    start, so an instant lies at one place on all. Silence placed before is part of that
    offset, not lost time. Returns the lag they share."""
    lags = [sorted(leg.lags)[len(leg.lags) // 2] if leg.lags else 0 for leg in legs]
    for leg, lag in zip(legs, lags, strict=True):
        extra = lag - min(lags)
        leg.chunks.insert(0, np.zeros(extra, dtype=np.int16))
        leg.n, leg.padded = leg.n + extra, 0
    return min(lags)


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
