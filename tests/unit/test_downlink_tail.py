"""After `user-interrupted` the downlink drops the cut reply's tail (bridge.call.downlink):
what it drops still arrived, and the jitter estimate must see it arrive. On a simulated
clock through the real Downlink (µ-law decoder, resampler, jitter estimate) and a sink's
playout buffer pulled every 20 ms, chunks every 50 ms as Vapi sends them, near-silence
between replies as Vapi sends it.

Traced: the dropped chunks were kept from the estimate, so their time read as lateness of
the next chunk: every interruption (even one followed by near-silence only, 150 ms of which
the tail takes) raised the floor and the target for the jitter window's 8 s, and the
answer after it was held back by that much more before it played."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from bridge.audio.codec import codec_for
from bridge.audio.files import ClockedSink
from bridge.call.bargein import BargeIn
from bridge.call.downlink import Downlink
from bridge.vapi.messages import SpeechUpdate, UserInterrupted
from tests.unit.clocked_downlink import play, tone_over

CUT_AT = 2.0  # user-interrupted, into the first reply
ANSWER = (4.0, 5.5)  # the next reply (the visitor's turn lies between)
SECONDS = 6.0


def stream(tail_s: float) -> np.ndarray:
    """A loud tone while the assistant speaks: the first reply until `tail_s` after the
    cut, then the answer."""
    return tone_over(SECONDS, [(0.5, CUT_AT + tail_s), ANSWER])


def call(tail_s: float) -> tuple[Downlink, np.ndarray]:
    """Each arrival (every 50 ms) sends what is due by then; `barge_in` on user-interrupted
    at CUT_AT. Returns the downlink and what the speaker played (16 kHz)."""
    arrivals = [0.05 * k for k in range(1, int(SECONDS / 0.05))]
    pulls = [0.007 + 0.02 * k for k in range(int(SECONDS / 0.02) - 1)]
    return play(stream(tail_s), arrivals, pulls, [CUT_AT])


def onset_s(played: np.ndarray, after_s: float) -> float:
    """When the speaker first played the tone at or after `after_s` (playback time)."""
    loud = np.flatnonzero(np.abs(played[int(after_s * 16000):]) > 3000)
    assert len(loud), "the answer never played"
    return after_s + loud[0] / 16000


@pytest.mark.parametrize("tail_s", [0.0, 0.2, 0.3])
def test_the_answer_after_an_interruption_is_not_held_back(
        tail_s: float, caplog: pytest.LogCaptureFixture) -> None:
    """The answer plays as soon after its arrival as the reply before it did: the delay the
    visitor waits for it is not raised by the tail the bridge dropped."""
    caplog.set_level(logging.INFO, "bridge.call")
    down, played = call(tail_s)
    first = onset_s(played, 0.0) - 0.5
    answer = onset_s(played, ANSWER[0] - 0.5) - ANSWER[0]
    assert answer <= first + 0.03, f"answer {answer * 1000:.0f} ms after it arrived, " \
        f"the first reply {first * 1000:.0f} ms"
    assert down.floor_ms <= 60, down.floor_ms
    # the tail the log reports is the reply's, not the near-silence after it
    said = [r.getMessage() for r in caplog.records if "interrupted reply" in r.getMessage()]
    if tail_s:
        assert said and f"dropped {tail_s * 1000:.0f} ms" in said[0], said
    else:
        assert not said, said


def test_a_second_user_interrupted_for_the_same_turn_leaves_the_next_reply_playing() -> None:
    """Vapi saying again that it cut a reply it has cut already (the same `turnId`) must not
    flush what plays now, which may be the next reply: a flush, and up to 1 s of its start
    taken for a tail."""
    sink = ClockedSink(16000)
    down = Downlink(codec_for("pcm_s16le"), 16000, sink)
    rule = BargeIn({}, down, sink)
    tone = (9000 * np.sin(2 * np.pi * 300 * np.arange(3200) / 16000)).astype(np.int16)
    block = np.empty(320, np.int16)

    def interrupted(turn: str | None) -> int:
        """The flushes the speaker made, once it has pulled a block after the event."""
        raw = {"type": "user-interrupted", "turnId": turn}
        assert rule.on_event(UserInterrupted("user-interrupted", raw, turn_id=turn), "test")
        sink.buffer.read_into(block)
        return sink.playout_stats().flushes

    down.on_audio(tone.tobytes())
    assert interrupted("turn-1") == 1, "the cut reply was flushed"
    rule.on_event(SpeechUpdate("speech-update", {}, status="started", role="assistant",
                               turn=2), "test")  # the next reply
    down.on_audio(tone.tobytes())
    assert interrupted("turn-1") == 1, "the next reply was flushed"  # said again
    assert interrupted("turn-2") == 2, "the next reply, cut, was not flushed"


def test_a_pause_before_user_interrupted_does_not_end_the_tail() -> None:
    """Vapi's audio pausing just before the event (its chunks come up to ~100 ms apart) is
    no pause of the tail, which comes after the event: the gap is counted from the event.
    Traced with a server whose last chunk before `user-interrupted` came 170 ms before the
    tail's first (arriving 1 ms after the event): the tail's 150 ms played on over the
    visitor, and ran dry mid-word with a click."""
    arrivals = [t for t in (0.05 * k for k in range(1, int(SECONDS / 0.05)))
                if not CUT_AT - 0.1 < t < CUT_AT + 0.06]  # 1.90, then 2.06: 160 ms apart
    pulls = [0.007 + 0.02 * k for k in range(int(SECONDS / 0.02) - 1)]
    _, played = play(stream(0.3), arrivals, pulls, [CUT_AT])
    after_cut = played[int((CUT_AT + 0.05) * 16000):int((ANSWER[0] - 0.1) * 16000)]
    loud = np.flatnonzero(np.abs(after_cut) > 3000)
    assert not len(loud), f"{len(loud) / 16:.0f} ms of the cut reply played after the event"
    sent = np.sum(np.abs(stream(0.3)[int(ANSWER[0] * 8000):]) > 3000) * 2  # at 16 kHz
    heard = np.sum(np.abs(played[int((ANSWER[0] - 0.1) * 16000):]) > 3000)
    assert heard >= 0.98 * sent, f"the answer lost {(sent - heard) / 16:.0f} ms"


def test_a_server_sending_longer_chunks_has_its_tail_dropped_whole() -> None:
    """Chunks of 200 ms every 200 ms (real time; Vapi's transport sets no chunk size): the
    gap between two of them is no pause of the tail. Traced with a stand-in server: the
    tail ended at the first gap after the event, and the rest of the cut reply (500 ms of
    800) played on over the visitor, after 200 ms of silence."""
    arrivals = [0.2 * k for k in range(1, int(SECONDS / 0.2))]
    pulls = [0.007 + 0.02 * k for k in range(int(SECONDS / 0.02) - 1)]
    _, played = play(stream(0.8), arrivals, pulls, [CUT_AT + 0.01])
    after_cut = played[int((CUT_AT + 0.1) * 16000):int((ANSWER[0] - 0.1) * 16000)]
    loud = np.flatnonzero(np.abs(after_cut) > 3000)
    assert not len(loud), f"{len(loud) / 16:.0f} ms of the cut reply played after the event"
    sent = np.sum(np.abs(stream(0.8)[int(ANSWER[0] * 8000):]) > 3000) * 2  # at 16 kHz
    heard = np.sum(np.abs(played[int((ANSWER[0] - 0.1) * 16000):]) > 3000)
    assert heard >= 0.98 * sent, f"the answer lost {(sent - heard) / 16:.0f} ms"


def test_a_tail_cut_short_at_its_bound_resumes_without_a_click() -> None:
    """A server that talks on past `TAIL_MAX_MS` after the event: what comes after the 1 s
    dropped plays, mid-word, out of the silence the flush left. Traced with a stand-in
    server (odd frame sizes, 1.45 s sent after the event): it started at full level, a
    step, a click; now it fades in."""
    arrivals = [0.047 * k for k in range(1, int(SECONDS / 0.047))]  # (chunks end mid-cycle)
    pulls = [0.007 + 0.02 * k for k in range(int(SECONDS / 0.02) - 1)]
    _, played = play(stream(1.5), arrivals, pulls, [CUT_AT])
    x = played.astype(float)
    after = int((CUT_AT + 0.1) * 16000)
    back = after + int(np.flatnonzero(np.abs(x[after:]) > 300)[0])  # it plays again
    assert back < int((CUT_AT + 1.3) * 16000), "the tail was not cut at its bound"
    bend = np.abs(np.diff(x, 2))
    steady = bend[back + 800:back + 1600].max()
    jump = bend[back - 160:back + 160].max()
    assert jump / steady < 3, f"it resumed with a click: {jump / steady:.1f}x the tone's bend"
