"""The visitor's conversation when Vapi's interruption messages come out of order: nothing
in the protocol orders `user-interrupted`, the assistant's `speech-update`s and the audio,
and `turnId` is optional (`ServerMessageUserInterrupted` requires only `type`). Through the
real BargeIn and Downlink (µ-law decoder, resampler, jitter estimate) on a simulated clock,
a sink's playout buffer pulled every 20 ms, chunks every 50 ms as Vapi sends them.

Traced against a server written from Vapi's docs, and with the simulator's faults
(`interrupt-again`, `stale-started`, `interrupt-twice`; tests/e2e/test_interrupted_tail.py
runs them over loopback): a `user-interrupted` without turnId said again in the next reply
flushed it and took its start for the cut reply's tail (750 ms of a 1.8 s answer lost);
the cut reply's own `speech-update started`, reordered behind the event, ended the tail
(the rest of it, 160 ms, played over the visitor). Against Vapi's recorded order (the
answer's start 160 ms before the visitor's stop; a `turnId` reused across replies): a
server without `turn`s lost 474 ms of a quick answer; a repeat before the visitor's stop
821 ms of the answer, one made good by a backchannel 784 ms; a second cut naming a reused
`turnId` was ignored (266 ms heard over the visitor)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np
import pytest

from bridge.audio.codec import codec_for
from bridge.audio.files import ClockedSink
from bridge.call.bargein import BargeIn
from bridge.call.downlink import Downlink
from bridge.vapi.messages import Event, SpeechUpdate, UnknownEvent, UserInterrupted
from tests.unit.clocked_downlink import SPEAKER, WIRE, tone_over

CUT = 2.0  # user-interrupted, into the first reply (which the visitor started over at 1.4)
ANSWER = (4.0, 5.5)  # the next reply; the visitor's turn lies between
SECONDS = 6.0
LOUD = 3000


def speech(role: str, status: str, turn: int) -> SpeechUpdate:
    raw = {"type": "speech-update", "role": role, "status": status, "turn": turn}
    return SpeechUpdate("speech-update", raw, status=status, role=role, turn=turn)


def interrupted(turn_id: str | None) -> UserInterrupted:
    raw = {"type": "user-interrupted"} | ({"turnId": turn_id} if turn_id else {})
    return UserInterrupted("user-interrupted", raw, turn_id=turn_id)


CONVERSATION = [(0.5, speech("assistant", "started", 0)), (1.4, speech("user", "started", 0)),
                (CUT, interrupted("turn-0")), (CUT + 0.01, speech("assistant", "stopped", 0)),
                (3.6, speech("user", "stopped", 0)), (ANSWER[0], speech("assistant", "started", 1)),
                (ANSWER[1], speech("assistant", "stopped", 1))]


def call(tail_s: float, extra: Sequence[tuple[float, Event]],
         conversation: Sequence[tuple[float, Event]] = CONVERSATION,
         replies: Sequence[tuple[float, float]] = (),
         whole_from: float = SECONDS,
         sent_by: Callable[[float], float] | None = None,
         commands: Sequence[tuple[float, dict[str, Any]]] = (),
         create_body: dict[str, Any] | None = None) -> np.ndarray:
    """The first reply sent until `tail_s` after the cut, then the answer (or `replies`);
    the events at their times; from `whole_from` on, the rest sent at once (`sent_by`: the
    seconds of audio sent by each time, instead); `commands` Vapi took (the kiosk's own:
    `BargeIn.after_command`) at theirs; `create_body`: the call's (its clientMessages).
    Returns what the speaker played (at SPEAKER Hz)."""
    audio = tone_over(SECONDS, replies or [(0.5, CUT + tail_s), ANSWER])
    now = [0.0]
    sink = ClockedSink(SPEAKER)
    down = Downlink(codec_for("mulaw"), WIRE, sink, clock=lambda: now[0])
    bargein = BargeIn(create_body or {}, down, sink)
    encode = codec_for("mulaw").encode
    timeline = sorted([(0.05 * k, 0, None) for k in range(1, int(SECONDS / 0.05))]
                      + [(0.007 + 0.02 * k, 1, None) for k in range(int(SECONDS / 0.02) - 1)]
                      + [(t, 2, e) for t, e in [*conversation, *extra]]
                      + [(t, 3, c) for t, c in commands], key=lambda x: x[:2])
    block, played, sent = np.empty(SPEAKER // 50, np.int16), [], 0
    for t, kind, event in timeline:
        now[0] = t
        due = len(audio) if t >= whole_from else min(len(audio), int(
            (t if sent_by is None else sent_by(t)) * WIRE))
        if kind == 0 and due > sent:
            down.on_audio(encode(audio[sent:due]))
            sent = due
        elif kind == 1:
            sink.buffer.read_into(block)
            played.append(block.copy())
        elif kind == 3 and callable(event):  # the kiosk's own step (a say withdrawn)
            event(bargein)
        elif kind == 3:
            bargein.after_command(event, "test")
        elif event is not None:
            bargein.on_event(event, "test")
    return np.concatenate(played)


def loud_ms(played: np.ndarray, start_s: float, end_s: float) -> float:
    part = played[int(start_s * SPEAKER):int(end_s * SPEAKER)]
    return float(np.sum(np.abs(part) > LOUD)) * 1000 / SPEAKER


@cache
def answer_loud_ms() -> float:
    """The answer's loud part, as it plays after an interruption in order."""
    return loud_ms(call(0.0, []), ANSWER[0] - 0.1, SECONDS)


