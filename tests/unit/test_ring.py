"""The sample ring across its end: what goes in comes out exactly, in order, however the
writes and reads fall against the end of the ring; a reader a whole ring behind gets the
newest ring's worth and the loss is counted; the ring's clock maps positions to times."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.audio.ring import SampleRing

CAP = 100


def counting(start: int, n: int) -> np.ndarray:
    """Samples that name their own position (mod 2**15), so any misplaced one shows."""
    return (np.arange(start, start + n) % 32768).astype(np.int16)


@pytest.mark.parametrize("sizes", [(30, 45, 7, 99, 1, 64), (99, 99, 99), (1,) * 250,
                                   (100, 37, 63, 100)])
def test_writes_and_reads_across_the_end_come_out_exact(sizes: tuple[int, ...]) -> None:
    ring = SampleRing(CAP)
    got, written = [], 0
    for n in sizes:  # the reader takes after every write: never a whole ring behind
        ring.put(counting(written, n))
        written += n
        got.append(ring.take())
    assert ring.w == ring.r == written
    np.testing.assert_array_equal(np.concatenate(got), counting(0, written))
    assert ring.lost == 0


def test_a_reader_a_whole_ring_behind_gets_the_newest_audio_and_counts_the_rest() -> None:
    ring = SampleRing(CAP)
    ring.put(counting(0, 70))
    np.testing.assert_array_equal(ring.take(), counting(0, 70))
    for start in range(70, 320, 50):  # 250 more, across the end twice, nobody reading
        ring.put(counting(start, 50))
    np.testing.assert_array_equal(ring.take(), counting(220, CAP))
    assert ring.lost == 150
    ring.put(counting(320, 30))  # and it goes on from where the writer is
    np.testing.assert_array_equal(ring.take(), counting(320, 30))
    assert ring.lost == 150


def test_one_write_longer_than_the_ring_keeps_its_end_and_every_position() -> None:
    ring = SampleRing(CAP)
    ring.put(counting(0, 30))
    ring.take()
    ring.put(counting(30, 250))
    assert ring.w == 280, "positions count every sample written"
    np.testing.assert_array_equal(ring.take(), counting(180, CAP))
    assert ring.lost == 150


def test_copy_out_across_the_end_reads_any_recent_position() -> None:
    ring = SampleRing(CAP)
    ring.put(counting(0, 90))
    ring.put(counting(90, 40))  # positions 30..129 held; 100..129 at the ring's start
    dst = np.zeros(50, np.int16)
    ring.copy_out(80, dst)
    np.testing.assert_array_equal(dst, counting(80, 50))
    assert ring.r == 0, "copy_out leaves the reader's position alone"


def test_the_mark_maps_positions_to_times_across_the_end() -> None:
    ring = SampleRing(CAP, rate=1000)
    assert ring.time_of(0) is None, "no mark yet: no time"
    for block in range(5):  # a callback marks the first sample of every block
        ring.put(counting(block * 40, 40))
        ring.mark(10.0 + block * 0.040, block * 40)
    assert ring.time_of(ring.w) == pytest.approx(10.2)
    assert ring.time_of(150) == pytest.approx(10.15)
    ring.mark(11.0, 200)  # the device clock jumped: the newest mark rules
    assert ring.time_of(200) == pytest.approx(11.0)
