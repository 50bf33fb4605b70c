"""One playout buffer over several calls (a sink stays open in standby and loop modes):
each call is a stream. Nothing an earlier stream left queued is ever played in the next,
the next starts from the start depth, the end of a stream plays out and is no underrun,
and a call's counters are its own (`PlayoutStats.since`)."""

from __future__ import annotations

import numpy as np

from bridge.audio.playout import PlayoutBuffer, PlayoutSettings
from bridge.control.status import lines

RATE = 16000
BLOCK = 320  # 20 ms


def pull(buf: PlayoutBuffer, blocks: int) -> np.ndarray:
    out = np.empty(BLOCK, dtype=np.int16)
    played = []
    for _ in range(blocks):
        buf.read_into(out)
        played.append(out.copy())
    return np.concatenate(played)


def begin(buf: PlayoutBuffer, start_ms: float) -> None:
    buf.begin_stream(start_ms)
    assert not pull(buf, 1).any(), "the pull carrying out the request plays nothing"


def quiet(n: int) -> np.ndarray:
    return (np.arange(n) % 3 - 1).astype(np.int16)  # |x| <= 1: Vapi's near-silence bed


def test_a_stream_left_below_the_start_depth_is_never_played_in_the_next() -> None:
    """A call ending before its playout reached the start depth left its audio queued:
    the next call's first arrivals filled the queue up, and the old call played first."""
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=100, fade_ms=0))
    begin(buf, 100)
    buf.write(np.full(1200, 7000, dtype=np.int16))  # 75 ms of the first call's speech
    assert not pull(buf, 3).any(), "below the start depth: nothing plays yet"
    buf.begin_stream(100)  # the next call, without the first one ever ending
    assert not pull(buf, 1).any()
    buf.write(np.full(1600, 3000, dtype=np.int16))  # 100 ms of the next call
    played = pull(buf, 6)
    assert not (played == 7000).any(), "the previous call's audio played in this one"
    assert (played == 3000).sum() == 1600
    assert buf.depth_ms == 0
    stats = buf.stats()
    assert stats.flushes == 0 and stats.flushed_ms == 0, "not a barge-in"
    assert stats.played_ms == 100, "the dropped leftover is not counted as played"


def test_the_end_of_a_stream_plays_out_and_is_no_underrun() -> None:
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=60, fade_ms=0))
    begin(buf, 60)
    buf.set_target_ms(100, 40)  # what the jitter estimate asked for
    buf.write(np.full(1600, 9000, dtype=np.int16))
    pull(buf, 2)
    buf.write(quiet(300))  # the last arrival: some speech and near-silence still queued
    buf.end_stream()
    played = pull(buf, 10)
    assert (played == 9000).sum() == 1600 - 2 * BLOCK, "the speech queued played out"
    assert buf.depth_ms == 0, "nothing held back once the stream is over"
    assert buf.stats().underruns == 0 and buf.stats().audible_underruns == 0, \
        "running out at the end is the end, not an underrun"


def test_a_stream_that_ended_below_the_start_depth_plays_out_at_once() -> None:
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=200, fade_ms=0))
    begin(buf, 200)
    buf.write(np.full(800, 5000, dtype=np.int16))  # 50 ms, the start depth never reached
    assert not pull(buf, 1).any()
    buf.end_stream()
    assert (pull(buf, 4) == 5000).sum() == 800
    assert buf.depth_ms == 0 and buf.stats().underruns == 0


def test_near_silence_held_back_below_the_floor_plays_out_at_the_end() -> None:
    """While playing, near-silence below the floor is held back (waiting for more audio):
    after the stream's end that waited forever, shown as ~40 ms queued while idle."""
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=60, fade_ms=0))
    begin(buf, 60)
    buf.set_target_ms(60, 50)
    buf.write(quiet(1000))
    pull(buf, 20)
    assert buf.depth_ms > 0, "held back: the floor is above what is queued"
    buf.end_stream()
    pull(buf, 4)  # 62.5 ms queued at most
    assert buf.depth_ms == 0


def test_a_new_stream_starts_from_the_start_depth_and_counts_afresh() -> None:
    """A call that began while the speaker was still `playing` the last one's leftover
    skipped the start depth: its first words ran dry, an audible underrun."""
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=60, fade_ms=0))
    begin(buf, 60)
    buf.write(np.full(1600, 4000, dtype=np.int16))
    pull(buf, 10)  # ran dry in speech: one audible underrun in the first call
    base = buf.stats()
    assert base.audible_underruns == 1
    begin(buf, 60)
    buf.write(np.full(BLOCK, 4000, dtype=np.int16))  # the next call's first 20 ms
    assert not pull(buf, 1).any(), "the new stream waits for its start depth"
    buf.write(np.full(1600, 4000, dtype=np.int16))
    buf.end_stream()
    pull(buf, 8)
    share = buf.stats().since(base)
    assert share.underruns == 0 and share.audible_underruns == 0
    assert share.played_ms == 120
    assert buf.stats().audible_underruns == 1, "the buffer's own counters go on"


def test_status_counts_one_underrun_in_the_singular() -> None:
    answer = {"profile": "kiosk", "mode": "standby", "state": "waiting for trigger",
              "call": None, "lastCall": None, "wire": {"format": "pcm_s16le",
                                                       "sampleRate": 16000},
              "devices": {"input": "null", "output": "null"}, "transcript": [],
              "playout": {"depthMs": 0.0, "underruns": 2, "audibleUnderruns": 1,
                          "speechDroppedMs": 0, "silenceDroppedMs": 0}}
    shown = lines(answer)
    assert "playout 0 ms queued, 1 audible underrun (2 in all), dropped 0 ms of speech " \
           "and 0 ms of silence" in shown, shown
