"""A call's downlink on a simulated clock, for the unit tests that time the playout: the real
Downlink (µ-law decoder, resampler, jitter estimate) and a sink's playout buffer, chunks
arriving with what is due by then (real time since 0, as the simulator sends them), the
speaker pulling a 20 ms block at each of its times."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bridge.audio.codec import codec_for
from bridge.audio.files import ClockedSink
from bridge.call.downlink import Downlink

WIRE = 8000
SPEAKER = 16000


def tone_over(seconds: float, spans: Sequence[tuple[float, float]]) -> np.ndarray:
    """Near-silence (±1 LSB) with a loud 300 Hz tone over each span (seconds)."""
    t = np.arange(int(seconds * WIRE)) / WIRE
    x = (np.arange(len(t)) % 3 - 1).astype(np.float64)
    on = np.zeros(len(t), dtype=bool)
    for start, stop in spans:
        on |= (t >= start) & (t < stop)
    x[on] = 9000 * np.sin(2 * np.pi * 300 * t[on])
    return x.astype(np.int16)


def play(audio: np.ndarray, arrivals: Sequence[float], pulls: Sequence[float],
         cuts: Sequence[float] = ()) -> tuple[Downlink, np.ndarray]:
    """The downlink, and what the speaker played (at SPEAKER Hz); a barge-in on
    `user-interrupted` at each of `cuts`."""
    now = [0.0]
    sink = ClockedSink(SPEAKER)
    down = Downlink(codec_for("mulaw"), WIRE, sink, clock=lambda: now[0])
    encode = codec_for("mulaw").encode  # the wire's side, as the server encodes it
    events = sorted([(t, 0) for t in arrivals] + [(t, 1) for t in pulls]
                    + [(t, 2) for t in cuts])
    block, played, sent = np.empty(SPEAKER // 50, np.int16), [], 0
    for t, kind in events:
        now[0] = t
        if kind == 0:
            due = min(len(audio), int(t * WIRE))
            if due > sent:
                down.on_audio(encode(audio[sent:due]))
                sent = due
        elif kind == 1:
            sink.buffer.read_into(block)
            played.append(block.copy())
        else:
            down.barge_in(tail_of="test")
    return down, np.concatenate(played) if played else block[:0]