def answer_lost_ms(played: np.ndarray) -> float:
    return answer_loud_ms() - loud_ms(played, ANSWER[0] - 0.1, SECONDS)


@pytest.mark.parametrize("late_s", [0.1, 0.5])
def test_user_interrupted_said_again_without_turn_id_leaves_the_next_reply_whole(
        late_s: float) -> None:
    played = call(0.0, [(ANSWER[0] + late_s, interrupted(None))])
    assert answer_lost_ms(played) < 10, f"the answer lost {answer_lost_ms(played):.0f} ms"


# a reply before the first one, cut (no audio of its own): a user-interrupted without
# turnId in the next may be that one's said again late
EARLIER_CUT = [(0.1, speech("assistant", "started", -1)), (0.2, interrupted("turn--1")),
               (0.3, speech("assistant", "stopped", -1))]


@pytest.mark.parametrize("stops", [True, False], ids=["reply-said-stopped", "no-stopped"])
def test_user_interrupted_without_turn_id_waits_for_the_visitors_speech_start(
        stops: bool) -> None:
    """The two are not ordered either: after a cut reply, the event before the
    speech-update is held, and the speech start that follows it makes it good (the reply
    is cut then) — or, sooner, the reply's own speech-update stopped 10 ms after the event
    (Vapi's cut: held until the visitor's start, 39 ms more of it played over them)."""
    conversation = [(t, e) for t, e in CONVERSATION if not (
        isinstance(e, SpeechUpdate) and e.role == "user" and e.status == "started")]
    conversation = [(t, interrupted(None) if isinstance(e, UserInterrupted) else e)
                    for t, e in [*EARLIER_CUT, *conversation] if stops or not is_stop(e)]
    played = call(0.0, [(CUT + 0.1, speech("user", "started", 0))], conversation)
    assert loud_ms(played, CUT + 0.3, ANSWER[0] - 0.1) == 0, "the cut reply played on"
    before = loud_ms(played, CUT + 0.05, CUT + 0.1)
    if stops:
        assert before == 0, f"{before:.0f} ms played on after the reply was said stopped"
    else:
        assert before > 0, "cut before the visitor's speech"
    assert answer_lost_ms(played) < 10


def is_stop(e: Event) -> bool:
    return isinstance(e, SpeechUpdate) and e.role == "assistant" and e.status == "stopped"


A0, A0_STOPPED = (0.5, speech("assistant", "started", 0)), (CUT + 0.01,
                                                            speech("assistant", "stopped", 0))
LATER = [(ANSWER[0], speech("assistant", "started", 1)),
         (ANSWER[1], speech("assistant", "stopped", 1))]


