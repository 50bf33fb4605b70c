"""An operator's `ctl say --interrupt-assistant` (`interruptAssistantEnabled`) while a reply
Vapi sends at 3x is queued: the reply stops at once, faded, and none of it is heard after;
the said line is heard whole, and the model's next reply after it too.

By the controlUrl, Vapi has the say 0.2-0.3 s after it left (the kiosk is told as it is
POSTed): what Vapi sent of the reply meanwhile, 0.76 s of it at 3x, played after the cut
and before the say (1.8 s with the say 0.6 s late). Through the real BargeIn and Downlink on
a simulated clock, with a server model that sends as the simulator does: speech 3x faster
than real time, each line's `speech-update`s as its first and last samples are produced, a
say with `interruptAssistantEnabled` cutting the reply under way when it arrives, then
spoken after its synthesis (0.15 s)."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.audio.codec import codec_for
from bridge.audio.files import ClockedSink
from bridge.call.bargein import BargeIn
from bridge.call.downlink import Downlink
from bridge.vapi import messages
from tests.unit.test_interrupt_order import interrupted, speech

WIRE, SPEAKER = 8000, 16000
REPLY, SAID, ANSWER = 300.0, 500.0, 700.0  # each line's tone
LENGTHS = {REPLY: 12.0, SAID: 2.0, ANSWER: 1.5}  # seconds
SENT_AT, SECONDS = 1.5, 8.0


def heard(act_after: float | None, *, sent_at: float = SENT_AT, refused: bool = False,
          speed: float = 3.0, started_late: float = 0.0,
          visitor_cut: float | None = None) -> np.ndarray:
    """What the speaker played: the reply from 0.5 s, the say sent at `sent_at` and acted on
    `act_after` later (None: never), the visitor's turn at 4.6-5.2 s, the answer at 5.5 s.
    `started_late`: the said line's `speech-update started` comes that long after its first
    audio (Vapi sends audio before it); `visitor_cut`: the visitor's user-interrupted comes
    then, and Vapi's audio path lags it: the reply goes on 0.5 s more, then stops."""
    now = [0.0]
    sink = ClockedSink(SPEAKER)
    down = Downlink(codec_for("mulaw"), WIRE, sink, clock=lambda: now[0])
    bargein = BargeIn({}, down, sink)
    encode = codec_for("mulaw").encode
    say = messages.say("Please hold.", interrupt_assistant=True)
    queue: list[tuple[float, float]] = [(REPLY, 0.5)]  # (line, ready at)
    line: list[float] | None = None  # [tone, samples produced, samples]
    lead = last = 0.0
    turn = produced = 0
    steps = [(sent_at, "sent"), (4.6, "user started"), (5.2, "user stopped"), (5.5, "answer")]
    steps += [] if act_after is None else [(sent_at + act_after, "say")]
    steps += [(sent_at + 0.3, "refused")] if refused else []
    steps += [] if visitor_cut is None else [(visitor_cut, "cut"), (visitor_cut + 0.5, "stop")]
    late: list[tuple[float, messages.Event]] = []  # a started still to come
    timeline = sorted([(0.05 * k, 0, "") for k in range(1, int(SECONDS / 0.05))]
                      + [(0.007 + 0.02 * k, 1, "") for k in range(int(SECONDS / 0.02) - 1)]
                      + [(t, 2, what) for t, what in steps])
    block, played = np.empty(SPEAKER // 50, np.int16), []
    for t, kind, what in timeline:
        now[0] = t
        while late and late[0][0] <= t:
            bargein.on_event(late.pop(0)[1], "test")
        if kind == 1:
            sink.buffer.read_into(block)
            played.append(block.copy())
            continue
        if kind == 2:
            if what == "sent":
                bargein.after_command(say, "test")
            elif what == "refused":
                bargein.withdrawn(say)
            elif what == "cut":
                bargein.on_event(interrupted(f"turn-{turn}"), "test")
            elif what == "say" or (what == "stop" and line is not None):  # Vapi cuts the
                if line is not None:  # reply under way (then speaks the say)
                    bargein.on_event(speech("assistant", "stopped", turn), "test")
                    turn, line = turn + 1, None
                if what == "say":
                    queue.insert(0, (SAID, t + 0.15))
            elif what == "answer":
                queue.append((ANSWER, t))
            else:
                bargein.on_event(speech("user", what.split()[1], 0), "test")
            continue
        if line is not None or any(ready <= t for _, ready in queue):
            lead += (speed - 1) * (t - last)
        last, due, out = t, int((t + lead) * WIRE), []
        while produced < due:
            if line is None and queue and queue[0][1] <= t:
                line = [queue.pop(0)[0], 0, 0]
                line[2] = int(LENGTHS[line[0]] * WIRE)
                if line[0] == SAID and started_late:
                    late.append((t + started_late, speech("assistant", "started", turn)))
                else:
                    bargein.on_event(speech("assistant", "started", turn), "test")
            n = due - produced if line is None else min(due - produced, line[2] - line[1])
            if line is None:  # Vapi's near-silence between lines
                out.append((np.arange(n) % 3 - 1).astype(np.int16))
            else:
                k = line[1] + np.arange(n)
                out.append((9000 * np.sin(2 * np.pi * line[0] * k / WIRE)).astype(np.int16))
                line[1] += n
                if line[1] >= line[2]:
                    bargein.on_event(speech("assistant", "stopped", turn), "test")
                    turn, line = turn + 1, None
            produced += n
        if out:
            down.on_audio(encode(np.concatenate(out)))
    return np.concatenate(played).astype(np.float64)


def tone_ms(played: np.ndarray, tone: float, start_s: float = 0.0) -> int:
    """ms of loud 10 ms blocks from `start_s` on whose strongest line tone is `tone`."""
    n, ms = SPEAKER // 100, 0
    basis = {f: np.exp(-2j * np.pi * f * np.arange(n) / SPEAKER) for f in LENGTHS}
    for i in range(int(start_s * 100), len(played) // n):
        x = played[i * n:(i + 1) * n]
        if np.sqrt(np.mean(x ** 2)) > 1000:
            ms += 10 * (max(basis, key=lambda f: abs(np.dot(x, basis[f]))) == tone)
    return ms


@pytest.mark.parametrize("act_after", [0.03, 0.25, 0.6],
                         ids=["socket", "control-url", "control-url-0.6s-late"])
def test_a_say_cutting_a_reply_sent_ahead_leaves_none_of_it_after_the_cut(
        act_after: float) -> None:
    played = heard(act_after)
    after = tone_ms(played, REPLY, SENT_AT + 0.03)
    assert after == 0, f"{after} ms of the cut reply heard after the say was sent"
    assert tone_ms(played, SAID) >= 1980, "the said line is heard whole"
    assert tone_ms(played, ANSWER) >= 1480, "the model's next reply plays after it"
    cut = played[int(SENT_AT * SPEAKER):int((SENT_AT + 0.06) * SPEAKER)]
    assert np.max(np.abs(np.diff(cut))) < 1200, "the cut is faded (no click)"


def test_a_say_sent_after_the_reply_was_all_sent_cuts_what_is_queued() -> None:
    played = heard(0.25, sent_at=4.52)  # the 12 s reply all sent by 4.5 s
    assert tone_ms(played, REPLY, 4.55) == 0
    assert tone_ms(played, SAID) >= 1980


def test_a_say_vapi_refused_lets_the_reply_go_on() -> None:
    """Refused (a 4xx: Vapi did not take it), no cut comes: the reply's rest plays, faded in
    where it resumes."""
    played = heard(None, refused=True)
    assert tone_ms(played, REPLY, SENT_AT + 0.35) >= 2500, "the reply goes on"


@pytest.mark.parametrize("started_late", [0.1, 0.25, 0.3])
def test_the_said_line_is_heard_whole_when_its_started_comes_after_its_audio(
        started_late: float, caplog: pytest.LogCaptureFixture) -> None:
    """Vapi sends a line's audio before its `speech-update started`: the cut reply's tail,
    released by Vapi's stop, ends in the near-silence before the said line (it dropped the
    said line's first 0.9 s, waiting for 150 ms of near-silence that was 140)."""
    caplog.set_level("INFO", "bridge.call")
    played = heard(0.25, started_late=started_late)
    assert tone_ms(played, REPLY, SENT_AT + 0.03) == 0
    assert tone_ms(played, SAID) >= 1980, "the said line is heard whole"
    assert tone_ms(played, ANSWER) >= 1480
    assert "interrupted reply that arrived after the say that cut it" in caplog.text


def test_a_refused_say_keeps_the_visitors_own_cut(caplog: pytest.LogCaptureFixture) -> None:
    """The visitor cut the reply (user-interrupted), then an operator's say that would cut it
    too is refused: what still arrives of the reply is dropped as the visitor's tail (the
    refusal dropped that tail, and the rest of the reply in flight played on)."""
    caplog.set_level("INFO", "bridge.call")
    played = heard(None, sent_at=1.5, refused=True, visitor_cut=1.45)
    assert "interrupted reply that arrived after user-interrupted" in caplog.text
    after = tone_ms(played, REPLY, 1.5)
    assert after == 0, f"{after} ms of the reply the visitor cut heard"
    assert tone_ms(played, ANSWER) >= 1480
