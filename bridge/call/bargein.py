"""Barge-in: when the visitor interrupts the assistant, the queued reply is dropped from the
speaker at once (Vapi sends no "clear"), and the interruption is counted and logged.

Which server event means a barge-in is Vapi's rule (`bridge.vapi.interruptions`); this
module knows what the assistant is saying (its `speech-update`s) and how much of it the
visitor has heard (the speaker's own sample count), so the log line can say so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bridge.audio.base import AudioSink
from bridge.call.downlink import Downlink
from bridge.vapi import messages
from bridge.vapi.interruptions import BargeInRule

log = logging.getLogger("bridge.call")


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
        self._cut_turn: str | None = None  # the turnId of the last user-interrupted

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
        if self.rule.is_barge_in(event):
            self._barge_in(event, label)
        elif isinstance(event, messages.SpeechUpdate) and event.role == "assistant":
            self.assistant_speaking = event.status == "started"
            if self.assistant_speaking:
                self._assistant_started_at = self.sink.played_samples
                self.downlink.next_reply()
        else:
            return False
        return True

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

    def _barge_in(self, event: messages.Event, label: str) -> None:
        # Vapi's word that it cut the reply: what still comes of it is dropped as well
        cut = isinstance(event, messages.UserInterrupted)
        if isinstance(event, messages.UserInterrupted) and event.turn_id is not None:
            if event.turn_id == self._cut_turn:  # said again: the reply is cut already, and
                log.debug("call %s: user-interrupted again for the same turn", label)
                return  # what plays now may be the next one
            self._cut_turn = event.turn_id
        dropped = self.downlink.barge_in(tail_of=label if cut else "")
        if not self.assistant_speaking:
            log.debug("call %s: visitor started speaking; flushed %.0f ms of playout",
                      label, dropped)
            return
        self.interruptions += 1
        heard = (self.sink.played_samples - self._assistant_started_at) / self.sink.sample_rate
        log.info("call %s: visitor interrupted the assistant (%s) after %.1f s of its reply; "
                 "dropped %.0f ms still queued", label, event.type, max(heard, 0.0), dropped)