@pytest.mark.parametrize("user", [
    [(CUT + 0.3, speech("user", "started", 0)), (3.6, speech("user", "stopped", 0))],
    [(CUT + 1.2, speech("user", "started", 0)), (3.6, speech("user", "stopped", 0))],
    [],
    [(0.3, speech("user", "started", 0)), (1.9, speech("user", "stopped", 0))],
], ids=["speech-start-0.3s-late", "speech-start-1.2s-late", "no-user-speech-update",
        "speech-before-the-reply"])
def test_the_first_user_interrupted_without_turn_id_cuts_at_once(
        user: list[tuple[float, Event]]) -> None:
    """No reply was cut before: it cannot be a late one said again. Held for the visitor's
    speech start, the reply played on until it came (132 ms of the cut reply over the
    visitor, the playout depth), and whole when it came over 1 s late, never, or before
    the reply began (then stopped before the event): 132-919 ms, the barge-in never
    counted."""
    conversation = sorted([A0, (CUT, interrupted(None)), A0_STOPPED, *LATER, *user],
                          key=lambda te: te[0])
    played = call(0.2, [], conversation)
    heard = loud_ms(played, CUT + 0.02, ANSWER[0] - 0.1)
    assert heard == 0, f"{heard:.0f} ms of the cut reply played over the visitor"
    assert answer_lost_ms(played) < 10


def test_a_visitor_talking_on_into_the_reply_cuts_it_without_turn_id() -> None:
    """Their speech started before the reply did and has not stopped: the event is theirs."""
    conversation = [(t, interrupted(None) if isinstance(e, UserInterrupted) else e)
                    for t, e in CONVERSATION]
    early = [(0.3 if isinstance(e, SpeechUpdate) and e.role == "user"
              and e.status == "started" else t, e) for t, e in conversation]
    conversation = sorted(early, key=lambda te: te[0])
    played = call(0.0, [], conversation)
    assert loud_ms(played, CUT + 0.1, ANSWER[0] - 0.1) == 0, "the cut reply played on"
    assert answer_lost_ms(played) < 10


def test_without_speech_updates_user_interrupted_without_turn_id_cuts_at_once() -> None:
    conversation = [(CUT, interrupted(None))]
    played = call(0.0, [], conversation)
    assert loud_ms(played, CUT + 0.1, ANSWER[0] - 0.1) == 0, "the cut reply played on"


def test_the_cut_replys_own_speech_start_after_the_event_leaves_its_tail_dropped() -> None:
    played = call(0.3, [(CUT + 0.05, speech("assistant", "started", 0))])
    heard = loud_ms(played, CUT + 0.1, ANSWER[0] - 0.1)
    assert heard == 0, f"{heard:.0f} ms of the cut reply's tail played over the visitor"
    assert answer_lost_ms(played) < 10


def test_two_interruptions_in_300_ms_log_the_tail_dropped(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "bridge.call")
    played = call(0.2, [(CUT + 0.3, interrupted(None))])
    assert loud_ms(played, CUT + 0.1, ANSWER[0] - 0.1) == 0
    said = [r.getMessage() for r in caplog.records if "interrupted reply" in r.getMessage()]
    assert said and "dropped 200 ms" in said[0], said
    assert answer_lost_ms(played) < 10


def _short_interjection(stale_at: float, turns: bool) -> list[tuple[float, Event]]:
    """The visitor's "wait!" (1.4-1.9 s) over the first reply; Vapi's user-interrupted,
    without turnId, comes after their speech-update stopped (decided on the words heard),
    and the reply's own speech-update started, said again, comes in between at `stale_at`."""
    def drop_turn(e: Event) -> Event:
        if isinstance(e, SpeechUpdate) and not turns:
            return SpeechUpdate("speech-update", {}, status=e.status, role=e.role)
        return e
    conversation = [(1.9 if isinstance(e, SpeechUpdate) and e.role == "user"
                     and e.status == "stopped" else t,
                     interrupted(None) if isinstance(e, UserInterrupted) else e)
                    for t, e in CONVERSATION]
    conversation.append((stale_at, speech("assistant", "started", 0)))
    return sorted(((t, drop_turn(e)) for t, e in conversation), key=lambda te: te[0])


