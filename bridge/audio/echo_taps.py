"""Which few lags, fitted together, explain the microphone (`EchoPathEstimator`'s best lag).

The best lag alone is not the path's share when the echo does not fall on one analysis
sample:

- A path between two samples of the analysis stream (a loop's delay lands anywhere; at
  8 kHz, 125 µs apart) spreads over the two: the best lag alone explained only 0.5-0.7 of
  a single path's echo halfway between them.
- Two paths of like strength (two speakers playing the assistant a few ms apart, a desk
  reflecting it as loud as the direct sound) leave no single lag explaining half the
  echo: the path never locked, the echo passed 7-17 dB down and the assistant's first
  words reached Vapi as the visitor (user-interrupted; 54 of 60 replayed rooms).

So a path is fitted at its lag and the lags each side (`cluster`), and a second path
within `PAIR_MS` is fitted with it (least squares, the far end's own correlation between
the lags counted, so a voice's periodicity, which makes a lag a pitch period away look
like a path, adds nothing) when the two explain `PAIR_GAIN` of the microphone more than
the first alone and `PAIR_MOST` of it in all. The second path is the next step of a
matching pursuit: the lags that best explain what the first leaves (`_candidates`). Two
paths between samples can leave a lag between them, or a pitch period away, the best
single lag; the pursuit is then started again from its best candidate. The lock goes to
the earlier of the two when the second carries `EARLIER` of the microphone in the fit:
the gate's decaying expectation (`EchoGate._far_peak`) covers the later one. While a lock
is followed (`held`), its own lag explaining enough, or the pair of it and the best lag,
ends the fit: no search on most ticks (a whole-sample path is never fitted at all).

A search (FFTs over `PAIR_MS` each way and a few fits, ~0.5 ms) ran on most ticks while a
visitor talked over the echo: 1-2 ms ticks on the event loop (p99 1.4 ms, 0.4 ms with no
fit; benchmarks/echo.py's rooms). So the pair last found (`last`) is fitted again
first (one small solve); nothing is fitted where no lag near the best could bring the pair
to `PAIR_MOST` (`HOPE_LAST`: a visitor over the echo, mostly); and the estimator lets a
search run only so often (`echo_path.SEARCH_GAP_MS`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import as_strided

SPREAD = 1  # a path is fitted at its lag and this many lags each side
PAIR_MS = 40.0  # a second path within this of the first is fitted with it
PAIR_GAIN = 0.1  # when the two explain this share of the microphone more than one
# and this much of it in all: a few ms of a visitor's onset, fitted at 6 of 640 lags, was
# 0.59 "explained" by a far end it had nothing to do with (and held 30 dB down)
PAIR_MOST = 0.75
EARLIER = 0.25  # the lock moves to the second path when it is earlier and carries this
SEARCH = 0.2  # a second path is looked for when the first explains this share, not 0.9
# a pair is fitted only if the first path and the best single lag near it, together (and
# this many times that for the pair last found, which a suppressor effect can fit better
# than the sum: 1.5 missed one room of 60), reach `PAIR_MOST`
HOPE_LAST = 2.0
CANDIDATES = 3  # the lags that best explain what the first path leaves, tried in turn


def cluster(k: int, n: int) -> np.ndarray:
    """Lag indices `k - SPREAD` … `k + SPREAD` within the `n` measured."""
    return np.arange(max(0, k - SPREAD), min(n, k + SPREAD + 1))


Far = Callable[[int, int], np.ndarray]  # far(lo, hi): the far end under lag indices lo…hi-1


def explain(r: np.ndarray, far: Far, w: int,
            taps: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The energy the far end at lag indices `taps` (sorted, distinct) explains together,
    each tap's least-squares gain and the taps' Gram matrix: `r` the microphone's
    correlation with the far end at every lag index, `far(lo, hi)` the far end under the
    windows (`w` samples) at lag indices `lo` … `hi - 1`."""
    v = _windows(far, w, taps)
    g = v @ v.T
    g.flat[::len(taps) + 1] += 1e-9 * float(g.trace()) + 1e-12  # a silent far end
    b = r[taps].astype(np.float64)
    try:
        a = np.linalg.solve(g, b)
    except np.linalg.LinAlgError:
        return 0.0, np.zeros(len(taps)), g
    return max(0.0, float(b @ a)), a, g


def _windows(far: Far, w: int, taps: np.ndarray) -> np.ndarray:
    """The far end under the windows at lag indices `taps` (sorted), one row each."""
    t0 = int(taps[0])
    x = far(t0, int(taps[-1]) + 1).astype(np.float64)
    return as_strided(x, (len(x) - w + 1, w), (x.itemsize, x.itemsize))[taps - t0]


Fit = tuple[int, float, tuple[int, int] | None]  # (lock, explained, the pair's two lags)


