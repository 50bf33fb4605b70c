"""What the assistant is saying, sample by sample: a queue of utterances over a "bed"
(near-silence, or the tone assistant's beeps)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from bridge.sim.speech import near_silence, tone

Marker = dict[str, Any]


@dataclass
class Utterance:
    text: str
    pcm: np.ndarray
    turn: int
    turn_id: str = ""
    interruptible: bool = True
    silent: bool = False  # no events (the replay assistant sends recorded ones)
    after: str | None = None  # what to do once spoken: an endedReason, or "transfer"
    pos: int = 0
    start_at: int = 0  # the stream position it may start at, at the earliest (think time)
    # nor is any of it produced before this monotonic time: a reply is not thought of
    # sooner, however far ahead of real time the stream runs (None: no hold)
    not_before: float | None = None
    start_stream_pos: int = -1
    last_partial_pos: int = 0
    words_sent: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.pos >= len(self.pcm)


class MouthListener(Protocol):
    def utterance_started(self, utt: Utterance) -> None: ...
    def utterance_progress(self, utt: Utterance) -> None: ...
    def utterance_ended(self, utt: Utterance, interrupted: bool) -> None: ...


class Bed:
    """Near-silence (±3 LSB noise) between utterances."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def render(self, start: int, n: int) -> tuple[np.ndarray, list[Marker]]:
        return near_silence(n, self.rng), []


class ToneBed(Bed):
    """Near-silence with a beep of ``freq`` Hz, ``ms`` long, every ``period_ms`` (first at
    one period); each beep onset is reported as a marker with its stream position."""

    def __init__(
        self, rng: np.random.Generator, rate: int, freq: float, ms: float, period_ms: float
    ) -> None:
        super().__init__(rng)
        self.rate, self.freq = rate, freq
        self.period = max(1, round(rate * period_ms / 1000.0))
        self.beep = tone(freq, ms, rate, amplitude=12000)

    def render(self, start: int, n: int) -> tuple[np.ndarray, list[Marker]]:
        out, markers = near_silence(n, self.rng), []
        first_k = max(1, -(-(start - len(self.beep)) // self.period))
        k = first_k
        while k * self.period < start + n:
            onset = k * self.period
            lo, hi = max(start, onset), min(start + n, onset + len(self.beep))
            if hi > lo:
                out[lo - start : hi - start] = self.beep[lo - onset : hi - onset]
            if start <= onset < start + n:
                markers.append({"streamPos": onset, "freq": self.freq, "kind": "tone"})
            k += 1
        return out, markers


class Mouth:
    def __init__(self, rate: int, bed: Bed, listener: MouthListener) -> None:
        self.rate = rate
        self.bed = bed
        self.listener = listener
        self.queue: deque[Utterance] = deque()
        self.current: Utterance | None = None
        self.muted = False
        self.stream_pos = 0  # samples produced so far
        # stream spans (start, end) of the utterances' samples produced, oldest first: what
        # a server that sends no near-silence (fault `no-bed`) sends (`spoke_in`)
        self.spoken: deque[tuple[int, int]] = deque()
        self.track_spoken = False  # set by the downlink pump that asks

    @property
    def speaking(self) -> bool:
        return self.current is not None

    @property
    def busy(self) -> bool:
        return self.current is not None or bool(self.queue)

    @property
    def pending_samples(self) -> int:
        """Speech that may be produced now: the rest of the current utterance and the queue,
        up to a reply still being thought of."""
        cur = self.current
        rest = len(cur.pcm) - cur.pos if cur is not None else 0
        now = time.monotonic()
        for u in self.queue:
            if u.not_before is not None and u.not_before > now:
                break
            rest += len(u.pcm)
        return rest

    def enqueue(self, utt: Utterance, *, front: bool = False) -> None:
        if front:
            self.queue.appendleft(utt)
        else:
            self.queue.append(utt)

    def interrupt(self, *, only_interruptible: bool = True) -> Utterance | None:
        """Stop the current utterance and drop the queued ones (barge-in)."""
        cur = self.current
        if cur is not None and only_interruptible and not cur.interruptible:
            return None
        self.queue = deque(u for u in self.queue if only_interruptible and not u.interruptible)
        self.current = None
        if cur is not None:
            self.listener.utterance_ended(cur, True)
        return cur

    def _spoke(self, start: int, end: int) -> None:
        spans = self.spoken
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))

    def spoke_in(self, start: int, end: int) -> bool:
        """Whether any utterance sample lies in stream samples [start, end); spans ending
        before `start` are forgotten (ask in stream order)."""
        spans = self.spoken
        while spans and spans[0][1] <= start:
            spans.popleft()
        return bool(spans) and spans[0][0] < end

    def take(self, n: int) -> tuple[np.ndarray, list[Marker]]:
        """The next n samples of the downlink, with any bed markers."""
        parts: list[np.ndarray] = []
        markers: list[Marker] = []
        pos, remaining = self.stream_pos, n
        while remaining > 0:
            head = self.queue[0] if self.current is None and self.queue else None
            if head is not None and head.not_before is not None and \
                    head.not_before > time.monotonic():
                head = None  # still thinking: the bed goes on
            if head is not None and head.start_at <= pos:
                self.current = self.queue.popleft()
                self.current.start_stream_pos = pos
                self.listener.utterance_started(self.current)
            cur = self.current
            if cur is None:
                held = head.start_at - pos if head is not None else remaining
                chunk, mk = self.bed.render(pos, min(remaining, held))
                markers.extend(mk)
            else:
                k = min(remaining, len(cur.pcm) - cur.pos)
                if self.muted:
                    chunk, _ = Bed.render(self.bed, pos, k)
                else:
                    chunk = cur.pcm[cur.pos : cur.pos + k]
                    if self.track_spoken:
                        self._spoke(pos, pos + k)
                cur.pos += k
                self.listener.utterance_progress(cur)
                if cur.done and self.current is cur:
                    self.current = None
                    self.listener.utterance_ended(cur, False)
            parts.append(np.asarray(chunk, dtype=np.int16))
            pos += len(chunk)
            remaining -= len(chunk)
        self.stream_pos = pos
        return (np.concatenate(parts) if len(parts) > 1 else parts[0]), markers
