"""Barge-in: when the visitor interrupts the assistant, the queued reply is dropped from the
speaker at once (Vapi sends no "clear"), and the interruption is counted and logged.

Which server event means a barge-in is Vapi's rule (`bridge.vapi.interruptions`); this
module knows what the assistant is saying (its `speech-update`s) and how much of it the
visitor has heard (the speaker's own sample count), so the log line can say so.

`user-interrupted` said again is no new cut: for a `turnId` already cut, or older than the
playing reply's, it is ignored (`bridge.call.turn_ids`; a `turnId` Vapi reuses for a later
reply tells nothing, and is taken as none). One without a `turnId` (optional in Vapi's
schema) after a cut just before (this reply or the one before) counts only while the
visitor is heard over the reply: their `speech-update` started since it began (speech not
yet stopped from before it only between replies, or from a server that does not say a cut
reply stopped: Vapi began the reply, their turn was over, and their stopped comes 160 ms
later, as recorded — a repeat in between cut the answer, 821 ms lost). Said again late, in
the next reply, it flushed that reply and took up to 1 s of its start for the cut one's
tail (750 ms of a 1.8 s answer lost: simulator fault `interrupt-again`). Else it is held:
Vapi's cut is said by the reply's own `speech-update stopped`, and that within `CONFIRM_S`,
or within `HELD_S` with the visitor's speech start since, makes it good; the visitor's start
alone does only between replies, or from a server that does not say a cut reply stopped
(a backchannel, "yeah", which Vapi lets the reply play over, made a late repeat good: 784
ms of the answer lost). Where no reply was cut just before it is the reply's first, and it
counts at once: held, it let the reply play on until the speech start (the playout depth,
~130 ms, and what Vapi sent after the event), and through the whole reply when that came
over 1 s late, never, or before the reply began and stopped before the event. A call that
sends no speech-updates has only the event: it counts. The assistant's
`speech-update started` said again for the reply under way (its `turn` again; without turns,
one while the visitor speaks over it) is no new reply: the visitor stays heard over it (it
made the user-interrupted after their short "wait" late: held, never made good, 2.5 s of
the cut reply played on).

The assistant's `speech-update started` of a new reply ends the cut reply's tail
(`Downlink`): one with a new `turn` always (Vapi starts the next reply 160 ms before the
visitor's speech-update stopped, as recorded); without turns while the visitor is not
speaking, or after a `model-output` with a `turnId` not seen before since the cut (a new
reply's: it took 474 ms of a quick answer's start); else one while they speak (they have
just cut it) may be the cut reply's own, reordered behind `user-interrupted`.

A reply Vapi sent ahead of real time can still be playing after its `speech-update
stopped`: the visitor's speech start then (no `user-interrupted`: to Vapi the assistant is
silent, and it answers them) notes what is queued (`queued_mark`), and their first words
(a user `transcript`, partial or final: Vapi's transcriber sends partials about every 0.48
s) or else the next reply's start drops what of it is left (an 8 s line sent whole played
on over the visitor, and the answer came 6.8 s after it was sent; at the answer's start, it
still played over them for all they said and Vapi's time to answer: 3 s of a greeting sent
at 6x). So does the reply's `stopped` while they speak (begun as Vapi sent its last, too
short yet for Vapi to cut a line under way), dropped at the next reply's start only: their
words may be a backchannel Vapi lets pass (at 3x, the rest of an 8 s greeting played over
them and held the answer 2.1 s behind it). Only what arrived until `STALE_GRACE_S` after that
reply's `stopped` is its own: an answer sent whole before its own `started`, with the
visitor's "uh" between, was dropped with it (43 ms of 1.5 s heard); and before any reply
was said stopped nothing is (the greeting's audio before its `started`, with a visitor's
"hello?" between, was dropped whole: 43 ms of it heard). The operator's `say` the visitor
may not interrupt (`Says`) is kept from all of it, and from the fallback signal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from bridge.audio.base import AudioSink
from bridge.call.downlink import Downlink
from bridge.call.says import Says
from bridge.call.turn_ids import Named, TurnIds
from bridge.vapi import messages
from bridge.vapi.interruptions import BargeInRule

log = logging.getLogger("bridge.call")
HELD_S = 1.0  # a user-interrupted without turnId waits this long for the visitor's speech
CONFIRM_S = 0.5  # one held in a reply under way: for the reply's stop (Vapi's cut) this long
# audio arriving this long after a reply's `stopped` is still that reply's (the simulator's
# came up to 0.45 s after it); Vapi's answer to a visitor who spoke after the stop comes later
STALE_GRACE_S = 0.8


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
        self._ids = TurnIds()  # what the turnIds say
        # the visitor started speaking (speech-update user started) since the assistant's
        # reply began; a user-interrupted without turnId before that is held (`_held`)
        self._visitor_since_reply = True
        self._visitor_speaking = False  # between the visitor's speech-updates
        self._held: float | None = None  # when such a user-interrupted came
        self._held_in_reply = False  # as a reply was under way: its stop makes it good
        self._held_heard = False  # the visitor's speech start came since
        # the reply cut last was said stopped (speech-update) within CONFIRM_S of the cut:
        # this server says so, and one held in a reply waits for that, not for the visitor
        self._stops_on_cut, self._cut_at, self._stopped_at = False, -1.0, -1.0
        self._reply_turn: int | None = None  # the `turn` of the assistant's latest start
        # replies begun since a user-interrupted cut one (0: this one was cut); one without
        # turnId may be said again late only in the cut reply or the next (0 or 1)
        self._since_cut = 2
        self._clock: Callable[[], float] = downlink.clock  # the downlink's: one clock
        self._label = ""  # the call's, for a held user-interrupted made good later
        # what was queued (`queued_mark`) when the visitor began speaking over a reply Vapi
        # had said stopped, still playing (sent ahead of real time): dropped at the next
        self._stale: int | None = None
        self._stale_turn = False  # ... they began after it: their first words drop it
        self.says = Says()  # the operator's says: one the visitor may not interrupt is kept
        self._cut_by: Mapping[str, Any] | None = None  # the say that cut the reply last

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
        self._label = label
        if isinstance(event, messages.UnknownEvent) and event.type == "model-output":
            self._ids.output(event.raw.get("turnId"))
            return False  # (the recorder's too)
        if isinstance(event, messages.Transcript) and event.role == "user" and \
                self._stale_turn and event.text.strip():  # words: a turn Vapi answers
            self._drop_stale()
            return False  # (the recorder's too)
        if isinstance(event, messages.SpeechUpdate) and event.role == "user":
            self._visitor_speaking = event.status == "started"
            if self._visitor_speaking:
                if not self.assistant_speaking and self._stopped_at >= 0 and \
                        self.sink.buffer.speech_queued and not self.says.unbroken:
                    if self._stale is None:  # (else marked at its stop, as they spoke)
                        self._stale = self.sink.queued_mark()
                    self._stale_turn = True
                self._visitor_started()
        if self.rule.is_barge_in(event):
            if not (self.says.unbroken and isinstance(event, messages.SpeechUpdate)):
                self._barge_in(event)  # (the fallback signal: Vapi does not cut that say)
        elif isinstance(event, messages.SpeechUpdate) and event.role == "assistant":
            self._assistant(event.status == "started", event.turn)
        else:
            return False
        return True

    def _assistant(self, started: bool, turn: int | None) -> None:
        """The assistant's speech-update. A `started` of the reply already begun (its own
        `turn` again; without turns, one while the visitor speaks over a reply under way,
        unless a model-output with a new turnId came since) is no new reply: the visitor
        heard over it stays heard. A new reply ends the cut one's tail; without turns not
        while the visitor speaks, unless such a model-output came: it may be the cut reply's
        own start, reordered behind user-interrupted. With turns it does, and so with that
        model-output: Vapi starts the next reply before the visitor's speech-update stopped
        (160 ms, recorded), and the tail took up to 1 s of a quick answer's start (474 ms)."""
        last, by_turn = self._reply_turn, turn is not None and self._reply_turn is not None
        if started and turn is not None:
            self._reply_turn = turn
        if not started:
            self._reply_stopped()
        fresh = self._ids.fresh
        new = started and (turn != last if by_turn else fresh or not (
            self._visitor_speaking and self.assistant_speaking))
        self.assistant_speaking = started
        if not new:
            return
        self._ids.reply_began()
        self.says.reply_began(self._clock())
        self._assistant_started_at = self.sink.played_samples
        self._visitor_since_reply = False
        if self._held_in_reply:  # held in the reply before: none of this one's
            self._held = None
        if by_turn or fresh or not self._visitor_speaking:
            self._since_cut += 1
            self.downlink.next_reply()
            self._drop_stale()

    def _drop_stale(self) -> None:
        """A new reply, or the visitor's words: what the speaker still had queued of the
        reply before when the visitor began speaking after Vapi said it stopped (or as it
        did) is dropped (Vapi took their speech for a turn of its own, not an
        interruption, and answers it)."""
        mark, self._stale, self._stale_turn = self._stale, None, False
        if mark is not None and self.downlink.reply_end is not None:  # not what came after
            mark = min(mark, self.downlink.reply_end)  # the old reply: this one's, maybe
        if mark is not None and (left := mark - self.sink.played_samples) > 0:
            self.sink.clear_before(mark)
            log.info("call %s: the visitor spoke over the end of a reply Vapi had sent ahead "
                     "of real time, a turn Vapi answers; dropped the %.0f ms of it still "
                     "queued", self._label, left * 1000 / self.sink.sample_rate)

    def _reply_stopped(self) -> None:
        """The assistant's speech-update stopped: a user-interrupted held as the reply played
        is made good if it came within `CONFIRM_S` before (Vapi's cut: the two go together),
        or within `HELD_S` with the visitor's speech start since; else that start, within
        `HELD_S`, still makes it good (`_visitor_started`)."""
        now, held = self._clock(), self._held
        self._stopped_at = now
        self.says.reply_stopped(now)
        self.downlink.reply_over(STALE_GRACE_S)
        if self._visitor_speaking and self.assistant_speaking and self._since_cut and not \
                self.says.unbroken and self._stale is None and self.sink.buffer.speech_queued:
            self._stale = self.sink.queued_mark()  # began as Vapi sent its last: dropped
        self._stops_on_cut |= now - self._cut_at <= CONFIRM_S
        if held is not None and self._held_in_reply and self.assistant_speaking and (
                now - held <= CONFIRM_S or (self._held_heard and now - held <= HELD_S)):
            self._held = None
            self._cut(messages.UserInterrupted("user-interrupted", {}))

    def after_command(self, command: Mapping[str, Any], label: str) -> None:
        """A command Vapi took that silences the assistant: what the kiosk has queued of it
        goes (faded), as at a barge-in (no event comes for it; sent ahead of real time,
        seconds of the old line played on). `mute-assistant` keeps what still arrives off
        the speaker until `unmute-assistant`; a say cutting a reply Vapi still sends, what
        it sends until it has the say (by the controlUrl: 0.76 s of it heard at 3x)."""
        kind, control = command.get("type"), command.get("control")
        self.says.sent(command, self._clock())
        if kind == "control" and control in ("mute-assistant", "unmute-assistant"):
            self.downlink.mute(control == "mute-assistant")
            if not self.downlink.muted:
                return
        elif not (kind == "say" and command.get("interruptAssistantEnabled")):
            return
        cut = kind == "say" and self.assistant_speaking
        self._cut_by = command if cut else None
        dropped = self.downlink.cut_reply(label) if cut else self.downlink.barge_in()
        log.info("call %s: %s; dropped %.0f ms of the assistant's audio still queued", label,
                 "assistant muted" if kind == "control" else "say interrupts the assistant",
                 dropped)

    def withdrawn(self, command: Mapping[str, Any]) -> None:
        """A say Vapi did not take (`CallCommands`' refused): no reply speaks it, nor cuts."""
        self.says.withdrawn(command)
        if self._cut_by is command:  # the reply it was to cut goes on (but the visitor's
            self._cut_by = None  # cut of it)
            self.downlink.uncut()

    def _visitor_started(self) -> None:
        """The visitor's speech start: a user-interrupted held just before it is theirs; but
        one held as a reply plays on, from a server that says a cut reply stopped, waits for
        that (`_reply_stopped`): Vapi lets a backchannel ("yeah") play on."""
        self._visitor_since_reply = self._held_heard = True
        if self._held_in_reply and self.assistant_speaking and self._stops_on_cut:
            return
        held, self._held = self._held, None
        if held is not None and self._clock() - held <= HELD_S:
            self._cut(messages.UserInterrupted("user-interrupted", {}))

    def _barge_in(self, event: messages.Event) -> None:
        # Vapi's word that it cut the reply: what still comes of it is dropped as well
        label = self._label
        if isinstance(event, messages.UserInterrupted):
            named = self._ids.judge(event.turn_id)
            if named is Named.AGAIN:  # said again: the reply is cut already, and what
                log.debug("call %s: user-interrupted again for the same turn", label)
                return  # plays now may be the next one
            if named is Named.BEFORE:
                log.debug("call %s: user-interrupted for a reply before the one playing", label)
                return
            if named is Named.UNKNOWN and self._since_cut <= 1 and not self._heard_over():
                # a cut just before, no visitor heard over the reply: maybe that one late
                log.debug("call %s: user-interrupted without turnId while the visitor is "
                          "not heard over the reply: held", label)
                self._held, self._held_in_reply = self._clock(), self.assistant_speaking
                self._held_heard = False
                return
        self._cut(event)

    def _heard_over(self) -> bool:
        """The visitor is heard over the reply: their speech start since it began; their
        speech on from before it only between replies, or from a server that does not say a
        cut reply stopped. Else Vapi began the reply, so their turn was over (their stopped
        comes 160 ms later, as recorded: a late repeat in between took 821 ms of it), and a
        real cut of it is said stopped (`_reply_stopped`)."""
        return self._visitor_since_reply or (self._visitor_speaking and not (
            self.assistant_speaking and self._stops_on_cut))

    def _cut(self, event: messages.Event) -> None:
        label, cut = self._label, isinstance(event, messages.UserInterrupted)
        if cut:
            self._since_cut, self._cut_at = 0, self._clock()  # a stop to come tells, or:
            self._stops_on_cut = not self.assistant_speaking and \
                self._cut_at - self._stopped_at <= CONFIRM_S
            self._ids.cut()
        self._stale, self._stale_turn = None, False  # all of it goes
        dropped = self.downlink.barge_in(tail_of=label if cut else "")
        if not self.assistant_speaking:
            log.debug("call %s: visitor started speaking; flushed %.0f ms of playout",
                      label, dropped)
            return
        self.interruptions += 1
        heard = (self.sink.played_samples - self._assistant_started_at) / self.sink.sample_rate
        log.info("call %s: visitor interrupted the assistant (%s) after %.1f s of its reply; "
                 "dropped %.0f ms still queued", label, event.type, max(heard, 0.0), dropped)
