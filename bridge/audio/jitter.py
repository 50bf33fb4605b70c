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

Cost: O(1) amortised per chunk. The window is a queue built from two stacks (the newest
arrivals with their running aggregate; the oldest, each carrying the aggregate of itself
and what is newer on its stack: lowest offset, highest offset, largest rise from a lower
offset to a later higher one, longest chunk), so the window's figures combine the two
stacks' aggregates instead of rescanning the window.
"""

from __future__ import annotations

_INF = float("inf")


class _WindowQueue:
    """A FIFO of arrivals whose lowest and highest offset, largest rise (an offset above an
    earlier, lower one: the lateness to hide) and longest chunk over all entries are O(1)
    amortised per push/pop, with no object made per arrival beyond its own tuple.

    The back stack holds the newest arrivals as they came, with their aggregate as four
    plain numbers; the front stack holds the oldest, each entry carrying the aggregate of
    itself and every newer entry on the front stack (refilled from the back when empty)."""

    def __init__(self) -> None:
        self._back: list[tuple[float, float, float]] = []  # (arrival, offset, chunk)
        # (arrival, low, high, rise, chunk) of this entry and the newer ones in front
        self._front: list[tuple[float, float, float, float, float]] = []
        self._low, self._high, self._rise, self._chunk = _INF, -_INF, 0.0, 0.0  # the back's

    def clear(self) -> None:
        self._back.clear()
        self._front.clear()
        self._low, self._high, self._rise, self._chunk = _INF, -_INF, 0.0, 0.0

    def add(self, arrival: float, offset: float, chunk: float, window_s: float
            ) -> tuple[float, float, float]:
        """Push an arrival, drop those more than `window_s` before it; the window's oldest
        arrival, its largest rise and its longest chunk (one call per chunk)."""
        self._back.append((arrival, offset, chunk))
        if offset - self._low > self._rise:
            self._rise = offset - self._low
        if offset < self._low:
            self._low = offset
        if offset > self._high:
            self._high = offset
        if chunk > self._chunk:
            self._chunk = chunk
        front = self._front
        if not front:
            self._refill()
        while arrival - front[-1][0] > window_s:
            front.pop()
            if not front:
                self._refill()
        oldest, low, _, rise, longest = front[-1]
        if not self._back:
            return oldest, rise, longest
        return (oldest, max(rise, self._rise, self._high - low),
                longest if longest > self._chunk else self._chunk)

    def _refill(self) -> None:
        front, back = self._front, self._back
        low, high, rise, chunk = _INF, -_INF, 0.0, 0.0
        while back:  # newest first, so each entry's figures cover itself and what is newer
            arrival, offset, own = back.pop()
            if high - offset > rise:
                rise = high - offset
            low, high, chunk = min(low, offset), max(high, offset), max(chunk, own)
            front.append((arrival, low, high, rise, chunk))
        self._low, self._high, self._rise, self._chunk = _INF, -_INF, 0.0, 0.0


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

    def on_chunk(self, now: float, samples: int, chunk: int | None = None) -> float:
        """Record one arrival of `samples`; returns the buffering (ms) that would have
        hidden the window's worst late arrival: offset spread + longest chunk. `chunk`:
        the longest of the frames the arrival joins (frames read back to back), if less."""
        if self._last is None or now - self._last > self.pause_s:
            self._base = now - self._media / self.rate
            self._window.clear()
        self._last = now
        offset = now - self._media / self.rate - self._base
        self._media += samples
        oldest, rise, longest = self._window.add(
            now, offset, (samples if chunk is None else chunk) / self.rate, self.window_s)
        self.span_s = now - oldest
        self.jitter_ms = rise * 1000.0
        self.chunk_ms = longest * 1000.0
        return self.jitter_ms + self.chunk_ms


def target_ms(needed_ms: float, block_ms: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, needed_ms + block_ms))
