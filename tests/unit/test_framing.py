"""Exact 20 ms frames with silence fill and a bounded backlog."""

from __future__ import annotations

import numpy as np

from bridge.audio.framing import Framer


def test_frames_are_exact_and_silence_fills_gaps() -> None:
    f = Framer(16000)
    assert len(f.pop()) == 320 and not f.pop().any()
    f.push(np.ones(500, dtype=np.int16))
    first = f.pop()
    assert len(first) == 320 and first.all()
    second = f.pop()
    assert len(second) == 320 and not second.any(), "a partial frame waits for the next tick"
    f.push(np.ones(200, dtype=np.int16))
    assert f.pop().all(), "the waiting 180 samples plus new ones make a frame"


def test_device_blocks_that_do_not_line_up_prime_once_then_run_clean() -> None:
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
