"""The drop of a reply Vapi had said `stopped` (`BargeIn._drop_stale`) keeps the next one.

The visitor's speech start over a reply still queued marks what is queued; the next
reply's `started` drops what came before the mark. But nothing orders a reply's audio and
its `speech-update started`: Vapi's answer, sent whole, arrived 100 ms before its
`started`, and a visitor's "uh" 50 ms after the audio took the answer into the mark —
43 ms of its 1.5 s were heard (1181 ms of tone without the drop). What arrives well after
the old reply's `stopped` is not the old reply's. The real `Downlink`, `BargeIn` and a
clocked sink, on a simulated clock (the speaker pulled every 20 ms)."""

from __future__ import annotations

from tests.unit.test_interrupt_order import ANSWER, SECONDS, call, loud_ms, speech

OLD = (0.5, 2.0)  # the old reply at real time; the answer (4.0-5.5 s) sent whole


def test_an_answer_whose_audio_came_before_its_start_is_not_dropped_as_the_old_reply() -> None:
    conversation = [(0.5, speech("assistant", "started", 0)),
                    (2.0, speech("assistant", "stopped", 0)),
                    (2.5, speech("user", "started", 0)), (3.0, speech("user", "stopped", 0)),
                    (4.05, speech("user", "started", 1)), (4.3, speech("user", "stopped", 1)),
                    (4.1, speech("assistant", "started", 1))]
    played = call(0.0, [], conversation, replies=[OLD, ANSWER], whole_from=ANSWER[0])
    heard = loud_ms(played, ANSWER[0] - 0.1, SECONDS)
    assert heard >= 1100, f"the answer heard {heard:.0f} ms of its 1500"


def test_the_greeting_whose_audio_came_before_its_start_is_not_dropped() -> None:
    # the call's first reply: no reply was said stopped before it, so nothing queued is an
    # old one's; a visitor's "hello?" between its audio and its `started` dropped it whole
    greeting = (0.5, 3.0)
    conversation = [(0.52, speech("user", "started", 0)), (0.58, speech("user", "stopped", 0)),
                    (0.6, speech("assistant", "started", 0)),
                    (0.62, speech("assistant", "stopped", 0))]
    played = call(0.0, [], conversation, replies=[greeting], whole_from=greeting[0])
    alone = call(0.0, [], conversation[2:], replies=[greeting], whole_from=greeting[0])
    heard, whole = loud_ms(played, 0.0, SECONDS), loud_ms(alone, 0.0, SECONDS)
    assert heard >= whole - 20, f"the greeting heard {heard:.0f} ms of its {whole:.0f}"
