"""The playout buffer's low-water marks (`bridge.audio.playout`), on its consumer side.

Over each period of audio pulled (~1.5 s) the least depth seen before a pull is kept; the
marks of the last four periods say how much of the queue was never needed. Everything
here runs in the audio callback: a few integers and a bounded deque, nothing allocated
per pull beyond Python's own ints.
"""

from __future__ import annotations

from collections import deque

UNSEEN = 1 << 30  # a period's mark before its first pull
PERIODS = 4


class LowWater:
    def __init__(self, period: int) -> None:
        self._period = period  # samples pulled per period
        self._pulls = 0
        self._low = UNSEEN  # the current period's mark
        self._lows: deque[int] = deque(maxlen=PERIODS)  # the last periods' marks

    def note(self, depth: int, want: int) -> None:
        """A pull of `want` samples with `depth` queued."""
        self._low = min(self._low, depth)
        self._pulls += 1
        if self._pulls * want >= self._period:
            self._lows.append(self._low)
            self._low, self._pulls = depth, 0

    @property
    def recent(self) -> int:
        """The least depth over this period and the one before."""
        return min(self._low, self._lows[-1]) if self._lows else self._low

    @property
    def settled(self) -> int:
        """The least depth over the last `PERIODS` periods and this one; -1 until that many
        have passed."""
        if len(self._lows) < PERIODS:
            return -1
        return min(min(self._lows), self._low)

    def shift(self, delta: int) -> None:
        """Every later depth is `delta` higher (a held-back block) or lower (a skipped one)."""
        self._low += delta
        for i in range(len(self._lows)):
            self._lows[i] += delta

    def reset(self) -> None:
        """A new stream: nothing seen yet."""
        self._pulls, self._low = 0, UNSEEN
        self._lows.clear()
