"""Fades that last their whole length wherever the device blocks fall (the playout's edges).

A fade cut short by a block's end is a step in the level: a click. So a fade in after a gap
goes on into the next block, and a fade out with fewer samples left than a fade (a flush
with little queued, a queue running dry a few samples into a block, a stream's end) holds
the last one as it fades; a queue that ran dry exactly at a block's end fades from the
sample played last. Used from the audio callback: everything is preallocated, nothing
allocated per block.
"""

from __future__ import annotations

import numpy as np

from bridge.audio.ring import SampleRing

FADE_IN_MS = 5  # audio that comes back mid-word (after a dropped tail, an unmute) fades in


def fade_in(out: np.ndarray, rate: int) -> np.ndarray:
    """`out` (a copy) starting with a `FADE_IN_MS` fade: not a step out of silence (a click).
    For a block built on the loop (the wire's), not the callback's (`Fades`)."""
    n = min(len(out), rate * FADE_IN_MS // 1000)
    if n == 0:
        return out
    out = out.copy()
    out[:n] = (out[:n] * (np.arange(1, n + 1) / n)).astype(out.dtype)
    return out


class Fades:
    def __init__(self, length: int) -> None:
        self.length = max(1, length)
        self._in = np.arange(1, self.length + 1, dtype=np.float32) / self.length
        self._out = self._in[::-1].copy()  # 1 .. 1/length, then silence
        self._scratch = np.zeros(self.length, dtype=np.float32)
        self._last = np.zeros(1, dtype=np.int16)  # the sample a fade out holds
        self._faded_in = self.length  # how far the fade in under way has gone
        self.fading_in = False  # one is under way (read per block: a plain attribute)
        self._held_at = self._held_left = 0  # a fade out going on past its block's end

    def begin_fade_in(self) -> None:
        """The next audio fades in (after a gap)."""
        self._faded_in, self.fading_in = 0, True

    def cancel_fade_in(self) -> None:
        """The next audio plays as it is (a new stream, which starts out of silence)."""
        self._faded_in, self.fading_in = self.length, False

    def fade_in(self, audio: np.ndarray) -> None:
        """Go on with the fade in under way over `audio` (the block's first samples)."""
        done = self._faded_in
        if done < self.length:
            k = min(self.length - done, len(audio))
            self._scale(audio[:k], self._in[done:done + k])
            self._faded_in = done + k
        self.fading_in = self._faded_in < self.length

    def fade_out(self, out: np.ndarray, start: int, end: int, ring: SampleRing) -> None:
        """Fade `out` (silent from `end`) to nothing from `start`: over its audio up to
        `end`, then its last sample held, `length` samples in all (into the next blocks,
        `go_on`, when the device's are shorter than a fade).
        With no audio in this block (`start == end`) the fade began with the sample the
        ring played last (the block before's, played whole), held from here."""
        if end > start:
            self._last[0] = out[end - 1]
            self._scale(out[start:end], self._out[:end - start])
            done = end - start
        elif ring.r:
            ring.copy_out(ring.r - 1, self._last)
            done = 1
        else:
            return
        self._held_at, self._held_left = done, self.length - done
        self.go_on(out, end)

    def go_on(self, out: np.ndarray, start: int = 0) -> None:
        """Go on with a fade out that ran past the last block's end (a device block shorter
        than a fade) over `out` (silent) from `start`."""
        held = min(self._held_left, len(out) - start)
        if held > 0:
            at = self._held_at
            tmp = self._scratch[:held]
            np.multiply(self._out[at:at + held], self._last[0], out=tmp)
            out[start:start + held] = tmp
            self._held_at, self._held_left = at + held, self._held_left - held

    def drop_fade_out(self) -> None:
        """Audio plays again: what was left of a fade out is not."""
        self._held_left = 0

    def _scale(self, seg: np.ndarray, factors: np.ndarray) -> None:
        tmp = self._scratch[:len(seg)]
        np.multiply(seg, factors, out=tmp)
        seg[:] = tmp
