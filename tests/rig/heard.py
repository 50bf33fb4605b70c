"""How much of what was sent to a speaker was heard, whole and in order.

Played audio is the sent audio with, at most, silence inserted where the sent audio was
quiet (a playout buffer refilling or holding back between utterances). Anything else — a
flush that drops queued speech, a trim, a gap inside a word — shows up here: the sent
audio is cut into short windows, and each voiced one is looked for in the recording at
the lag the previous one was found at. Two voiced windows back to back must be found at
the same lag (±``tolerance_ms``: no gap and no skip inside speech); after a quiet stretch
the lag may move by up to ``max_insert_ms`` (silence added or near-silence dropped). A
voiced window found nowhere it may be is unheard: speech lost, or played out of place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tests.rig.signals import align


@dataclass
class Heard:
    voiced_ms: float = 0.0  # voiced audio sent
    unheard_ms: float = 0.0  # of which not found in the recording where it should be
    first_unheard_s: float | None = None  # where in the sent audio the first loss is
    lags_ms: list[float] = field(default_factory=list)  # the lag of each found window

    @property
    def whole(self) -> bool:
        return self.voiced_ms > 0 and self.unheard_ms == 0


def _level_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x * x) / 32768.0**2 + 1e-12))


def heard(sent: np.ndarray, played: np.ndarray, rate: int, *, window_ms: float = 20.0,
          voiced_db: float = -35.0, min_corr: float = 0.9, tolerance_ms: float = 1.0,
          max_insert_ms: float = 150.0) -> Heard:
    """Compare ``sent`` with the ``played`` recording, both mono at ``rate``."""
    x = sent.astype(np.float64)
    y = played.astype(np.float64)
    w = max(1, int(rate * window_ms / 1000))
    tol, insert = int(rate * tolerance_ms / 1000), int(rate * max_insert_ms / 1000)
    starts = range(0, len(x) - w + 1, w)
    voiced = [_level_db(x[s:s + w]) >= voiced_db for s in starts]
    out = Heard()
    if not any(voiced):
        return out
    first = next(s for s, v in zip(starts, voiced, strict=True) if v)
    seed = x[first:first + int(0.4 * rate)]
    lag = align(seed, y) - first  # where the first voiced stretch was played
    adjacent = False
    for s, v in zip(starts, voiced, strict=True):
        if not v:
            adjacent = False
            continue
        out.voiced_ms += window_ms
        lo, hi = (lag - tol, lag + tol) if adjacent else (lag - insert, lag + insert)
        lo, hi = max(lo, -s), min(hi, len(y) - w - s)
        found = None
        if hi >= lo:
            cand = sliding_window_view(y[s + lo:s + hi + w], w)
            win = x[s:s + w]
            norms = np.sqrt(np.einsum("ij,ij->i", cand, cand) * float(win @ win)) + 1e-9
            corr = cand @ win / norms
            k = int(np.argmax(corr))
            if corr[k] >= min_corr:
                found = lo + k
        if found is None:
            out.unheard_ms += window_ms
            if out.first_unheard_s is None:
                out.first_unheard_s = s / rate
            adjacent = False
            continue
        lag, adjacent = found, True
        out.lags_ms.append(1000 * lag / rate)
    return out
