"""Arrival-jitter estimate for the playout buffer's target depth.

For each downlink chunk, `offset = arrival time − media time` (media time = audio received
so far / rate). A chunk that arrives late raises its offset. Between arrivals the speaker
drains up to one whole chunk, so to hide every late arrival in a sliding window the buffer
must hold the largest lateness (an offset above the lowest offset before it) plus the
longest chunk, plus one device block. Audio arriving early (faster than real time, which
lowers each offset) is queued anyway and is no lateness, so it does not raise the target.
The target rises as soon as a later arrival is seen and falls only once a whole window has
shown less (fast attack, slow decay). A long pause in arrivals (Vapi stops sending on
barge-in) starts a new window, so a silence is not mistaken for network delay.

Cost: O(1) amortised per chunk. The window is a queue built from two stacks, each entry
carrying the aggregate of the entries below it on its stack (lowest offset, highest
offset, largest rise from a lower offset to a later higher one, longest chunk), so the
window's figures combine the two stacks' tops instead of rescanning the window.
"""

from __future__ import annotations

from typing import NamedTuple


class _Span(NamedTuple):
    """What a run of consecutive arrivals adds up to (oldest first)."""

    low: float  # lowest offset
    high: float  # highest offset
    rise: float  # largest offset above an earlier, lower one: the lateness to hide
    chunk: float  # longest chunk, seconds


def _join(old: _Span, new: _Span) -> _Span:
    return _Span(min(old.low, new.low), max(old.high, new.high),
                 max(old.rise, new.rise, new.high - old.low), max(old.chunk, new.chunk))


class _WindowQueue:
    """A FIFO of arrivals whose `_Span` over all entries is O(1) amortised per push/pop."""

    def __init__(self) -> None:
        self._back: list[tuple[float, _Span, _Span]] = []  # (arrival, own, span of back[:i+1])
        self._front: list[tuple[float, _Span]] = []  # (arrival, span of this one and newer)

    def clear(self) -> None:
        self._back.clear()
        self._front.clear()

    def push(self, arrival: float, own: _Span) -> None:
        back = self._back
        back.append((arrival, own, _join(back[-1][2], own) if back else own))

    def oldest(self) -> float:
        if not self._front:
            self._refill()
        return self._front[-1][0]

    def pop_oldest(self) -> None:
        if not self._front:
            self._refill()
        self._front.pop()

    def span(self) -> _Span:
        if self._front and self._back:
            return _join(self._front[-1][1], self._back[-1][2])
        if self._front:
            return self._front[-1][1]
        return self._back[-1][2]

    def _refill(self) -> None:
        front, back = self._front, self._back
        while back:  # newest first, so each entry's span covers itself and what is newer
            arrival, own, _ = back.pop()
            front.append((arrival, _join(own, front[-1][1]) if front else own))


class JitterEstimator:
    def __init__(self, rate: int, *, window_s: float = 8.0, pause_s: float = 0.5) -> None:
        self.rate = rate
        self.window_s = window_s
        self.pause_s = pause_s
        self._media = 0
        self._last: float | None = None
        self._base = 0.0
        self._window = _WindowQueue()
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
        window.push(now, _Span(offset, offset, 0.0, samples / self.rate))
        while now - window.oldest() > self.window_s:
            window.pop_oldest()
        self.span_s = now - window.oldest()
        span = window.span()
        self.jitter_ms = span.rise * 1000.0
        self.chunk_ms = span.chunk * 1000.0
        return self.jitter_ms + self.chunk_ms


def target_ms(needed_ms: float, block_ms: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, needed_ms + block_ms))
