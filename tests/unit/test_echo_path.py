"""A locked echo path is followed cheaply (`EchoPathEstimator.track`: the lags near the
lock, most times) yet finds what a search over every lag finds: on a steady path, the same
measurement; when the path steps (an underrun, a lost block), the new lag as soon as the
whole search would."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.audio.echo_path import EchoPathEstimator, History, PathMeasurement

RATE = 8000  # the gate's analysis rate
TICK = RATE // 50


def syllables(seconds: float, seed: int) -> np.ndarray:
    """Noise in 120-250 ms syllables with 40-120 ms pauses: far end speech, roughly."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    x = np.zeros(n, dtype=np.float32)
    i = 0
    while i < n:
        on = min(int(rng.uniform(0.12, 0.25) * RATE), n - i)
        x[i:i + on] = rng.standard_normal(on) * np.hanning(on) * 0.2
        i += on + int(rng.uniform(0.04, 0.12) * RATE)
    return x


def call(delays_ms: list[tuple[float, float]], seconds: float = 6.0, *,
         reflection: list[tuple[float, float]] | None = None) -> list[tuple[
        PathMeasurement | None, PathMeasurement | None, float]]:
    """Feed a room whose echo delay is `delays_ms` [(from s, delay ms), ...], 12 dB down
    with a little noise, and a second path 90 ms later whose gain against the first is
    `reflection` [(from s, gain), ...]; per tick once locked: (track's, the whole search's,
    time s)."""
    far_end = syllables(seconds, 1)
    rng = np.random.default_rng(2)
    far, mic = History(int(1.5 * RATE), energy=True), History(int(0.5 * RATE), energy=True)
    est = EchoPathEstimator(RATE)
    out = []
    for t in range(0, len(far_end) - TICK + 1, TICK):
        far.append(far_end[t:t + TICK])
        delay = [d for start, d in delays_ms if t >= start * RATE][-1]
        src = np.arange(t, t + TICK) - int(delay * RATE / 1000)
        echo = np.where(src >= 0, far_end[np.maximum(src, 0)], 0) * 0.25
        if reflection:
            gain = [g for start, g in reflection if t >= start * RATE][-1]
            late = src - int(0.09 * RATE)
            echo = echo + np.where(late >= 0, far_end[np.maximum(late, 0)], 0) * 0.25 * gain
        mic.append((echo + rng.standard_normal(TICK) * 1e-3).astype(np.float32))
        if est.lag is None:
            est.measure(far, mic)
            continue
        whole = est.measure(far, mic, lock=False)
        out.append((est.track(far, mic), whole, t / RATE))
    return out


@pytest.mark.parametrize("reflection", [None, [(0.0, 1.0)], [(0.0, 0.3), (3.0, 1.3)]],
                         ids=["one path", "two as strong", "the later one grows stronger"])
def test_a_steady_path_is_measured_as_the_whole_search_measures_it(
        reflection: list[tuple[float, float]] | None) -> None:
    """Also with a second path (a wall) as strong as the first, or growing stronger than
    the one locked: lags near the lock that explain half the microphone leave no other lag
    more to explain, and when they explain less the whole search runs."""
    ticks = call([(0.0, 30.0)], reflection=reflection)
    assert len(ticks) > 200
    for tracked, whole, _ in ticks:
        assert (tracked is None) == (whole is None)
        if tracked is not None and whole is not None:
            assert tracked.lag == whole.lag
            if min(tracked.rho2, whole.rho2) >= 0.5:
                # the lock's lag explains enough: track stops there, measure fits the lags
                # beside it too (a path between two samples)
                assert tracked.rho2 <= whole.rho2 + 1e-3
                continue
            assert abs(tracked.rho2 - whole.rho2) < 1e-3
            assert abs(tracked.gain2 - whole.gain2) <= 1e-3 * whole.gain2


def test_a_path_that_steps_is_found_as_soon_as_the_whole_search_finds_it() -> None:
    ticks = call([(0.0, 30.0), (3.0, 50.0)])  # 20 ms later from 3 s: a lost block
    new_lag = -int(50 * RATE / 1000)
    after = [(tracked, whole, at) for tracked, whole, at in ticks if at >= 3.0]
    whole_at = next(at for _, whole, at in after if whole is not None and whole.lag == new_lag)
    tracked_at = next(at for tracked, _, at in after
                      if tracked is not None and tracked.lag == new_lag)
    assert tracked_at - whole_at <= 0.02, "one tick at most behind the whole search"
    settled = [(t, w) for t, w, at in after if at >= whole_at + 0.2]
    assert settled and all(t is not None and w is not None and t.lag == w.lag == new_lag
                           for t, w in settled if w is not None and w.rho2 > 0.5)


def test_a_measurement_holds_nothing_of_the_ones_before() -> None:
    """The far end's spectrum is kept between measurements (and made in one transform with
    the microphone's when the far end moved): a short window (the gate's 40 ms check) is
    measured exactly as by an estimator that never measured anything else, whether the far
    end moved since the last measurement or not, and whatever window that one had."""
    far_end = syllables(2.0, 3)
    far, mic = History(int(1.5 * RATE), energy=True), History(int(0.5 * RATE), energy=True)
    kept, check = EchoPathEstimator(RATE), int(0.04 * RATE)
    measured = 0
    for t in range(0, len(far_end) - TICK + 1, TICK):
        far.append(far_end[t:t + TICK])
        mic.append(np.roll(far_end, 240)[t:t + TICK] * 0.25)  # 30 ms, 12 dB down
        if t % (2 * TICK):  # the far end moved since the last: the short window first
            got = kept.measure(far, mic, check, lock=False)
        else:  # the whole window, then the short one (its far spectrum kept)
            kept.measure(far, mic, lock=False)
            got = kept.measure(far, mic, check, lock=False)
        fresh = EchoPathEstimator(RATE).measure(far, mic, check, lock=False)
        assert got == fresh
        measured += got is not None
    assert measured > 50
