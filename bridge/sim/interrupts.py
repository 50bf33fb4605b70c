"""Whether the visitor's speech interrupts the assistant, as Vapi's `stopSpeakingPlan`
decides it — with length standing in for words, since the simulator recognises none.

Every utterance the VAD hears sends `speech-update user started` at its onset. It
interrupts only once it has lasted ``window`` samples (onset to its latest voiced block;
`SimConfig.backchannel_ms`, 600 ms by default): a lone "okay", "yeah" or "right" is
shorter, and Vapi never lets those interrupt. At that moment, if the line being spoken is
interruptible (not the first message unless `firstMessageInterruptionsEnabled`, not a
`say` with `interruptionsEnabled: false`), `user-interrupted` goes out with the `turnId`
of that line and the rest of it is not sent. An utterance that began over the assistant
and ended before the window is a backchannel: transcribed, but it starts no reply. A
window of 0 interrupts at the onset.

Fault ``interrupt-tail=MS``: the line goes on being sent MS ms (at the downlink's pace)
after `user-interrupted`, as from a server whose audio path lags its events; the
protocol orders nothing between the two. ``interrupt-tail=MS@HOLD``: the downlink sends
nothing for HOLD ms before the event, and what it held goes right after it (then the MS
ms): a pause in the audio that the event arrives in.

Fault ``user-partials[=MS]``: while the visitor speaks, a user `transcript` partial every
MS ms (default 480) of their utterance, as Vapi's transcriber sends them (cumulative, about
every 0.48 s, seen); without it the partial comes only with the final, at the end.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bridge.sim import disorder
from bridge.sim import events as ev

if TYPE_CHECKING:
    from bridge.sim.faults import Fault
    from bridge.sim.mouth import Utterance
    from bridge.sim.port import CallPort


class Interruptions:
    def __init__(self, session: CallPort, window: int) -> None:
        self.s = session
        self.window = window
        self.decided = True  # no utterance under way
        self.over_assistant = False
        partials = session.rec.faults.get("user-partials")
        self.partial = int(session.rate * partials.number(480.0) / 1000) if partials else 0
        self.partials = 0  # said for the utterance under way

    def started(self) -> None:
        """The VAD heard an onset."""
        self.decided, self.partials = False, 0
        self.over_assistant = self.s.mouth.busy
        if self.window <= 0:
            self._decide()

    def progress(self, voiced: int) -> None:
        """The utterance under way has lasted ``voiced`` samples so far."""
        if self.partial and voiced >= (self.partials + 1) * self.partial:
            self.partials = voiced // self.partial
            text = f"(speech {voiced / self.s.rate:.1f} s)"
            self.s.emit(ev.transcript("user", "partial", text))
        if not self.decided and voiced >= self.window:
            self._decide()

    def stopped(self) -> bool:
        """The utterance is over; True when it was a backchannel (no reply to it)."""
        backchannel = not self.decided and self.over_assistant
        self.decided = True
        return backchannel

    def _decide(self) -> None:
        self.decided = True
        mouth = self.s.mouth
        line = mouth.current or (mouth.queue[0] if mouth.queue else None)
        if line is None or not line.interruptible or line.silent:
            return
        tail = self.s.rec.faults.get("interrupt-tail")
        hold = tail.at(0.0) / 1000 if tail is not None else 0.0
        if hold > 0 and self.s.pump is not None:  # the audio pauses; the event comes in it
            loop = asyncio.get_running_loop()
            self.s.pump.hold_until = loop.time() + hold + 0.005  # sent after the event
            loop.call_later(hold, self._cut, line, tail)
        else:
            self._cut(line, tail)

    def _cut(self, line: Utterance, tail: Fault | None) -> None:
        mouth = self.s.mouth
        if (said := disorder.interrupted(self.s, line)) is not None:
            self.s.emit(said)
        if tail is None:
            self.s.voice.interrupt()
            return

        def late() -> None:  # the same line still under way: stop it now
            if mouth.current is line or line in mouth.queue:
                self.s.voice.interrupt()

        asyncio.get_running_loop().call_later(tail.number(200.0) / 1000, late)
