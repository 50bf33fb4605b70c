"""Exact wire frames from a stream of samples, with silence when there is nothing.

The uplink must carry exactly one 20 ms frame every 20 ms. The framer holds the
resampled microphone audio; `pop` takes one frame from it, or digital silence when less than
a frame is there (the part that is there waits).

Frame boundaries are laid where the capture ends, not where the stream began: the first
audio pushed (after construction or `clear`) is padded at its front with silence up to a
whole number of frames, once. Afterwards a frame is complete as soon as the capture completes
it, so what the resampler holds back is not rounded up to a whole frame (with 20 ms device
blocks every push completes exactly one frame). When more than `max_backlog_ms` piles up the
oldest audio is dropped back to `keep_ms`, so the uplink delay stays bounded; `trim` drops
back to a bound of the caller's (what a microphone held before the call).
"""

from __future__ import annotations

import numpy as np


class Framer:
    def __init__(self, sample_rate: int, frame_ms: int = 20, max_backlog_ms: int = 100,
                 keep_ms: int = 40) -> None:
        self.frame_samples = sample_rate * frame_ms // 1000
        self._buf = np.zeros(sample_rate * 2, dtype=np.int16)
        self._len = 0
        self._max = sample_rate * max_backlog_ms // 1000
        self._keep = max(self.frame_samples, sample_rate * keep_ms // 1000)
        self._silence = np.zeros(self.frame_samples, dtype=np.int16)
        self.silence_frames = 0
        self.dropped_samples = 0
        self.padded_samples = 0  # silence laid before the first audio (frame alignment)
        self._aligned = False

    def push(self, samples: np.ndarray) -> None:
        n = len(samples)
        if n == 0:
            return
        if not self._aligned:
            self._aligned = True
            pad = -(self._len + n) % self.frame_samples
            if pad:
                self.push(self._silence[:pad])
                self.padded_samples += pad
        if self._len + n > len(self._buf):
            grown = np.zeros(max(len(self._buf) * 2, self._len + n), dtype=np.int16)
            grown[: self._len] = self._buf[: self._len]
            self._buf = grown
        self._buf[self._len:self._len + n] = samples
        self._len += n
        if self._len > self._max:
            drop = self._len - self._keep
            self._buf[: self._keep] = self._buf[drop:self._len]
            self._len = self._keep
            self.dropped_samples += drop

    def trim(self, keep_ms: float) -> None:
        """Drop the oldest audio beyond `keep_ms` (counted in `dropped_samples`)."""
        keep = int(self.frame_samples * keep_ms / 20)
        if self._len > keep:
            drop = self._len - keep
            self._buf[:keep] = self._buf[drop:self._len]
            self._len = keep
            self.dropped_samples += drop

    def pop(self) -> np.ndarray:
        """One frame: the oldest buffered audio, or silence."""
        f = self.frame_samples
        if self._len < f:
            self.silence_frames += 1
            return self._silence
        frame = self._buf[:f].copy()
        if self._len > f:  # (with blocks of a whole frame nothing is left to move up)
            self._buf[: self._len - f] = self._buf[f:self._len]
        self._len -= f
        return frame

    def clear(self) -> None:
        """Drop what is buffered; the next audio pushed is aligned afresh."""
        self._len = 0
        self._aligned = False

    @property
    def buffered_ms(self) -> float:
        return self._len * 20.0 / self.frame_samples
