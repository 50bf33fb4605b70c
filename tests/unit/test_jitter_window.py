"""The jitter estimator's O(1) window gives exactly what rescanning the window gives.

The reference below is the estimate's definition, written the plain way (every chunk
rescans the window): for any arrival trace — steady, bursty, faster than real time, with
pauses that start a new window — both give the same target, lateness, longest chunk and
window span.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.audio.jitter import JitterEstimator

RATE = 16000


def reference(trace: list[tuple[float, int]], window_s: float, pause_s: float
              ) -> list[tuple[float, float, float]]:
    out, window, media, base, last = [], [], 0, 0.0, None
    for now, samples in trace:
        if last is None or now - last > pause_s:
            base, window = now - media / RATE, []
        last = now
        offset = now - media / RATE - base
        media += samples
        window.append((now, offset, samples / RATE))
        window = [w for w in window if now - w[0] <= window_s]
        lowest, late = float("inf"), 0.0
        for _, o, _ in window:
            lowest = min(lowest, o)
            late = max(late, o - lowest)
        out.append((late * 1000 + max(c for *_, c in window) * 1000, late * 1000,
                    now - window[0][0]))
    return out


gaps = st.one_of(st.just(0.02), st.just(0.0), st.floats(0.0, 0.3), st.just(0.7))
chunks = st.one_of(st.just(320), st.just(3200), st.integers(1, 8000))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(gaps, chunks), min_size=1, max_size=400),
       st.sampled_from([0.3, 2.0, 8.0]))
def test_the_window_matches_a_full_rescan(steps: list[tuple[float, int]], window_s: float
                                          ) -> None:
    now, trace = 0.0, []
    for gap, samples in steps:
        now += gap
        trace.append((now, samples))
    estimator = JitterEstimator(RATE, window_s=window_s)
    for (now, samples), (needed, late, span) in zip(trace, reference(trace, window_s, 0.5),
                                                     strict=True):
        assert abs(estimator.on_chunk(now, samples) - needed) < 1e-6
        assert abs(estimator.jitter_ms - late) < 1e-6
        assert estimator.span_s == span


def test_a_late_chunk_raises_the_target_and_it_falls_a_window_later() -> None:
    estimator = JitterEstimator(RATE, window_s=2.0)
    now = 0.0
    for _ in range(50):  # 1 s steady: 20 ms chunks every 20 ms
        now += 0.02
        estimator.on_chunk(now, 320)
    assert estimator.jitter_ms < 1e-6
    now += 0.02 + 0.150  # one chunk 150 ms late
    assert estimator.on_chunk(now, 320) >= 150 + 20 - 1e-6
    for _ in range(60):  # 1.2 s on time: still inside the window, still remembered
        now += 0.02
        estimator.on_chunk(now, 320)
    assert estimator.jitter_ms > 149
    for _ in range(60):  # past the window: forgotten
        now += 0.02
        estimator.on_chunk(now, 320)
    assert estimator.jitter_ms < 1e-6
