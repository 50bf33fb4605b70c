"""Where the speech lies in a queued sample stream, so the playout buffer can drop only
near-silence.

The producer notes each write: its loud samples (|x| >= `QUIET_PEAK`, about -40 dBFS, as
Vapi sent them: `set_gain` says how much louder they are written) make runs, and loud
samples closer than `after + before` apart belong to the same run (a pause between words
or sentences is part of the reply). The consumer asks how much of what lies ahead of its
read position is near-silence at least `after` past the end of speech and `before` ahead
of the next — what it may drop without touching a word or the rhythm of a reply: a pause
shorter than 850 ms is never shortened, a longer one keeps 850 ms.

Like the sample ring it is single-producer / single-consumer without a lock: runs live in
preallocated lists, the producer advances only `_n` (after writing the run), the consumer
only `_i`. The newest run may still grow, so the consumer never moves past it; when the
producer is a whole table ahead it extends the newest run instead (treating the gap as
speech), so a slot is never rewritten while the consumer may read it.
"""

from __future__ import annotations

import numpy as np

QUIET_PEAK = 330  # about -40 dBFS: Vapi's between-utterance near-silence is far below it


class Loudness:
    """|x| >= `peak` in one comparison: x + peak − 1, wrapped to uint16, lies above
    2·(peak − 1) exactly for the loud samples (−32768 included; 1 <= peak <= 32767). 0-d
    arrays: a Python int costs a ufunc call more than the 960 comparisons do."""

    def __init__(self, peak: int = QUIET_PEAK) -> None:
        self.peak = peak
        self._shift = np.array(peak - 1, dtype=np.uint16)
        self._span = np.array(2 * (peak - 1), dtype=np.uint16)

    def mask(self, samples: np.ndarray) -> np.ndarray:
        """Which of the int16 `samples` are loud (|x| >= peak)."""
        return np.greater(samples.view(np.uint16) + self._shift, self._span)

    def count(self, samples: np.ndarray) -> int:
        return int(np.count_nonzero(self.mask(samples)))


class SpeechRuns:
    def __init__(self, sample_rate: int, after_ms: float = 800.0, before_ms: float = 50.0,
                 slots: int = 4096) -> None:
        self.after = max(1, int(after_ms * sample_rate / 1000.0))
        self.before = max(1, int(before_ms * sample_rate / 1000.0))
        self.gap = self.after + self.before  # shorter pauses belong to the run
        self._slots = slots
        self._start = [0] * slots  # lists: an element reads without making a number
        self._end = [0] * slots
        self._n = 0  # runs begun: written by the producer only
        self._i = 0  # the first run the consumer has not passed: written by the consumer only
        self.loud = Loudness()  # the producer's (the consumer reads its `peak`)

    def set_gain(self, gain: float) -> None:
        """What is noted from now on comes `gain` times as loud as Vapi sent it (the
        profile's output gain): loud is `QUIET_PEAK` as sent, so a reply played 36 dB down
        on an amplified speaker is speech, not near-silence (producer side)."""
        peak = min(32767, max(1, round(QUIET_PEAK * gain)))
        if peak != self.loud.peak:
            self.loud = Loudness(peak)

    # ---- producer -------------------------------------------------------------------
    def note(self, pos: int, samples: np.ndarray) -> None:
        """`samples` were queued at stream position `pos` (call before publishing them)."""
        n = len(samples)
        loud = self.loud
        if 0 < n < self.gap:  # no pause of `gap` fits inside: one run at most
            if abs(int(samples[0])) >= loud.peak and abs(int(samples[-1])) >= loud.peak:
                self._add(pos, pos + n)  # loud at both ends: the run is the whole write
                return
            mask = loud.mask(samples)
            first = int(mask.argmax())
            if mask[first]:
                self._add(pos + first, pos + len(mask) - int(mask[::-1].argmax()))
            return
        at = np.flatnonzero(loud.mask(samples))
        if len(at) == 0:
            return
        breaks = np.flatnonzero(np.diff(at) >= self.gap)
        starts = np.concatenate((at[:1], at[breaks + 1])) + pos
        ends = np.concatenate((at[breaks], at[-1:])) + pos + 1
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            self._add(s, e)

    def _add(self, start: int, end: int) -> None:
        n = self._n
        if n:
            last = (n - 1) % self._slots
            if start - self._end[last] < self.gap or n - self._i >= self._slots - 1:
                self._end[last] = end
                return
        self._start[n % self._slots] = start
        self._end[n % self._slots] = end
        self._n = n + 1

    # ---- consumer -------------------------------------------------------------------
    def quiet_from(self, r: int) -> bool:
        """Nothing loud is queued at or after `r`."""
        n = self._n
        return n == 0 or self._end[(n - 1) % self._slots] <= r

    def droppable(self, r: int, w: int) -> int:
        """How many samples from `r` on are near-silence at least `after` past speech and
        `before` ahead of the next (what comes after `w` is not known yet: maybe speech)."""
        n = self._n
        slots = self._slots
        while self._i < n - 1 and self._end[self._i % slots] <= r:
            self._i += 1
        prev_end, next_start = -self.after, w
        if n:
            i = self._i
            start, end = self._start[i % slots], self._end[i % slots]
            if start <= r < end:
                return 0
            if r >= end:
                prev_end = end
            else:
                next_start = min(w, start)
                if i > 0:
                    prev_end = self._end[(i - 1) % slots]
        if r < prev_end + self.after:
            return 0
        return max(0, next_start - self.before - r)