@pytest.mark.parametrize(("stale_at", "turns"), [(1.6, True), (1.6, False), (1.95, True)])
def test_the_cut_replys_own_start_again_does_not_make_the_visitor_unheard(
        stale_at: float, turns: bool) -> None:
    """Traced with a stand-in server: the cut reply's speech-update started said again
    after the visitor's start made the user-interrupted that followed their stop "late":
    held, never made good, the reply played on over the visitor (2.5 s of it)."""
    played = call(0.9, [], _short_interjection(stale_at, turns))  # Vapi sent it on
    heard = loud_ms(played, CUT + 0.3, ANSWER[0] - 0.1)
    assert heard == 0, f"{heard:.0f} ms of the cut reply played on over the visitor"
    assert answer_lost_ms(played) < 10


def test_a_reply_starting_before_the_visitors_stop_stays_whole_when_cut_late() -> None:
    """Vapi's next reply may start before the visitor's speech-update stopped [seen]; a
    late user-interrupted without turnId in it is still no cut of it."""
    conversation = [(ANSWER[0] + 0.05 if isinstance(e, SpeechUpdate) and e.role == "user"
                     and e.status == "stopped" else t, e) for t, e in CONVERSATION]
    conversation.sort(key=lambda te: te[0])
    played = call(0.0, [(ANSWER[0] + 0.5, interrupted(None))], conversation)
    assert answer_lost_ms(played) < 10, f"the answer lost {answer_lost_ms(played):.0f} ms"


def model_output(turn_id: str) -> UnknownEvent:
    return UnknownEvent("model-output", {"type": "model-output", "turnId": turn_id})


def test_a_late_user_interrupted_for_the_reply_before_leaves_the_next_whole() -> None:
    """Its `turnId` names the model-output before the playing reply's: that reply is over.
    Traced with a stand-in server: it flushed the next reply (2.8 s of a 4 s answer)."""
    conversation = [(t, e) for t, e in CONVERSATION if not isinstance(e, UserInterrupted)]
    conversation += [(0.45, model_output("turn-0")), (ANSWER[0] - 0.05, model_output("turn-1"))]
    played = call(0.0, [(ANSWER[0] + 0.5, interrupted("turn-0"))],
                  sorted(conversation, key=lambda te: te[0]))
    assert answer_lost_ms(played) < 10, f"the answer lost {answer_lost_ms(played):.0f} ms"
    played = call(0.0, [(ANSWER[0] + 0.5, interrupted("turn-1"))],
                  sorted(conversation, key=lambda te: te[0]))
    assert answer_lost_ms(played) > 500, "the answer's own interruption did not cut it"


# Vapi's order as recorded (../shared/fixtures/vapi-recorded/transport_ack_dropped_by_vapi):
# the next reply's speech-update started 160 ms before the visitor's stopped, `turn` numbers
# shared by the visitor's speech and the reply that answers it
QUICK = (2.4, 4.4)  # a quick answer to a short "stop": the cut reply's tail ends at 2.3


@pytest.mark.parametrize("turn_id", ["turn-0", None])
def test_the_next_reply_started_before_the_visitors_stop_ends_the_tail(
        turn_id: str | None) -> None:
    """Its own `turn`: a new reply, not the cut one's start reordered. Taken for that, it
    left the tail running into the answer: 474 ms of its start dropped."""
    conversation = [(0.5, speech("assistant", "started", 0)), (1.4, speech("user", "started", 1)),
                    (CUT, interrupted(turn_id)), (CUT + 0.01, speech("assistant", "stopped", 0)),
                    (QUICK[0], speech("assistant", "started", 1)),
                    (QUICK[0] + 0.16, speech("user", "stopped", 1))]
    played = call(0.0, [], conversation, [(0.5, CUT + 0.3), QUICK])
    whole = call(0.0, [], [], [QUICK])
    lost = loud_ms(whole, QUICK[0], SECONDS) - loud_ms(played, QUICK[0], SECONDS)
    assert lost < 10, f"the answer lost {lost:.0f} ms"