def fit(r: np.ndarray, e_f: np.ndarray, e_m: float, k: int, pair: int, far: Far, w: int,
        held: tuple[int, float] | None = None, last: tuple[int, int] | None = None,
        search: Callable[[], bool] = lambda: True) -> Fit:
    """(the lag index to lock, the energy explained there): `k` the best single lag,
    `e_f` the far end's energy under each lag, `pair` lags each way where a second path is
    looked for, `e_m` the microphone's energy. The pair is looked for beside `k` and, if
    that does not explain nearly all, beside the lag explaining most of what `k` leaves:
    two paths between samples can leave a lag a pitch period away (a ghost) the best.
    `held`: (a locked path's lag index, the energy that keeps it locked) — most ticks
    while the path is followed: `k` there explaining that much, or the two, end it.
    `last`: the pair the last search found (lag indices), fitted again before a search,
    which runs only if `search()` allows it. Also returns the pair found, if any."""
    n = len(r)
    e_k = float(r[k]) ** 2 / max(float(e_f[k]), 1e-12)
    mine = held is not None and abs(held[0] - k) <= SPREAD  # the best lag is the lock's
    if (e_k >= (1.0 - PAIR_GAIN) * e_m or e_k < 0.5 * SEARCH * e_m
            or (held is not None and mine and e_k >= held[1])):
        return k, e_k, None  # a path on a sample, the lock holding, or no echo: no fit
    one = cluster(k, n)
    e_one, a, g = explain(r, far, w, one)
    e_one = max(e_one, e_k)
    if held is not None and 0 <= held[0] < n and abs(held[0] - k) <= pair:
        if mine:
            if e_one >= held[1]:
                return k, e_one, None
        else:
            two = _pair(r, far, w, e_m, k, [held[0]])
            if two is not None and two[1] >= max(e_one + PAIR_GAIN * e_m, held[1]):
                return two
    if not SEARCH * e_m <= e_one < PAIR_MOST * e_m or pair <= SPREAD:
        return k, e_one, None
    lo, hi = max(0, k - pair), min(n, k + pair + 1)
    alone = np.square(r[lo:hi], dtype=np.float64) / np.maximum(e_f[lo:hi], 1e-12)
    hope = e_one + float(alone.max())  # about the most a pair can explain
    if hope * HOPE_LAST < PAIR_MOST * e_m:
        return k, e_one, None  # a visitor over the echo, mostly
    enough = max(e_one + PAIR_GAIN * e_m, PAIR_MOST * e_m)
    if last is not None and min(last) >= 0 and max(last) < n:
        near, other = sorted(last, key=lambda t: abs(t - k))
        again = _pair(r, far, w, e_m, k if abs(near - k) <= SPREAD else near, [other])
        if again is not None and again[1] >= enough:
            return again
    if hope < PAIR_MOST * e_m or not search():
        return k, e_one, None
    cands = _candidates(r, e_f, k, one, a, g, pair, far, w)
    best = _pair(r, far, w, e_m, k, cands)
    if best is not None and e_one + PAIR_GAIN * e_m <= best[1] < (1.0 - PAIR_GAIN) * e_m:
        j = cands[0]  # more than one path, not yet all of it: again from there
        _, a, g = explain(r, far, w, cluster(j, n))
        other = _pair(r, far, w, e_m, j, _candidates(r, e_f, j, cluster(j, n), a, g, pair,
                                                     far, w))
        if other is not None and other[1] > best[1]:
            best = other
    if best is None or best[1] < enough:
        return k, e_one, None
    return best


def _pair(r: np.ndarray, far: Far, w: int, e_m: float, k: int, cands: list[int]) -> Fit | None:
    """Of the lags `cands` fitted with `k` (each with its neighbours), the pair that
    explains most (None without `cands`): (the lag to lock, what the two explain, the
    two)."""
    n = len(r)
    one = set(cluster(k, n).tolist())
    best, at, gains, both, gram = -1.0, -1, np.zeros(0), np.zeros(0, dtype=int), np.zeros(0)
    for j in cands:
        taps = np.array(sorted(one.union(cluster(j, n).tolist())))
        e_two, b, g = explain(r, far, w, taps)
        if e_two > best:
            best, at, gains, both, gram = e_two, j, b, taps, g
    if at < 0:
        return None
    # at the earlier path (the larger lag: the gate's decaying peak covers the later one)
    # when the second one carries a share of its own in the fit
    second = np.array([t not in one for t in both.tolist()])
    own = float(gains[second] @ gram[np.ix_(second, second)] @ gains[second])
    return (max(k, at) if own >= EARLIER * e_m else k), min(best, e_m), (k, at)


def _candidates(r: np.ndarray, e_f: np.ndarray, k: int, one: np.ndarray, a: np.ndarray,
                g: np.ndarray, pair: int, far: Far, w: int) -> list[int]:
    """The lags within `pair` of `k` that best explain what the first path's lags `one`
    (gains `a`, Gram matrix `g`) leave (a matching pursuit's next step): up to
    `CANDIDATES`, apart. The far end's correlation between each lag and `one`'s: FFT."""
    n = len(r)
    lo, hi = max(0, k - pair - SPREAD), min(n, k + pair + SPREAD + 1)
    x = far(lo, hi).astype(np.float64)
    size = 1 << int(np.ceil(np.log2(len(x))))
    taps = as_strided(x, (len(x) - w + 1, w), (x.itemsize, x.itemsize))[one - lo]
    c = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(taps, size)),
                     size)[:, :hi - lo]  # c[t, i]: the window at lo + i against tap t's
    js = np.arange(lo + SPREAD, hi - SPREAD)
    if len(js) == 0:
        return []
    cross = c[:, js - lo].T
    left = r[js] - cross @ a
    rest = e_f[js] - np.einsum("ij,ij->i", cross @ np.linalg.inv(g), cross)
    score = np.square(left) / np.maximum(rest, 1e-3 * np.maximum(e_f[js], 1e-12))
    score[np.abs(js - k) <= SPREAD] = 0.0
    out = []
    for _ in range(CANDIDATES):
        i = int(np.argmax(score))
        if score[i] <= 0.0:
            break
        out.append(int(js[i]))
        score[max(0, i - 2 * SPREAD):i + 2 * SPREAD + 1] = 0.0
    return out
