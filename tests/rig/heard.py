"""How much of what was sent to a speaker was heard, whole and in order.

Played audio is the sent audio with, at most, silence inserted (a playout buffer running
dry and refilling, or holding back between utterances) or near-silence dropped. A flush
that drops queued speech, a trim, a gap inside a word all show up here.

The sent audio is cut into short windows; each voiced one is looked for in the recording
at the lag the previous one was found at. Two voiced windows back to back must be found at
the same lag (±``tolerance_ms``); after a quiet stretch, or after windows that were not
found, the lag may move by up to ``max_shift_ms``. A voiced window found nowhere it may
be is *unheard*. Between the found windows around unheard ones, the content is accounted
for: the lag grew by the silence inserted there, less the speech that went missing. So an
underrun (a gap: silence in, nothing lost) and a flush (speech lost, then silence while
the buffer refills) are told apart: ``lost_ms`` is speech that never played, ``gaps``
the silences inserted inside speech.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tests.rig.signals import align

SILENT_DB = -70.0  # a 1 ms block this quiet is silence (the bridge plays digital zeros)


@dataclass
class Heard:
    voiced_ms: float = 0.0  # voiced audio sent
    unheard_ms: float = 0.0  # voiced windows not found where they should be
    lost_ms: float = 0.0  # speech that never played (a flush, a trim)
    gaps: list[tuple[float, float]] = field(default_factory=list)  # (at s, ms) inside speech
    first_unheard_s: float | None = None  # where in the sent audio the first miss is
    lags_ms: list[float] = field(default_factory=list)  # the lag of each found window

    @property
    def whole(self) -> bool:
        """Every voiced window heard, in place: nothing lost, no gap."""
        return self.voiced_ms > 0 and self.unheard_ms == 0


def _level_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x * x) / 32768.0**2 + 1e-12))


def _silent(x: np.ndarray, rate: int) -> int:
    """Samples of ``x`` in silent 1 ms blocks."""
    b = max(1, rate // 1000)
    n = len(x) // b
    if n == 0:
        return 0
    p = np.mean(x[: n * b].reshape(n, b) ** 2, axis=1) / 32768.0**2
    return int(np.sum(p < 10 ** (SILENT_DB / 10))) * b


def _find(x: np.ndarray, y: np.ndarray, s: int, w: int, lo: int, hi: int,
          min_corr: float) -> int | None:
    lo, hi = max(lo, -s), min(hi, len(y) - w - s)
    if hi < lo:
        return None
    cand = sliding_window_view(y[s + lo:s + hi + w], w)
    win = x[s:s + w]
    norms = np.sqrt(np.einsum("ij,ij->i", cand, cand) * float(win @ win)) + 1e-9
    corr = cand @ win / norms
    k = int(np.argmax(corr))
    return lo + k if corr[k] >= min_corr else None


def heard(sent: np.ndarray, played: np.ndarray, rate: int, *, window_ms: float = 20.0,
          voiced_db: float = -35.0, min_corr: float = 0.9, tolerance_ms: float = 1.0,
          max_shift_ms: float = 300.0) -> Heard:
    """Compare ``sent`` with the ``played`` recording, both mono at ``rate``."""
    x = sent.astype(np.float64)
    y = played.astype(np.float64)
    w = max(1, int(rate * window_ms / 1000))
    tol, shift = int(rate * tolerance_ms / 1000), int(rate * max_shift_ms / 1000)
    starts = range(0, len(x) - w + 1, w)
    voiced = [_level_db(x[s:s + w]) >= voiced_db for s in starts]
    out = Heard()
    if not any(voiced):
        return out
    first = next(s for s, v in zip(starts, voiced, strict=True) if v)
    seed = x[first:first + int(0.4 * rate)]
    lag = align(seed, y) - first  # where the first voiced stretch was played
    adjacent = False
    last_end: int | None = None  # end (in sent) of the last window found
    missed = 0  # voiced samples not found since then
    for s, v in zip(starts, voiced, strict=True):
        if not v:
            adjacent = False
            continue
        out.voiced_ms += window_ms
        span = (lag - tol, lag + tol) if adjacent else (lag - shift, lag + shift)
        found = _find(x, y, s, w, *span, min_corr)
        if found is None:
            out.unheard_ms += window_ms
            if out.first_unheard_s is None:
                out.first_unheard_s = s / rate
            missed += w
            adjacent = False
            continue
        if missed and last_end is not None:
            # between the windows found around the miss: silence inserted there, less the
            # lag's growth, is speech that never played
            sent_part = x[last_end:s]
            played_part = y[last_end + lag:s + found]
            inserted = max(0, _silent(played_part, rate) - _silent(sent_part, rate))
            lost = min(max(0, inserted - (found - lag)), missed)
            out.lost_ms += 1000 * lost / rate
            if inserted > lost:
                out.gaps.append((last_end / rate, 1000 * (inserted - lost) / rate))
        elif missed:
            out.lost_ms += 1000 * missed / rate  # nothing heard before: all of it lost
        missed = 0
        lag, adjacent, last_end = found, True, s + w
        out.lags_ms.append(1000 * lag / rate)
    out.lost_ms += 1000 * missed / rate  # not heard up to the end
    return out
