"""The drop of a reply Vapi had said `stopped` (`BargeIn._drop_stale`) keeps the next one.

The visitor's speech start over a reply still queued marks what is queued; the next
reply's `started` drops what came before the mark. But nothing orders a reply's audio and
its `speech-update started`: Vapi's answer, sent whole, arrived 100 ms before its
`started`, and a visitor's "uh" 50 ms after the audio took the answer into the mark —
43 ms of its 1.5 s were heard (1181 ms of tone without the drop). What arrives well after
the old reply's `stopped` is not the old reply's. The real `Downlink`, `BargeIn` and a
clocked sink, on a simulated clock (the speaker pulled every 20 ms)."""

from __future__ import annotations

import numpy as np

from bridge.audio.codec import codec_for
from bridge.audio.files import ClockedSink
from bridge.call.bargein import BargeIn
from bridge.call.downlink import Downlink
from tests.unit.clocked_downlink import SPEAKER, WIRE, tone_over
from tests.unit.test_interrupt_order import loud_ms, speech

SECONDS = 7.0
OLD, ANSWER = (0.5, 2.0), (4.0, 5.5)  # the old reply at real time; the answer sent whole


def _heard(conversation: list[tuple[float, object]], whole_from: float) -> np.ndarray:
    audio = tone_over(SECONDS, [OLD, ANSWER])
    now = [0.0]
    sink = ClockedSink(SPEAKER)
    down = Downlink(codec_for("mulaw"), WIRE, sink, clock=lambda: now[0])
    barge = BargeIn({}, down, sink)
    encode = codec_for("mulaw").encode
    timeline = sorted([(0.05 * k, 0, None) for k in range(1, int(SECONDS / 0.05))]
                      + [(0.007 + 0.02 * k, 1, None) for k in range(int(SECONDS / 0.02) - 1)]
                      + [(t, 2, e) for t, e in conversation], key=lambda x: x[:2])
    block, played, sent = np.empty(SPEAKER // 50, np.int16), [], 0
    for t, kind, event in timeline:
        now[0] = t
        if kind == 0:
            due = len(audio) if t >= whole_from else min(len(audio), int(t * WIRE))
            if due > sent:
                down.on_audio(encode(audio[sent:due]))
                sent = due
        elif kind == 1:
            sink.buffer.read_into(block)
            played.append(block.copy())
        else:
            barge.on_event(event, "test")  # type: ignore[arg-type]
    return np.concatenate(played)


def test_an_answer_whose_audio_came_before_its_start_is_not_dropped_as_the_old_reply() -> None:
    conversation = [(0.5, speech("assistant", "started", 0)),
                    (2.0, speech("assistant", "stopped", 0)),
                    (2.5, speech("user", "started", 0)), (3.0, speech("user", "stopped", 0)),
                    (4.05, speech("user", "started", 1)), (4.3, speech("user", "stopped", 1)),
                    (4.1, speech("assistant", "started", 1))]
    heard = loud_ms(_heard(conversation, ANSWER[0]), ANSWER[0] - 0.1, SECONDS)
    assert heard >= 1100, f"the answer heard {heard:.0f} ms of its 1500"
