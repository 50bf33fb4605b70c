"""The downlink's first floor: until its jitter window is full, the playout keeps covered the
lateness Vapi's own chunking brings (about every 50 ms, at times ~100 ms apart; the
simulator's `vapi` chunking), on a simulated clock through the real Downlink (µ-law
decoder, resampler, jitter estimate) and a sink's playout buffer pulled every 20 ms.

Traced in device echo calls and in 150 simulated calls (8 with an audible underrun): the
floor was only the lateness seen so far; a reply's first ~100 ms gap, coming before any
other, found the queue too shallow mid-word, and speech cannot be held back to deepen it."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.call.downlink import Downlink
from tests.unit.clocked_downlink import play, tone_over


def stream(seconds: float, speech: tuple[float, float]) -> np.ndarray:
    return tone_over(seconds, [speech])


def call(arrivals: list[float], audio: np.ndarray, seconds: float, phase_ms: float = 7.0
         ) -> Downlink:
    """Each arrival sends what is due by then (real time since 0), as the simulator does."""
    pulls = [phase_ms / 1000 + 0.02 * k for k in range(int(seconds / 0.02) - 1)]
    return play(audio, arrivals, pulls)[0]


GAPS = [(0.6, 0.9), (0.6, 1.3), (0.6, 1.7),  # a reply after near-silence
        (0.0, 0.3), (0.0, 0.6), (0.0, 1.0), (0.0, 1.4)]  # a greeting from the first chunk


@pytest.mark.parametrize("phase_ms", [0.0, 7.0, 13.0])
@pytest.mark.parametrize(("speech_at", "gap_at"), GAPS)
def test_the_first_100_ms_gap_mid_word_is_covered(phase_ms: float, speech_at: float,
                                                  gap_at: float) -> None:
    """Chunks every 50 ms; speech from `speech_at`; the call's first 100 ms gap between
    arrivals (50 ms late) falls inside it. A greeting from the call's first chunk has no
    near-silence before it in which the queue could be deepened, so the depth it starts on
    must already cover the first floor, a chunk and a block (traced through real devices:
    a greeting ran dry at 1.16 s, its start depth 84 ms, the first 100 ms gap mid-word)."""
    times, t = [], 0.05
    while t < 2.5:
        times.append(t)
        t += 0.1 if abs(t - gap_at) < 0.025 else 0.05
    down = call(times, stream(2.5, (speech_at, 2.2)), 2.4, phase_ms)
    stats = down.playout_stats()
    assert stats.audible_underruns == 0, stats


def test_once_the_window_is_full_the_floor_is_what_was_seen() -> None:
    """A server pacing exact 20 ms frames: after the jitter window (8 s) the first floor
    gives way to the lateness seen, and the queue it held is shed in near-silence."""
    times = [0.02 * k for k in range(1, 600)]
    down = call(times, stream(12.0, (0.5, 1.5)), 12.0)
    stats = down.playout_stats()
    assert down.floor_ms < 5, down.floor_ms
    assert stats.audible_underruns == 0, stats
    assert stats.silence_dropped_ms >= stats.stretched_ms + 20, stats  # the first depth shed
    assert stats.depth_ms <= 60, stats
