"""Exact 20 ms frames with silence fill and a bounded backlog, laid where the capture ends
(no rounding of the resampler's hold-back up to a whole frame)."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.audio.framing import Framer
from bridge.audio.resample import Resampler


def test_first_audio_is_padded_at_its_front_so_its_last_sample_ends_a_frame() -> None:
    f = Framer(16000)
    assert len(f.pop()) == 320 and not f.pop().any(), "nothing yet: silence"
    f.push(np.arange(1, 501, dtype=np.int16))
    first = f.pop()
    assert not first[:140].any() and np.array_equal(first[140:], np.arange(1, 181))
    assert np.array_equal(f.pop(), np.arange(181, 501)), "the frame the capture completed"
    assert f.padded_samples == 140
    assert not f.pop().any(), "nothing left: silence"
    f.push(np.ones(200, dtype=np.int16))
    assert not f.pop().any() and f.buffered_ms == 12.5, "later a partial frame waits"
    f.push(np.ones(120, dtype=np.int16))
    assert f.pop().all() and f.padded_samples == 140, "padded once only"


def test_clear_aligns_the_next_audio_afresh() -> None:
    f = Framer(16000)
    f.push(np.ones(320, dtype=np.int16))
    f.push(np.ones(100, dtype=np.int16))
    f.clear()
    f.push(np.ones(100, dtype=np.int16))
    frame = f.pop()
    assert not frame[:220].any() and frame[220:].all() and f.buffered_ms == 0


@pytest.mark.parametrize("wire_rate", [16000, 8000])
def test_a_click_leaves_in_the_frame_of_the_block_that_captured_it(wire_rate: int) -> None:
    """48 kHz capture in 20 ms blocks through the real resampler and framer, one push and
    one pop per block: a click leaves late by the resampler's own filter delay and nothing
    more — in the frame of the block that captured it unless that delay carries it past
    the frame's end; never a whole frame later for the framer's sake."""
    res, f = Resampler(48000, wire_rate), Framer(wire_rate)
    block, frame = 960, wire_rate // 50
    clicks = [5 * block + 100, 9 * block + 480, 13 * block + 800]
    mic = np.zeros(20 * block, dtype=np.int16)
    mic[clicks] = 30000
    sent = []
    for b in range(20):
        f.push(res.process(mic[b * block:(b + 1) * block]))
        sent.append(f.pop())
    assert f.silence_frames == 0 and f.padded_samples == 0
    wire = np.concatenate(sent).astype(float)
    for click in clicks:
        near = slice(click * wire_rate // 48000 - frame // 2, click * wire_rate // 48000 + frame)
        at = near.start + int(np.argmax(np.abs(wire[near])))
        due = click / 48000 + res.held_ms / 1000  # when the filter lets it out
        assert at // frame == int(due * 50), "in the frame its capture and the filter put it"
        late_ms = at / wire_rate * 1000 - click / 48
        assert late_ms == pytest.approx(res.held_ms, abs=0.2)


def test_blocks_that_do_not_line_up_leave_as_soon_as_complete() -> None:
    """1024-sample device blocks into 960-sample frames, popped whenever a frame is
    complete: nothing ever waits once a frame is complete, and no silence after the start."""
    f = Framer(48000)
    for _ in range(200):
        f.push(np.ones(1024, dtype=np.int16))
        while f.buffered_ms >= 20:
            assert f.pop().all() or f.silence_frames == 0
        assert f.buffered_ms < 20
    assert f.silence_frames == 0 and f.padded_samples == 896


def test_device_blocks_that_do_not_line_up_on_a_timer_run_clean() -> None:
    f = Framer(48000)  # 960-sample frames; device delivers 1024-sample blocks
    produced = 0
    silences_after_start = 0
    for tick in range(1, 500):
        while produced + 1024 <= tick * 960:  # what the device clock has delivered by now
            f.push(np.ones(1024, dtype=np.int16))
            produced += 1024
        frame = f.pop()
        if tick > 5 and not frame.any():
            silences_after_start += 1
    assert silences_after_start <= 1


def test_backlog_is_dropped_to_keep_delay_bounded() -> None:
    f = Framer(16000, max_backlog_ms=100, keep_ms=40)
    f.push(np.arange(16000, dtype=np.int16))
    assert f.buffered_ms == 40, "trimmed back to keep_ms"
    assert f.dropped_samples == 16000 - 640
    assert np.array_equal(f.pop(), np.arange(15360, 15680)), "the newest audio is kept"
