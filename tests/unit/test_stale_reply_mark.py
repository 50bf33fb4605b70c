"""The drop of a reply Vapi had said `stopped` (`BargeIn._drop_stale`) keeps the next one.

The visitor's speech start over a reply still queued marks what is queued; the next
reply's `started` drops what came before the mark. But nothing orders a reply's audio and
its `speech-update started`: Vapi's answer, sent whole, arrived 100 ms before its
`started`, and a visitor's "uh" 50 ms after the audio took the answer into the mark —
43 ms of its 1.5 s were heard (1181 ms of tone without the drop). What arrives well after
the old reply's `stopped` is not the old reply's. The real `Downlink`, `BargeIn` and a
clocked sink, on a simulated clock (the speaker pulled every 20 ms).

A visitor who began speaking just before Vapi sent the last of a reply (ahead of real time,
so it said `stopped` with seconds still queued here) is no interruption to Vapi either (too
short yet to cut a line under way), and it answers them: the rest of the old reply went on
over them and held the answer behind it (at 3x, the whole 8 s greeting played and the
answer came 2.1 s after it was sent). One who began after it is a turn to Vapi whatever
they say: the old reply stops at their first words (a user `transcript`), not at the
answer's start (at 6x, 3 s of the greeting played over them)."""

from __future__ import annotations

from bridge.vapi.messages import Transcript
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


def test_an_answer_to_a_visitor_who_began_as_the_reply_was_sent_is_not_held_behind_it() -> None:
    # the old reply (0.5-3.5 s of audio) sent whole at 1.0 s, the visitor's speech from
    # 0.95 s; Vapi's answer (4.0-5.5 s of audio, after 0.5 s of near-silence) sent from
    # 2.6 s in real time: it plays by 4.6 s, not after the old reply's last 1 s
    conversation = [(0.5, speech("assistant", "started", 0)),
                    (0.95, speech("user", "started", 0)),
                    (1.0, speech("assistant", "stopped", 0)),
                    (2.5, speech("user", "stopped", 0)),
                    (2.6, speech("assistant", "started", 1))]

    def sent_by(t: float) -> float:
        return t if t < 1.0 else 3.6 if t < 2.6 else t + 1.4

    played = call(0.0, [], conversation, replies=[(0.5, 3.5), ANSWER], sent_by=sent_by)
    late = loud_ms(played, 4.7, SECONDS)
    assert late == 0, f"{late:.0f} ms of the answer played after its time, held behind the " \
        "old reply"
    assert loud_ms(played, 2.9, 4.7) >= 1150, "the answer plays whole, as sent"


def user_words(t: float, text: str) -> tuple[float, Transcript]:
    raw = {"type": "transcript", "role": "user", "transcriptType": "partial",
           "transcript": text}
    return t, Transcript("transcript", raw, role="user", text=text, exact=text)


def test_a_reply_sent_whole_stops_at_the_words_of_a_visitor_speaking_over_it() -> None:
    # the old reply (0.5-3.5 s of audio) sent whole at 0.5 s; the visitor speaks from 1.5 s,
    # their first partial transcript at 2.0 s; the answer (4.0-5.5 s) sent from 3.2 s
    conversation = [(0.5, speech("assistant", "started", 0)),
                    (0.55, speech("assistant", "stopped", 0)),
                    (1.5, speech("user", "started", 0)), user_words(1.6, " "),
                    user_words(2.0, "where is"), (3.0, speech("user", "stopped", 0)),
                    (3.2, speech("assistant", "started", 1))]

    def sent_by(t: float) -> float:
        return t if t < 0.5 else 3.6 if t < 3.2 else t + 0.8

    played = call(0.0, [], conversation, replies=[(0.5, 3.5), ANSWER], sent_by=sent_by)
    over = loud_ms(played, 2.1, 3.2)
    assert over == 0, f"{over:.0f} ms of the old reply played over the visitor's words"
    assert loud_ms(played, 1.6, 2.0) > 300, "their first sound alone does not stop it"
    assert loud_ms(played, 3.3, 5.5) >= 1150, "the answer plays whole, as sent"
