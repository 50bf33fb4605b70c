"""The cut reply's tail (`bridge.call.downlink`): what still arrives of a reply Vapi has
cut, dropped until its first pause (or a command's cut, until Vapi says the reply stopped,
and then until the first near-silence after that: the said line follows it, and its first
audio may come before its `speech-update started`). What plays after it fades in
(`bridge.audio.fades.fade_in`, in the downlink)."""

from __future__ import annotations

import logging

import numpy as np

TAIL_GAP_MS = 150.0  # an arrival pause this long ends the cut reply's tail (chunks p50 50 ms)
TAIL_GAP_MAX_MS = 400.0  # longer chunks: a pause is a chunk's time and 50 ms, at most this
TAIL_QUIET_MS = 150.0  # so does this much near-silence (longer than a pause between words)
TAIL_MAX_MS = 1000.0  # and at most this much of it is dropped (once as long has passed)
QUIET_PEAK = 100  # -50 dBFS: near-silence, as between replies

log = logging.getLogger("bridge.call")


class CutTail:
    """What arrives of a reply Vapi has cut (`Downlink`: dropped until its first pause)."""

    def __init__(self, label: str, rate: int, since: float, gap_ms: float = TAIL_GAP_MS,
                 *, held: bool = False) -> None:
        self.label, self.rate, self.gap_ms = label, rate, gap_ms
        self.since = since  # the event: a pause before it is none of the tail's
        # wire samples: dropped, near-silent in a row, dropped that were not near-silent
        self.dropped = self.quiet = self.speech = 0
        self.held = held  # a command's cut Vapi has not said stopped: no pause ends it
        self.visitor = not held  # the visitor cut it too (user-interrupted)
        self.stopped = False  # Vapi said the held reply stopped: its first quiet chunk ends it

    def recut(self, now: float, *, held: bool = False) -> None:
        """Cut again as it comes (one tail, from `now` on): by the visitor, or `held` by a
        command."""
        self.since, self.stopped = now, False
        self.held, self.visitor = self.held or held, self.visitor or not held

    def release(self, now: float, *, stopped: bool = False) -> None:
        """No longer held: the tail ends at its pause from `now` on (`stopped`: Vapi said
        the reply stopped, so at its first near-silent chunk: the said line comes next)."""
        self.held, self.since, self.stopped = False, now, stopped

    def drops(self, samples: np.ndarray, now: float, last: float | None) -> bool:
        """Whether `samples`, arrived at `now` (the one before at `last`), are the tail;
        False for the chunk that ends it (what was dropped is logged: `over`)."""
        rate = self.rate
        since = self.since if last is None else max(last, self.since)
        gap = (now - since) * 1000 >= self.gap_ms
        quiet = int(samples.max()) <= QUIET_PEAK and int(samples.min()) >= -QUIET_PEAK
        self.quiet = self.quiet + len(samples) if quiet else 0
        if self.held:
            gap, self.quiet = False, 0
        if gap or self.quiet * 1000 >= TAIL_QUIET_MS * rate or (self.stopped and quiet) or (
                (self.dropped + len(samples)) * 1000 > TAIL_MAX_MS * rate
                and (now - self.since) * 1000 > TAIL_MAX_MS):
            self.over()
            return False
        self.dropped += len(samples)
        self.speech += 0 if quiet else len(samples)
        return True

    def over(self) -> None:
        if self.speech:  # near-silence after the cut is no part of the reply worth a line
            log.info("call %s: dropped %.0f ms of the interrupted reply that arrived after "
                     "%s", self.label, self.speech * 1000 / self.rate,
                     "user-interrupted" if self.visitor else "the say that cut it")
