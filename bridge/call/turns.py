"""A call's turns as the visitor hears them: the heard gap of each answer, and the end of a
call nobody is in any more.

The heard gap is what a visitor feels: from the end of their speech to the first audible
sample of the assistant's answer at the speaker, on the kiosk's own clock. It starts when
Vapi's `speech-update` (role user, status stopped) arrives — Vapi's end of the visitor's
turn, the moment the assistant starts on its answer (when a call's `clientMessages` leave
`speech-update` out, the visitor's final transcript stands in). It ends at the first sample
the speaker plays above `AUDIBLE` after that, at the time the sink says that sample is heard
(the marks on its played ring: a device's are its DAC times, its output latency included).
The visitor speaking again before the answer restarts the count from their new end. A
visitor who ends while the assistant is still speaking (over a greeting that does not stop
for them) is answered by what comes after the speech under way, not by its rest: by audio
heard once all the speaker had been given by their end has been played or skipped (Vapi
may have sent a whole greeting at once, and the near-silence after it, which the playout
buffer sheds; the buffer says when its reader gets there: `watch_queued_end`), and, while
Vapi says the assistant is still speaking, after its next `speech-update` started. The gap
then counts from the end of what the speaker played before that: the silence the visitor
waits through. Each gap goes to the call's summary (median and p90), the recording's
transcript (one JSONL line) and `publish` (the daemon's kiosk events: `turn{heard_gap_ms,
turn}`).

Leaving: with `leave_after_s` set (`call.end_when_visitor_leaves_seconds`), a call in which
neither party has been heard for that long — no speech-update or transcript from Vapi, no
audible sample from the speaker, and nobody mid-speech — is ended (`end-call`), its ended
reason `visitor-left`: Vapi's own silence timeout is no longer in its API, and an abandoned
call bills until `maxDurationSeconds`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from math import inf
from typing import Protocol

import numpy as np

from bridge import events
from bridge.aio import POLL_GRID_S, sleep_on_grid
from bridge.audio.base import AudioSink
from bridge.audio.ring import SampleRing
from bridge.call.recording import Recorder
from bridge.vapi import messages

log = logging.getLogger("bridge.call")

AUDIBLE = 328  # |sample| from here is sound (-40 dBFS); Vapi's "silence" is a few LSB
POLL_S = 2 * POLL_GRID_S  # how often the played audio is looked at: the times come from
# its marks, so this sets only how soon a turn is reported (0.25 s before; on the devices'
# grid now: no wake-up of its own)
RING_S = 2.0  # played audio awaiting a look: far more than a poll's worth
TURN_EVENT = events.TURN  # the kiosk event: heard_gap_ms, turn
VISITOR_LEFT = "visitor-left"  # the ended reason of a call ended for silence


class Leavable(Protocol):
    """What `Turns.run` ends when nobody is heard (`bridge.call.lifecycle.Call`)."""

    def end(self) -> Awaitable[None]: ...


class Turns:
    def __init__(self, sink: AudioSink, recorder: Recorder | None,
                 leave_after_s: float | None, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.sink, self.recorder, self.leave_after_s = sink, recorder, leave_after_s
        self.gaps_ms: list[float] = []
        self.publish: Callable[..., object] | None = None  # e.g. `EventBus.publish`
        self.left = False  # ended because nobody was heard
        self._clock = clock
        self._since: float | None = None  # the visitor's latest end of speech, unanswered
        self._start = 0.0  # where the gap starts: _since, or the end of what was heard after
        # the earliest the answer can be heard: once what was queued at the visitor's end
        # has played (the playout buffer's `queued_end_heard`), and after the assistant's
        # next speech started (inf until it has, if it was speaking at the visitor's end)
        self._started = 0.0
        self._updates = False  # the call sends speech-updates for the visitor
        self._speaking: set[str] = set()  # roles between speech-update started and stopped
        self._heard = clock()  # when either party was last heard

    def on_event(self, event: messages.Event) -> None:
        """Every server event, as it arrives (on the event loop)."""
        now = self._clock()
        if isinstance(event, messages.SpeechUpdate):
            self._heard = now
            if event.role in ("user", "assistant"):  # server text: only the two roles kept
                (self._speaking.add if event.status == "started"
                 else self._speaking.discard)(event.role)
            if event.role == "user":
                self._updates = True
                self._since = now if event.status == "stopped" else None
                self._start = now
                self._started = inf if "assistant" in self._speaking else now
                self.sink.buffer.watch_queued_end()  # Vapi's audio so far is not the answer
            elif (event.role == "assistant" and event.status == "started"
                  and self._since is not None and self._started == inf):
                self._started = now
        elif isinstance(event, messages.Transcript) and event.text:
            self._heard = now
            if event.role == "user" and event.final and not self._updates:
                self._since = self._start = self._started = now
                self.sink.buffer.watch_queued_end()

    @property
    def _cut(self) -> float:
        queued_end = self.sink.buffer.queued_end_heard
        return inf if queued_end is None else max(queued_end, self._started)

    async def run(self, call: Leavable) -> None:
        """For the whole call: watch what the speaker plays; end `call` if nobody is heard
        for `leave_after_s`."""
        ring = self.sink.add_played_ring(RING_S)
        self._heard = self._clock()  # the call is up: count from here
        try:
            while True:
                await sleep_on_grid(POLL_S)
                self._look(ring)
                quiet = self._clock() - self._heard
                if self.leave_after_s and not self._speaking and quiet >= self.leave_after_s:
                    self.left = True
                    log.info("nobody heard for %.0f s: ending the call (visitor-left)", quiet)
                    await call.end()
                    return
        finally:  # a turn heard since the last look still counts
            self._look(ring)
            self.sink.remove_played_ring(ring)

    def _look(self, ring: SampleRing) -> None:
        """The audible samples played since the last look: the assistant was heard, and the
        first of them after the visitor's end of speech ends a heard gap."""
        block = ring.take()
        loud = np.flatnonzero(np.abs(block.astype(np.int32)) >= AUDIBLE)
        if not len(loud):
            return
        first = ring.r - len(block)
        origin = ring.time_of(0)
        if origin is None:  # a sink that does not say when: as it is taken
            origin = self._clock() - ring.r / self.sink.sample_rate
        heard = origin + (first + loud) / self.sink.sample_rate
        self._heard = max(self._heard, float(heard[-1]))
        if self._since is None:
            return
        after, cut = heard[heard >= self._since], self._cut
        before = after[after < cut]  # the speech under way at the visitor's end
        if len(before):
            self._start = max(self._start, float(before[-1]))
        after = after[after >= cut]
        if len(after):
            self._turn((float(after[0]) - self._start) * 1000.0)
            self._since = None

    def _turn(self, gap_ms: float) -> None:
        self.gaps_ms.append(gap_ms)
        turn = len(self.gaps_ms)
        log.debug("turn %d: heard gap %.0f ms", turn, gap_ms)
        if self.recorder is not None:
            self.recorder.on_turn(turn, gap_ms)
        if self.publish is not None:
            self.publish(TURN_EVENT, heard_gap_ms=round(gap_ms), turn=turn)


def percentile(values: list[float], q: float) -> float:
    """The `q`th percentile (linear between the nearest ranks)."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))
