"""Barge-in: when the visitor interrupts the assistant, the queued reply is dropped from the
speaker at once (Vapi sends no "clear"), and the interruption is counted and logged.

Which server event means a barge-in is Vapi's rule (`bridge.vapi.interruptions`); this
module knows what the assistant is saying (its `speech-update`s) and how much of it the
visitor has heard (the speaker's own sample count), so the log line can say so.

`user-interrupted` said again is no new cut: for a `turnId` already cut it is ignored,
and one without a `turnId` (optional in Vapi's schema) counts only while the visitor is
speaking over the reply (`speech-update` user started since it began, or not yet stopped). Said
again late, in the next reply, it flushed that reply and took up to 1 s of its start for
the cut one's tail (750 ms of a 1.8 s answer lost: simulator fault `interrupt-again`).
One that comes before the visitor's speech start is held `HELD_S` for it (the two are not
ordered either), but only where it may be a late one: when a `user-interrupted` cut this
reply or the one before. Else it is the reply's first, and it counts at once: held, it let
the reply play on until the speech start (the playout depth, ~130 ms, and what Vapi sent
after the event), and through the whole reply when that came over 1 s late, never, or
before the reply began and stopped before the event. A call that sends no speech-updates
has only the event: it counts. One whose
`turnId` is a `model-output`'s older than the one the playing reply began after is about a
reply that is over (late): it flushed the next one (2.8 s of a 4 s answer). The assistant's
`speech-update started` said again for the reply under way (its `turn` again; without turns,
one while the visitor speaks over it) is no new reply: the visitor stays heard over it (it
made the user-interrupted after their short "wait" late: held, never made good, 2.5 s of
the cut reply played on).

The assistant's `speech-update started` of a new reply ends the cut reply's tail
(`Downlink`): one with a new `turn` always (Vapi starts the next reply 160 ms before the
visitor's speech-update stopped, as recorded); without turns only while the visitor is not
speaking: one while they are (they have just cut it) may be the cut reply's own, reordered
behind `user-interrupted`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from bridge.audio.base import AudioSink
from bridge.call.downlink import Downlink
from bridge.vapi import messages
from bridge.vapi.interruptions import BargeInRule

log = logging.getLogger("bridge.call")
HELD_S = 1.0  # a user-interrupted without turnId waits this long for the visitor's speech


class BargeIn:
    """`stored`: the dashboard assistants' clientMessages as `GET /assistant` gave them
    (`VapiApi.client_messages`), read when the call starts: an `assistant.id` that drops
    user-interrupted gets the fallback signal, not a wait for an event that never comes."""

    def __init__(self, create_body: Mapping[str, Any], downlink: Downlink,
                 sink: AudioSink, stored: Mapping[str, tuple[str, ...]] | None = None) -> None:
        self._create_body, self._stored = create_body, stored
        self.rule = BargeInRule.for_call(create_body, stored)
        self.downlink = downlink
        self.sink = sink
        self.assistant_speaking = False
        self.interruptions = 0  # barge-ins that cut the assistant's reply
        self._assistant_started_at = 0  # the speaker's sample count when the reply began
        self._cut_turns: deque[str] = deque(maxlen=8)  # the turnIds user-interrupted named
        # the visitor started speaking (speech-update user started) since the assistant's
        # reply began; a user-interrupted without turnId before that is held (`_held`)
        self._visitor_since_reply = True
        self._visitor_speaking = False  # between the visitor's speech-updates
        self._held: float | None = None  # when such a user-interrupted came
        self._reply_turn: int | None = None  # the `turn` of the assistant's latest start
        self._outputs: deque[str] = deque(maxlen=16)  # model-output turnIds, oldest first
        self._reply_output: str | None = None  # the newest of them as the reply began
        # replies begun since a user-interrupted cut one (0: this one was cut); one without
        # turnId may be said again late only in the cut reply or the next (0 or 1)
        self._since_cut = 2
        self._clock: Callable[[], float] = downlink.clock  # the downlink's: one clock

    def announce(self, label: str) -> None:
        """As the call starts (the rule taken again: the assistant's clientMessages may have
        come meanwhile): say once when the fallback signal is in use."""
        self.rule = BargeInRule.for_call(self._create_body, self._stored)
        if not self.rule.interrupted_sent:
            log.info("call %s: clientMessages leave out user-interrupted, so the speaker is "
                     "flushed whenever the visitor starts speaking, even where Vapi does not "
                     "interrupt (add user-interrupted to clientMessages)", label)

    def on_event(self, event: messages.Event, label: str) -> bool:
        """Act on a barge-in or on the assistant's speech; False for any other event."""
        if isinstance(event, messages.UnknownEvent) and event.type == "model-output":
            self._output(event.raw.get("turnId"))
            return False  # (the recorder's too)
        if isinstance(event, messages.SpeechUpdate) and event.role == "user":
            self._visitor_speaking = event.status == "started"
            if self._visitor_speaking:
                self._visitor_started(label)
        if self.rule.is_barge_in(event):
            self._barge_in(event, label)
        elif isinstance(event, messages.SpeechUpdate) and event.role == "assistant":
            self._assistant(event.status == "started", event.turn)
        else:
            return False
        return True

    def _assistant(self, started: bool, turn: int | None) -> None:
        """The assistant's speech-update. A `started` of the reply already begun (its own
        `turn` again; without turns, one while the visitor speaks over a reply under way) is
        no new reply: the visitor heard over it stays heard. A new reply ends the cut one's
        tail, but without turns not while the visitor speaks: that may be the cut reply's own
        start, reordered behind user-interrupted. With turns it does: Vapi starts the next
        reply before the visitor's speech-update stopped (160 ms, recorded), and the tail
        took up to 1 s of a quick answer's start (474 ms)."""
        last, by_turn = self._reply_turn, turn is not None and self._reply_turn is not None
        if started and turn is not None:
            self._reply_turn = turn
        new = started and (turn != last if by_turn else not (
            self._visitor_speaking and self.assistant_speaking))
        self.assistant_speaking = started
        if not new:
            return
        self._reply_output = self._outputs[-1] if self._outputs else None
        self._assistant_started_at = self.sink.played_samples
        self._visitor_since_reply = False
        if by_turn or not self._visitor_speaking:
            self._since_cut += 1
            self.downlink.next_reply()

    def _output(self, turn_id: object) -> None:
        if isinstance(turn_id, str) and 0 < len(turn_id) <= 128 \
                and turn_id not in self._outputs:
            self._outputs.append(turn_id)

    def _before_reply(self, turn_id: str) -> bool:
        """`turn_id` is a model-output's older than the one the playing reply began with:
        a late word about a reply that is over (it flushed the next: 2.8 s of a 4 s answer)."""
        now, outputs = self._reply_output, list(self._outputs)
        return now is not None and turn_id in outputs and \
            outputs.index(turn_id) < outputs.index(now)

    def after_command(self, command: Mapping[str, Any], label: str) -> None:
        """A command Vapi took that silences the assistant: what the kiosk has queued of it
        goes too (faded), as at a barge-in; Vapi sends no event for it, and with audio
        sent faster than real time seconds of the old line would play on. `mute-assistant`
        also keeps what still arrives off the speaker until `unmute-assistant`."""
        kind, control = command.get("type"), command.get("control")
        if kind == "control" and control in ("mute-assistant", "unmute-assistant"):
            self.downlink.muted = control == "mute-assistant"
            if not self.downlink.muted:
                return
        elif not (kind == "say" and command.get("interruptAssistantEnabled")):
            return
        dropped = self.downlink.barge_in()
        log.info("call %s: %s; dropped %.0f ms of the assistant's audio still queued", label,
                 "assistant muted" if kind == "control" else "say interrupts the assistant",
                 dropped)

    def _visitor_started(self, label: str) -> None:
        """The visitor's speech start: a user-interrupted held just before it is theirs."""
        self._visitor_since_reply = True
        held, self._held = self._held, None
        if held is not None and self._clock() - held <= HELD_S:
            self._barge_in(messages.UserInterrupted("user-interrupted", {}), label)

    def _barge_in(self, event: messages.Event, label: str) -> None:
        # Vapi's word that it cut the reply: what still comes of it is dropped as well
        cut = isinstance(event, messages.UserInterrupted)
        if isinstance(event, messages.UserInterrupted) and event.turn_id is not None:
            if event.turn_id in self._cut_turns:  # said again: the reply is cut already, and
                log.debug("call %s: user-interrupted again for the same turn", label)
                return  # what plays now may be the next one
            if self._before_reply(event.turn_id):
                log.debug("call %s: user-interrupted for a reply before the one playing",
                          label)
                return
            self._cut_turns.append(event.turn_id)
        elif cut and self._since_cut <= 1 and not (
                self._visitor_since_reply or self._visitor_speaking):  # no turnId, a cut
            # just before, no visitor over the reply: a late one, unless their speech follows
            log.debug("call %s: user-interrupted without turnId while the visitor is not "
                      "heard over the reply: held", label)
            self._held = self._clock()
            return
        if cut:
            self._since_cut = 0
        dropped = self.downlink.barge_in(tail_of=label if cut else "")
        if not self.assistant_speaking:
            log.debug("call %s: visitor started speaking; flushed %.0f ms of playout",
                      label, dropped)
            return
        self.interruptions += 1
        heard = (self.sink.played_samples - self._assistant_started_at) / self.sink.sample_rate
        log.info("call %s: visitor interrupted the assistant (%s) after %.1f s of its reply; "
                 "dropped %.0f ms still queued", label, event.type, max(heard, 0.0), dropped)
