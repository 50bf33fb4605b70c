"""Arrival-jitter estimate for the playout buffer's target depth.

For each downlink chunk, `offset = arrival time − media time` (media time = audio received
so far / rate). A chunk that arrives late raises its offset. Between arrivals the speaker
drains up to one whole chunk, so to hide every late arrival in a sliding window the buffer
must hold the largest lateness (an offset above the lowest offset before it) plus the
longest chunk, plus one device block. Audio arriving early (faster than real time, which
lowers each offset) is queued anyway and is no lateness, so it does not raise the target. The target
rises as soon as a later arrival is seen and falls only once a whole window has shown less
(fast attack, slow decay). A long pause in arrivals (Vapi stops sending on barge-in) starts
a new window, so a silence is not mistaken for network delay.
"""

from __future__ import annotations

from collections import deque


class JitterEstimator:
    def __init__(self, rate: int, *, window_s: float = 8.0, pause_s: float = 0.5) -> None:
        self.rate = rate
        self.window_s = window_s
        self.pause_s = pause_s
        self._media = 0
        self._last: float | None = None
        self._base = 0.0
        self._window: deque[tuple[float, float, float]] = deque()  # (arrival, offset, chunk s)
        self.jitter_ms = 0.0
        self.chunk_ms = 0.0
        self.span_s = 0.0

    @property
    def settled(self) -> bool:
        """The window is full: a low estimate is trustworthy, not just a short sample."""
        return self.span_s >= 0.9 * self.window_s

    def on_chunk(self, now: float, samples: int) -> float:
        """Record one arrival; returns the buffering (ms) that would have hidden the
        window's worst late arrival: offset spread + longest chunk."""
        if self._last is None or now - self._last > self.pause_s:
            self._base = now - self._media / self.rate
            self._window.clear()
        self._last = now
        offset = now - self._media / self.rate - self._base
        self._media += samples
        window = self._window
        window.append((now, offset, samples / self.rate))
        while now - window[0][0] > self.window_s:
            window.popleft()
        self.span_s = now - window[0][0]
        lowest, late = float("inf"), 0.0
        for _, o, _ in window:
            lowest = min(lowest, o)
            late = max(late, o - lowest)
        self.jitter_ms = late * 1000.0
        self.chunk_ms = max(c for _, _, c in window) * 1000.0
        return self.jitter_ms + self.chunk_ms


def target_ms(needed_ms: float, block_ms: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, needed_ms + block_ms))
