"""The arrival-jitter estimate: lateness raises the target, early arrival does not."""

from __future__ import annotations

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
