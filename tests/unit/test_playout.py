"""The playout buffer's invariants: pulls are always exactly the size asked, a flush empties
it with a fade, speech delivered at once plays whole, the delay bound is kept in
near-silence only, underruns fade instead of clicking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.audio.playout import PlayoutBuffer, PlayoutSettings

RATE = 16000


def ramp(n: int, start: int = 0) -> np.ndarray:
    return (np.arange(start, start + n) % 20000 + 1000).astype(np.int16)


def test_holds_back_until_the_start_depth_then_plays_in_order() -> None:
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=60))
    out = np.empty(160, dtype=np.int16)
    buf.write(ramp(800))  # 50 ms: below the start depth
    buf.read_into(out)
    assert not out.any(), "playback must not start before 60 ms are queued"
    buf.write(ramp(800, 800))  # now 100 ms
    played = []
    for _ in range(10):
        buf.read_into(out)
        played.append(out.copy())
    got = np.concatenate(played)
    assert np.array_equal(got, ramp(1600)), "audio must come out unchanged and in order"


def test_flush_silences_within_one_block_with_a_fade() -> None:
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=20, fade_ms=8))
    loud = np.full(3000, 20000, dtype=np.int16)  # below the 200 ms bound
    buf.write(loud)
    out = np.empty(320, dtype=np.int16)
    buf.read_into(out)
    assert out.min() == 20000
    buf.flush()
    buf.read_into(out)
    fade = 8 * RATE // 1000
    assert out[0] > 15000, "the fade starts from the current level"
    assert np.all(np.diff(out[:fade].astype(int)) <= 0), "the fade only goes down"
    assert not out[fade:].any(), "after the fade the block is silent"
    buf.read_into(out)
    assert not out.any(), "nothing queued before the flush is played after it"
    assert buf.depth_ms == 0
    assert buf.stats().flushes == 1
    assert buf.stats().flushed_ms > 150


def test_audio_after_a_flush_plays() -> None:
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=20))
    buf.write(np.full(3200, 5000, dtype=np.int16))
    out = np.empty(320, dtype=np.int16)
    buf.read_into(out)
    buf.flush()
    buf.read_into(out)
    buf.write(np.full(1600, 7000, dtype=np.int16))
    buf.read_into(out)
    assert out.max() > 0, "new audio after the interruption is played"


def test_underrun_fades_out_and_counts() -> None:
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=20, fade_ms=5))
    buf.write(np.full(400, 10000, dtype=np.int16))
    out = np.empty(480, dtype=np.int16)
    buf.read_into(out)
    assert out[0] == 10000
    assert abs(int(out[399])) < 10000 // 10, "the last samples before the gap are faded"
    assert not out[400:].any()
    assert buf.stats().underruns == 1


@pytest.mark.parametrize("level", [10000, 20])
def test_speech_running_dry_at_a_block_boundary_is_an_audible_underrun(level: int) -> None:
    """The queue empties exactly at the end of a block (20 ms frames make that common): the
    next block is silence mid-word, audible as much as a gap that starts inside a block;
    near-silence running dry is not."""
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=40, fade_ms=5))
    buf.write(np.full(640, level, dtype=np.int16))
    out = np.empty(320, dtype=np.int16)
    for _ in range(3):
        buf.read_into(out)
    fade = 5 * RATE // 1000
    assert 0 < out[0] < level and np.all(np.diff(out[:fade].astype(int)) <= 0), \
        "the silence begins with a fade from the last sample played, not a step"
    assert not out[fade:].any()
    stats = buf.stats()
    assert stats.underruns == 1
    assert stats.audible_underruns == (1 if level > 1000 else 0)


def test_a_chunk_late_mid_word_costs_a_block_not_a_refill_to_the_target() -> None:
    """As traced in an echo call over the simulator's Vapi-like chunking: 50 ms chunks every
    50 ms mid-word, then one 130 ms after the last, as the jitter estimate raises the target
    to 170 ms (57 ms late). The speaker ran dry and then waited for 170 ms queued: 100 ms of
    silence mid-word. Now it goes on once the lateness and a block are queued; the gap
    itself deepens the queue by what was late."""
    buf = PlayoutBuffer(RATE)
    buf.set_target_ms(90, 12)
    events = [(t, 50.0) for t in (*range(0, 500, 50), *range(600, 1200, 50))]
    events += [(580, 92.0), *((7 + 20 * k, 0.0) for k in range(60))]
    out, played = np.empty(320, np.int16), []
    for t, ms in sorted(events):
        if ms and t == 580:
            buf.set_target_ms(170, 57)
        if ms:
            buf.write(np.full(int(ms * 16), 8000, np.int16))
        else:
            buf.read_into(out)
            played.append(out.copy())
    y = np.concatenate(played)
    voiced = y[np.flatnonzero(y)[0]:np.flatnonzero(y)[-1]] != 0
    edges = np.flatnonzero(np.diff(np.concatenate(([1], voiced, [1])).astype(np.int8)))
    gaps = edges[1::2] - edges[::2]
    assert buf.stats().audible_underruns == 1 and len(gaps) == 1
    assert gaps[0] <= 320 + 16, f"{gaps[0] / 16:.0f} ms of silence mid-word"


def speech(seconds: float, pause_ms: float = 100.0, rate: int = RATE) -> np.ndarray:
    """Loud "words" of 250 ms (a ramp whose every sample is distinct) with `pause_ms` of
    near-silence (±3 LSB) between them."""
    word, pause = int(0.25 * rate), int(pause_ms * rate / 1000)
    parts, made = [], 0
    rng = np.random.default_rng(1)
    while made < seconds * rate:
        parts.append(ramp(word, made))
        parts.append(rng.integers(-3, 4, pause).astype(np.int16))
        made += word + pause
    return np.concatenate(parts)


def drain(buf: PlayoutBuffer, seconds: float, block: int = 320) -> np.ndarray:
    out = np.empty(block, dtype=np.int16)
    played = []
    for _ in range(int(seconds * buf.sample_rate / block)):
        buf.read_into(out)
        played.append(out.copy())
    return np.concatenate(played)


def test_a_whole_reply_at_once_plays_whole() -> None:
    """A minute of speech delivered in one go (at 48 kHz, the device rate of most kiosks) is
    queued and played sample for sample: no word is lost, no pause between sentences
    (600 ms) shortened."""
    rate = 48000
    buf = PlayoutBuffer(rate, PlayoutSettings(start_ms=60, max_ms=200, fade_ms=0))
    reply = speech(60.0, pause_ms=600, rate=rate)
    buf.write(reply)
    got = drain(buf, 61.0, block=960)
    start = int(np.flatnonzero(got)[0])
    assert np.array_equal(got[start:start + len(reply)], reply)
    stats = buf.stats()
    assert stats.speech_dropped_ms == 0 and stats.silence_dropped_ms == 0


def test_delay_bound_kept_by_shortening_silence_only() -> None:
    """A burst (1 s of speech, 2 s of near-silence, 1 s of speech, at once) is played with
    every loud sample in order; the bound is restored by skipping near-silence, and the
    pause keeps 850 ms."""
    quiet = np.random.default_rng(2).integers(-3, 4, 2 * RATE).astype(np.int16)
    first, second = ramp(RATE), ramp(RATE, RATE)
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=60, max_ms=200, fade_ms=0))
    buf.write(np.concatenate([first, quiet, second]))
    got = drain(buf, 4.0)
    loud = np.abs(got.astype(np.int32)) >= 1000
    assert np.array_equal(got[loud], np.concatenate([first, second])), "every word, in order"
    ends = np.flatnonzero(loud)
    pause = np.diff(ends).max() - 1
    assert 0.85 * RATE <= pause < 2 * RATE, f"pause {pause / RATE:.2f} s"
    stats = buf.stats()
    assert stats.speech_dropped_ms == 0
    assert stats.silence_dropped_ms == (2 * RATE - pause) * 1000 / RATE


def test_a_full_ring_counts_lost_speech() -> None:
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=60, capacity_ms=500))
    buf.write(np.zeros(RATE // 4, dtype=np.int16))
    buf.write(ramp(RATE // 2))  # 250 ms more than fits
    stats = buf.stats()
    assert stats.overflow_ms == 250 and stats.speech_dropped_ms == 250


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["write", "read", "flush"]),
                          st.integers(min_value=0, max_value=3000)), max_size=60))
def test_random_operations_keep_the_invariants(ops: list[tuple[str, int]]) -> None:
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=40, max_ms=200, capacity_ms=500))
    for op, n in ops:
        if op == "write":
            buf.write(np.full(n, 1000, dtype=np.int16))
        elif op == "flush":
            buf.flush()
        else:
            out = np.full(max(n, 1), 12345, dtype=np.int16)
            buf.read_into(out)
            assert not np.any(out == 12345), "every sample of the block is written"
            assert buf.depth_ms <= 500
        assert buf.depth_ms >= 0


def pull_until(buf: PlayoutBuffer, blocks: int, block: int = 320) -> np.ndarray:
    """`blocks` pulls, block k heard at k·block/RATE s: what was played."""
    out = np.empty(block, dtype=np.int16)
    played = []
    for k in range(blocks):
        buf.read_into(out, heard_at=k * block / RATE)
        played.append(out.copy())
    return np.concatenate(played)


@pytest.mark.parametrize("bed_s", [0.0, 0.3, 3.0])
def test_the_end_of_what_was_queued_is_heard_when_the_next_sample_is(bed_s: float) -> None:
    """A greeting, then near-silence (3 s of it: sent far ahead, shed beyond the delay
    bound), then the answer queued after `watch_queued_end`: the time it reports is the
    time the answer's first sample is heard, however much near-silence went before."""
    buf = PlayoutBuffer(RATE)
    buf.write(np.full(8000, 5000, dtype=np.int16))  # 0.5 s greeting
    rng = np.random.default_rng(0)
    buf.write(rng.integers(-3, 4, int(bed_s * RATE)).astype(np.int16))
    buf.watch_queued_end()
    assert buf.queued_end_heard is None, "not there yet"
    buf.write(np.full(4800, 20000, dtype=np.int16))  # the answer, louder
    played = pull_until(buf, 150)
    first = int(np.flatnonzero(played == 20000)[0])
    assert buf.queued_end_heard == pytest.approx(first / RATE, abs=1e-9)
    if bed_s > 1:
        assert buf.stats().silence_dropped_ms > 1000, "the near-silence was shed"


def test_with_nothing_queued_the_end_is_the_next_block() -> None:
    buf = PlayoutBuffer(RATE)
    buf.write(np.full(3200, 5000, dtype=np.int16))
    pull_until(buf, 12)  # played out, then underran
    buf.watch_queued_end()
    out = np.empty(320, dtype=np.int16)
    buf.read_into(out, heard_at=5.0)
    assert buf.queued_end_heard == 5.0


def test_a_flush_fade_of_what_was_queued_comes_before_the_end() -> None:
    """A flush past the watched position plays a fade of what was queued before it: the
    end is after that fade, not at the block's start."""
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=20, fade_ms=8))
    buf.write(np.full(16000, 5000, dtype=np.int16))
    pull_until(buf, 3)
    buf.watch_queued_end()
    buf.flush()
    out = np.empty(320, dtype=np.int16)
    buf.read_into(out, heard_at=7.0)
    fade = 8 * RATE // 1000
    assert out[:fade - 1].all() and not out[fade:].any(), "the fade, then silence"
    assert buf.queued_end_heard == pytest.approx(7.0 + fade / RATE), \
        "reached with the flush (skipped, not played), after the fade"
