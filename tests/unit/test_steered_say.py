"""An operator's `ctl say --no-interrupt` (`interruptionsEnabled: false`) sent ahead of real
time: the visitor cannot cut it, as Vapi lets nobody cut it in real time.

Vapi sends a short line whole and says it `stopped` at once, so a visitor's "yeah" over it
is a turn of theirs to Vapi; the kiosk drops what it still has queued of a reply Vapi said
stopped at their first words (`BargeIn._drop_stale`). That is right for a line they may
interrupt, not for one the operator said they may not: 1.2 s of a 3 s announcement were
dropped at the visitor's "yeah" (a user transcript 0.9 s after their first sound). Through
the real BargeIn and Downlink on a simulated clock (`test_interrupt_order.call`)."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.call.says import Says
from bridge.vapi import messages
from tests.unit.test_interrupt_order import ANSWER, SECONDS, call, loud_ms, speech
from tests.unit.test_stale_reply_mark import user_words

SAY = (0.5, 3.5)  # the said line's audio, sent whole at 0.5 s
SAID = [(0.5, speech("assistant", "started", 0)), (0.55, speech("assistant", "stopped", 0))]
YEAH = [(1.5, speech("user", "started", 0)), user_words(2.4, "yeah"),
        (2.4, speech("user", "stopped", 0))]
ANSWERED = [(3.0, speech("assistant", "started", 1))]  # Vapi's answer to it, in real time


def _sent_by(t: float) -> float:  # the line whole at 0.5 s, the answer in real time
    return t if t < 0.5 else SAY[1] + 0.1 if t < 3.0 else t + 1.0


def _heard(interruptions: bool, visitor: bool = True,
           body: dict[str, Any] | None = None, refused: bool = False) -> tuple[float, float]:
    """ms of the said line heard loud, and of the answer after it (`refused`: Vapi refused
    the say, told as it was POSTed: the line is then the model's own reply)."""
    command = messages.say("Please wait here.", interruptions=interruptions)
    steps: list[tuple[float, Any]] = [(0.45, command)]
    if refused:
        steps.append((0.46, lambda bargein: bargein.says.withdrawn(command)))
    played = call(0.0, [], [*SAID, *(YEAH if visitor else []), *ANSWERED],
                  replies=[SAY, ANSWER], sent_by=_sent_by, commands=steps,
                  create_body=body)
    said = loud_ms(played, 0.0, SAY[1] + 0.2)
    return said, loud_ms(played, 0.0, SECONDS) - said


# clientMessages without user-interrupted: the kiosk flushes at the visitor's speech start
FALLBACK = {"assistant": {"clientMessages": ["speech-update", "transcript", "status-update"]}}


@pytest.mark.parametrize("body", [None, FALLBACK], ids=["user-interrupted", "fallback"])
def test_a_say_the_visitor_may_not_interrupt_plays_whole_over_their_yeah(
        body: dict[str, Any] | None) -> None:
    (said, answer), (whole, alone) = _heard(False, body=body), _heard(False, False, body)
    assert said >= whole - 20, f"the said line heard {said:.0f} loud ms of its {whole:.0f}"
    assert answer >= alone - 20, "the answer plays whole after it"


def test_a_say_the_visitor_may_interrupt_stops_at_their_words() -> None:
    (said, _), (whole, _) = _heard(True), _heard(True, visitor=False)
    assert said <= whole - 500, f"the said line heard {said:.0f} loud ms of {whole:.0f}, " \
        "past the visitor's words"


def test_a_say_vapi_refused_leaves_the_next_reply_to_the_visitor() -> None:
    """A say POSTed to the controlUrl is told as it is sent (Vapi may speak it before its
    answer); refused (a 4xx, a POST that never reached it), the model's next reply was taken
    for it and the visitor could not cut it (`CallCommands`' `refused`)."""
    (said, _), (whole, _) = _heard(False, refused=True), _heard(False, False, refused=True)
    assert said <= whole - 500, f"the reply heard {said:.0f} loud ms of {whole:.0f}, " \
        "past the visitor's words"


def test_a_say_waiting_behind_a_long_line_is_still_awaited_when_it_ends() -> None:
    """A say sent during a 15 s line waits for it (no `interruptAssistantEnabled`): its 12 s
    count from the line's end, or it was forgotten and played as one the visitor may cut."""
    says = Says()
    says.sent(messages.say("Please wait here.", interruptions=False), 1.0)
    says.reply_stopped(15.0)
    says.reply_began(15.5)
    assert says.unbroken