def test_a_reply_two_after_the_cut_one_is_cut_at_once_in_vapis_order() -> None:
    """The reply after the cut one began before the visitor's stop: it was not counted as
    a reply, so every later first user-interrupted without turnId was held as if said again
    late, and never counted with the visitor's speech start 1.2 s after it: all Vapi sent
    after it played (266 ms here; 896 ms of a reply Vapi went on sending)."""
    second, third = (3.0, 4.0), (4.5, 5.0)  # the third sent until 200 ms after the event
    conversation = [(0.5, speech("assistant", "started", 0)), (1.4, speech("user", "started", 1)),
                    (CUT, interrupted(None)), (CUT + 0.01, speech("assistant", "stopped", 0)),
                    (second[0], speech("assistant", "started", 1)),
                    (second[0] + 0.16, speech("user", "stopped", 1)),
                    (second[1], speech("assistant", "stopped", 1)),
                    (third[0], speech("assistant", "started", 2)),
                    (third[0] + 0.3, interrupted(None)),
                    (third[0] + 1.5, speech("user", "started", 2))]
    played = call(0.0, [], conversation, [(0.5, CUT), second, third])
    heard = loud_ms(played, third[0] + 0.33, SECONDS)  # the playout depth after it
    assert heard == 0, f"{heard:.0f} ms of the reply played on after user-interrupted"


def turnless(role: str, status: str) -> SpeechUpdate:
    """A speech-update without `turn` (optional in Vapi's schema)."""
    raw = {"type": "speech-update", "role": role, "status": status}
    return SpeechUpdate("speech-update", raw, status=status, role=role)


@pytest.mark.parametrize("turn_id", ["turn-0", None])
def test_a_quick_answer_without_turns_ends_the_tail_after_a_new_model_output(
        turn_id: str | None) -> None:
    """A server that sends no `turn`: the answer's start while the visitor still speaks
    (Vapi's recorded order) was taken for the cut reply's own, reordered: the tail ran on
    into the answer, 474 ms of its start dropped. A model-output with a turnId not seen
    before came since the cut: a new reply."""
    conversation = [(0.45, model_output("turn-0")), (0.5, turnless("assistant", "started")),
                    (1.4, turnless("user", "started")), (CUT, interrupted(turn_id)),
                    (CUT + 0.01, turnless("assistant", "stopped")),
                    (QUICK[0] - 0.05, model_output("turn-1")),
                    (QUICK[0], turnless("assistant", "started")),
                    (QUICK[0] + 0.16, turnless("user", "stopped"))]
    played = call(0.0, [], conversation, [(0.5, CUT + 0.3), QUICK])
    whole = call(0.0, [], [], [QUICK])
    lost = loud_ms(whole, QUICK[0], SECONDS) - loud_ms(played, QUICK[0], SECONDS)
    assert lost < 10, f"the answer lost {lost:.0f} ms"
    heard = loud_ms(played, CUT + 0.02, QUICK[0])
    assert heard == 0, f"{heard:.0f} ms of the cut reply played over the visitor"


# Vapi's recorded order: the answer starts 160 ms before the visitor's speech-update stopped
RECORDED = [(t, e) for t, e in CONVERSATION if not (
    isinstance(e, SpeechUpdate) and e.role == "user" and e.status == "stopped")] + [
    (ANSWER[0] + 0.16, speech("user", "stopped", 0))]


def test_a_late_user_interrupted_before_the_visitors_stop_leaves_the_answer_whole() -> None:
    """Said again without turnId between the answer's start and the visitor's stop: their
    speech from before the answer was taken for speech over it, and the answer cut (821 ms
    of it lost). Vapi began the answer: their turn was over."""
    conversation = sorted(RECORDED, key=lambda te: te[0])
    played = call(0.0, [(ANSWER[0] + 0.1, interrupted(None))], conversation)
    assert answer_lost_ms(played) < 10, f"the answer lost {answer_lost_ms(played):.0f} ms"


