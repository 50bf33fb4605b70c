"""The arrival-jitter estimate: lateness raises the target, early arrival does not."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.audio.jitter import JitterEstimator

RATE = 8000
CHUNK = 400  # 50 ms


def feed(est: JitterEstimator, times: list[float]) -> float:
    needed = 0.0
    for t in times:
        needed = est.on_chunk(t, CHUNK)
    return needed


def test_audio_three_times_faster_than_real_time_is_no_lateness() -> None:
    est = JitterEstimator(RATE)
    needed = feed(est, [i * 0.05 / 3 for i in range(120)])  # 6 s of audio in 2 s
    assert est.jitter_ms == 0.0 and needed == 50.0


def test_a_stall_after_early_audio_is_lateness() -> None:
    est = JitterEstimator(RATE)
    times = [i * 0.05 / 3 for i in range(60)]  # 3 s of audio in 1 s: 2 s early
    times += [times[-1] + 0.3 + i * 0.05 for i in range(1, 20)]  # a 300 ms stall, then steady
    feed(est, times)
    assert 299 <= est.jitter_ms <= 301


def arrivals(est: JitterEstimator, trace: list[tuple[float, int]]) -> float:
    needed = 0.0
    for t, samples in trace:
        needed = est.on_chunk(t, samples)
    return needed


def test_steady_real_time_chunks_ask_for_one_chunk_and_no_more() -> None:
    """20 ms chunks every 20 ms, each up to 2 ms late (a timer's wobble): the buffer
    needs the chunk it plays while the next one comes, plus that wobble."""
    est = JitterEstimator(16000)
    rng = np.random.default_rng(1)
    needed = arrivals(est, [(i * 0.02 + rng.uniform(0, 0.002), 320) for i in range(500)])
    assert est.chunk_ms == 20.0
    assert 1.0 <= est.jitter_ms <= 2.0
    assert needed == est.jitter_ms + 20.0
    assert est.settled, "10 s of arrivals fill the 8 s window"


def test_bursts_ask_for_the_gap_between_bursts() -> None:
    """The server sends 100 ms at a time, five 20 ms chunks at once, every 100 ms: each
    burst's last chunk must carry the speaker to the next burst (100 ms of audio)."""
    est = JitterEstimator(16000)
    trace = [(0.1 * (i // 5 + 1), 320) for i in range(300)]
    needed = arrivals(est, trace)
    assert est.jitter_ms == pytest.approx(80.0)
    assert needed == pytest.approx(100.0)


def test_random_network_delay_asks_for_its_spread() -> None:
    """Every chunk delayed 10-70 ms at random (in order): the lateness to hide is the
    spread of the delays, 60 ms, not their mean nor their sum."""
    est = JitterEstimator(16000)
    rng = np.random.default_rng(2)
    t, trace = 0.0, []
    for i in range(400):
        t = max(t, i * 0.02 + rng.uniform(0.010, 0.070))  # a stream keeps its order
        trace.append((t, 320))
    arrivals(est, trace)
    assert 50.0 <= est.jitter_ms <= 60.0


def test_a_whole_reply_at_once_asks_for_nothing_extra() -> None:
    """Vapi may send a 4 s reply in 200 ms: all of it is queued early, none of it late."""
    est = JitterEstimator(16000)
    needed = arrivals(est, [(i * 0.001, 320) for i in range(200)])
    assert est.jitter_ms == 0.0 and needed == 20.0


def test_real_time_after_a_head_start_is_no_lateness() -> None:
    """2 s of audio in 0.2 s, then real time: the head start is never lateness."""
    est = JitterEstimator(16000)
    fast = [(i * 0.002, 320) for i in range(100)]
    steady = [(0.198 + i * 0.02, 320) for i in range(1, 200)]  # from the last fast one
    needed = arrivals(est, fast + steady)
    assert est.jitter_ms < 1e-6 and needed == pytest.approx(20.0)


def test_a_late_burst_is_remembered_for_a_window_then_forgotten() -> None:
    """One 150 ms stall raises the estimate at once; it falls back once 8 s of steady
    arrivals have shown less (fast attack, slow decay)."""
    est = JitterEstimator(16000)
    trace = [(i * 0.02, 320) for i in range(100)]  # 2 s steady
    trace += [(2.0 + 0.15 + i * 0.02, 320) for i in range(100)]  # one 150 ms stall
    arrivals(est, trace)
    assert est.jitter_ms == pytest.approx(150.0)
    later = [(4.15 + i * 0.02, 320) for i in range(250)]  # 5 s more: still in the window
    arrivals(est, later)
    assert est.jitter_ms == pytest.approx(150.0)
    arrivals(est, [(9.15 + i * 0.02, 320) for i in range(200)])  # 4 s more: gone
    assert est.jitter_ms < 1e-6


def test_a_pause_in_arrivals_is_not_network_delay() -> None:
    """Vapi stops sending on barge-in and starts again a second later: a new window."""
    est = JitterEstimator(16000)
    arrivals(est, [(i * 0.02, 320) for i in range(100)])
    needed = arrivals(est, [(3.0 + i * 0.02, 320) for i in range(100)])
    assert est.jitter_ms < 1e-6 and needed == pytest.approx(20.0)