def test_a_visitor_talking_on_into_the_answer_still_cuts_it_without_turn_id() -> None:
    """The same event, but Vapi's cut: the visitor talks on (their stop 1.3 s in), and the
    answer is said stopped 10 ms after the event."""
    conversation = [(t, e) for t, e in RECORDED if not (
        isinstance(e, SpeechUpdate) and e.status == "stopped" and t >= ANSWER[0])]
    conversation += [(ANSWER[0] + 0.1, interrupted(None)),
                     (ANSWER[0] + 0.11, speech("assistant", "stopped", 1)),
                     (ANSWER[0] + 1.3, speech("user", "stopped", 0))]
    played = call(0.0, [], sorted(conversation, key=lambda te: te[0]),
                  [(0.5, CUT), (ANSWER[0], ANSWER[0] + 0.3)])
    heard = loud_ms(played, ANSWER[0] + 0.13, SECONDS)
    assert heard == 0, f"{heard:.0f} ms of the answer played on after it was cut"


@pytest.mark.parametrize("order", [CONVERSATION, RECORDED], ids=["in-order", "recorded"])
def test_a_backchannel_after_a_late_user_interrupted_leaves_the_answer_whole(
        order: list[tuple[float, Event]]) -> None:
    """Said again without turnId 100 ms into the answer, then the visitor's "yeah" (which
    Vapi lets the answer play over): that speech start made the held event good, 784-821 ms
    of the answer lost. Only the answer said stopped (Vapi's cut) does."""
    conversation = sorted([*order, (ANSWER[0] + 0.6, speech("user", "started", 1)),
                           (ANSWER[0] + 0.9, speech("user", "stopped", 1))],
                          key=lambda te: te[0])
    played = call(0.0, [(ANSWER[0] + 0.1, interrupted(None))], conversation)
    assert answer_lost_ms(played) < 10, f"the answer lost {answer_lost_ms(played):.0f} ms"


def test_a_second_cut_naming_a_reused_turn_id_cuts() -> None:
    """Vapi reuses a turnId across replies (recorded: one shared by two model-outputs 12 s
    apart). The next reply spoke under the cut one's turnId, and its own cut, naming it,
    was taken for the first said again: 266 ms of it played on over the visitor."""
    second = (3.0, 4.2)  # cut at 4.0, sent on 200 ms after
    conversation = [(0.45, model_output("turn-0")), A0, (1.4, speech("user", "started", 0)),
                    (CUT, interrupted("turn-0")), A0_STOPPED,
                    (2.6, speech("user", "stopped", 0)),
                    (second[0] - 0.05, model_output("turn-0")),
                    (second[0], speech("assistant", "started", 1)),
                    (3.7, speech("user", "started", 1)), (4.0, interrupted("turn-0")),
                    (4.01, speech("assistant", "stopped", 1))]
    played = call(0.0, [], conversation, [(0.5, CUT), second])
    heard = loud_ms(played, 4.03, SECONDS)
    assert heard == 0, f"{heard:.0f} ms of the reply played on after user-interrupted"
    played = call(0.0, [(3.5, interrupted("turn-0"))], conversation[:-3], [(0.5, CUT), second])
    assert loud_ms(played, 3.6, SECONDS) > 500, "said again late, it cut the next reply"


def test_a_tail_sent_faster_than_real_time_is_dropped_whole() -> None:
    """The cut reply's audio goes on 200 ms after `user-interrupted`, sent at 6x real time
    (a server whose audio path lags its events, its speech produced faster than real time):
    1.2 s of the reply, more than `TAIL_MAX_MS` of audio but all in 200 ms. Traced with the
    simulator (`interrupt-tail=200`, `--downlink-speed 6`): the first 1 s was dropped and
    the rest, 0.2 s and more, played on over the visitor."""
    conversation = [(0.5, speech("assistant", "started", 0)), (1.4, speech("user", "started", 0)),
                    (CUT, interrupted("turn-0")), (CUT + 0.2, speech("assistant", "stopped", 0))]

    def sent_by(t: float) -> float:  # the reply ends 1.2 s of audio past the cut
        return t if t < CUT else CUT + 6 * (t - CUT) if t < CUT + 0.2 else t + 1.0

    played = call(0.0, [], conversation, replies=[(0.5, CUT + 1.2)], sent_by=sent_by)
    over = loud_ms(played, CUT + 0.1, SECONDS)
    assert over == 0, f"{over:.0f} ms of the cut reply played after user-interrupted"
