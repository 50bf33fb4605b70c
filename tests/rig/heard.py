"""How much of what was sent to a speaker was heard, whole and in order.

Played audio is the sent audio with, at most, silence inserted (a playout buffer running
dry and refilling, or holding back between utterances) or near-silence dropped. A flush
that drops queued speech, a trim, a gap inside a word all show up here.

The sent audio is cut into short windows; each voiced one is looked for in the recording
at the lag the previous one was found at. Two voiced windows back to back must be found at
the same lag (±``tolerance_ms``); after a quiet stretch, or after windows that were not
found, the lag may move by up to ``max_shift_ms`` (or to wherever the next 0.4 s of sent
audio is found, when that fails: a long glitch). A voiced window found nowhere it may
be is *unheard*. Between the found windows around unheard ones, the audible sent audio is
looked for again in short pieces, at the lag before and the lag after: so an underrun (silence
in, nothing lost), near-silence dropped between words, a repeat (a rewind in the sound
server) and a flush (speech lost, then silence while the buffer refills) are told apart.
``lost_ms`` is audible speech that never played, ``gaps`` the silences inserted inside
speech.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tests.rig.signals import align

PIECE_MS = 2.5  # what is looked for where windows were missed
AUDIBLE_DB = -40.0  # a piece above this is speech, not the near-silence between words
QUIETER_DB = 6.0  # `followed`: a piece found this much quieter than sent was faded
ANCHOR_PIECES = 10  # `followed` starts from this many pieces in a row at the global lag


@dataclass
class Heard:
    voiced_ms: float = 0.0  # voiced audio sent
    unheard_ms: float = 0.0  # voiced windows not found where they should be
    lost_ms: float = 0.0  # speech that never played (a flush, a trim)
    losses: list[tuple[float, float]] = field(default_factory=list)  # (at s, ms) of it
    gaps: list[tuple[float, float]] = field(default_factory=list)  # (at s, ms) inside speech
    # per gap: whether the audio after it came back faded in (a playout buffer restarting
    # after running dry does; silence the sound server inserted below the device, a stream
    # it ran dry on, ends at full level, as does a playout buffer's refill after a flush)
    faded_in: list[bool] = field(default_factory=list)
    first_unheard_s: float | None = None  # where in the sent audio the first miss is
    lags_ms: list[float] = field(default_factory=list)  # the lag of each found window

    def lost_between(self, start_s: float, end_s: float) -> float:
        """ms of speech lost from sent positions in [start_s, end_s)."""
        return sum(ms for at, ms in self.losses if start_s <= at < end_s)



# Silence the sound server inserts below the device (the bridge's stream ran dry inside
# PulseAudio: the ALSA pulse plugin tells PortAudio nothing) comes back at full level, and
# its rewind at the end can take up to a device block of speech with it; a flush drops all
# the playout holds (at least its 60 ms start depth, inside a sentence) and a playout that
# runs dry fades back in.
def server_glitches(report: Heard) -> list[tuple[float, float]]:
    """The gaps (at s, ms) that came back at full level: the sound server's."""
    return [g for g, faded in zip(report.gaps, report.faded_in, strict=True) if not faded]


def unexplained_losses(report: Heard, block_ms: float) -> list[tuple[float, float]]:
    """Speech lost other than up to a device block (`block_ms`) at a gap of the sound
    server's."""
    glitches = {round(at, 3) for at, _ in server_glitches(report)}
    return [(at, ms) for at, ms in report.losses
            if not (ms <= block_ms and round(at, 3) in glitches)]


def _level_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x * x) / 32768.0**2 + 1e-12))


def _silence_mask(y: np.ndarray, run: int = 8) -> np.ndarray:
    """True where ``y`` is inside a run of at least ``run`` exact zeros: the digital
    silence a playout buffer writes when it runs dry or refills."""
    zero = np.concatenate(([False], y == 0, [False]))
    edges = np.flatnonzero(np.diff(zero.astype(np.int8)))
    mask = np.zeros(len(y), dtype=bool)
    for lo, hi in zip(edges[::2], edges[1::2], strict=True):
        if hi - lo >= run:
            mask[lo:hi] = True
    return mask


def _missing(x: np.ndarray, y: np.ndarray, a: int, b: int, lags: tuple[int, int],
             rate: int, tol: int, min_corr: float) -> int:
    """Samples of audible sent audio in ``x[a:b]`` found at neither of the lags around it
    (a repeat, a gap or dropped near-silence lose nothing). A piece is matched on its part
    that did not fall into inserted silence, so the two edges of an underrun cost nothing."""
    p = max(1, int(rate * PIECE_MS / 1000))
    lost = 0
    for s in range(a, b - p + 1, p):
        piece = x[s:s + p]
        if _level_db(piece) < AUDIBLE_DB:
            continue
        if not any(_present(piece, y, s + lag - tol, 2 * tol + 1, min_corr) for lag in lags):
            lost += p
    return lost


def _present(piece: np.ndarray, y: np.ndarray, at: int, n: int, min_corr: float) -> bool:
    """Whether ``piece`` is in ``y`` at one of the ``n`` offsets from ``at``, on at least a
    quarter of its length outside inserted silence."""
    p = len(piece)
    lo, hi = max(0, at), min(len(y) - p, at + n - 1)
    if hi < lo:
        return False
    seg = y[lo:hi + p]
    cand = sliding_window_view(seg, p)
    keep = ~sliding_window_view(_silence_mask(seg), p)
    xm = keep * piece
    dot = np.einsum("ij,ij->i", cand, xm)
    norms = np.sqrt(np.einsum("ij,ij->i", cand * keep, cand) * np.einsum("ij,ij->i", xm, xm))
    ok = (keep.sum(axis=1) >= p // 4) & (dot >= min_corr * (norms + 1e-9))
    return bool(ok.any())


def _comes_back_faded(x: np.ndarray, y: np.ndarray, lo: int, hi: int, lag: int,
                      rate: int) -> bool:
    """Whether the audio after the inserted silence in ``y[lo:hi]`` (its longest run of
    exact zeros) starts below half its sent level over its first 2 ms, at ``lag``: faded
    in. Where that cannot be told (no zero run, sent audio too quiet there), True: the gap
    is then not taken for the sound server's."""
    lo = max(0, lo)
    zero = np.concatenate(([False], y[lo:max(lo, hi)] == 0, [False]))
    edges = np.flatnonzero(np.diff(zero.astype(np.int8)))
    if not len(edges):
        return True
    starts, ends = edges[::2], edges[1::2]
    end = lo + int(ends[np.argmax(ends - starts)])
    n = max(1, rate // 500)
    ref, got = x[end - lag:end - lag + n], y[end:end + n]
    if len(ref) < n or len(got) < n or _level_db(ref) < AUDIBLE_DB:
        return True
    return float(got @ ref) / float(ref @ ref) < 0.5


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
    miss_at = 0  # where (in sent) the misses since then began

    def lose(samples: int) -> None:
        if samples:
            out.lost_ms += 1000 * samples / rate
            out.losses.append((miss_at / rate, 1000 * samples / rate))
    for s, v in zip(starts, voiced, strict=True):
        if not v:
            adjacent = False
            continue
        out.voiced_ms += window_ms
        span = (lag - tol, lag + tol) if adjacent else (lag - shift, lag + shift)
        found = _find(x, y, s, w, *span, min_corr)
        if found is None and not adjacent:  # lost the track (a long glitch): find it again
            again = align(x[s:s + int(0.4 * rate)], y) - s
            found = _find(x, y, s, w, again - tol, again + tol, min_corr)
        if found is None:
            out.unheard_ms += window_ms
            if out.first_unheard_s is None:
                out.first_unheard_s = s / rate
            if not missed:
                miss_at = s
            missed += w
            adjacent = False
            continue
        if missed and last_end is not None:
            # between the windows found around the miss: what never played
            lose(_missing(x, y, last_end, s, (lag, found), rate, tol, min_corr))
            if found - lag > tol:
                out.gaps.append((last_end / rate, 1000 * (found - lag) / rate))
                out.faded_in.append(_comes_back_faded(x, y, last_end + lag, s + found + w,
                                                      found, rate))
        elif missed:
            lose(missed)  # nothing heard before: all of it lost
        missed = 0
        lag, adjacent, last_end = found, True, s + w
        out.lags_ms.append(1000 * lag / rate)
    if missed and last_end is not None:  # missed up to the end: where did the tail go?
        tail = align(x[miss_at:], y) - miss_at
        lose(_missing(x, y, last_end, len(x), (lag, tail), rate, tol, min_corr))
    else:
        lose(missed)  # nothing of it heard at all
    return out


def heard_after_ms(out: np.ndarray, visitor: np.ndarray, at: int, rate: int) -> float:
    """ms from the visitor's onset (`out[at]`) to the first 10 ms of their speech that `out`
    (an echo control's output) kept within 10 dB; inf when none was."""
    f = rate // 100
    for k in range(len(visitor) // f):
        v = visitor[k * f:(k + 1) * f].astype(np.float64)
        o = out[at + k * f:at + (k + 1) * f].astype(np.float64)
        if np.dot(v, v) > 1e4 * f and np.dot(o, v) / np.dot(v, v) >= 10 ** (-10 / 20):
            return (k + 1) * 10.0
    return float("inf")


@dataclass
class Followed:
    """`followed`: what of the sent audio the recording holds, piece by piece, in order."""

    voiced_ms: float = 0.0
    lost: list[tuple[float, float]] = field(default_factory=list)  # (at s, ms): not found,
    # or found more than `QUIETER_DB` down (faded)
    moves: list[tuple[float, float]] = field(default_factory=list)  # (at s, ms) re-timed
    start: int = 0  # where the first piece found was played (samples)
    end: int = 0  # where the last piece found ends (samples)

    @property
    def gaps(self) -> list[tuple[float, float]]:
        """The silences inserted (a playout or a sound server running dry)."""
        return [(at, ms) for at, ms in self.moves if ms > 0]

    def unexplained_ms(self, block_ms: float) -> float:
        """ms lost beyond up to a block at each gap (a sound server's rewind as it ran dry)."""
        lost = dict(self.lost)
        for at, _ in self.gaps:
            budget = block_ms
            for t in sorted(t for t in lost if at - 2 * block_ms / 1000 <= t <= at):
                take = min(budget, lost[t])
                lost[t] -= take
                budget -= take
        return sum(lost.values())


def followed(sent: np.ndarray, played: np.ndarray, rate: int, *, piece_ms: float = 10.0,
             back_ms: float = 20.0, ahead_ms: float = 300.0, min_corr: float = 0.9) -> Followed:
    """Each audible `piece_ms` of `sent`, looked for in `played` next to the one before:
    at its place, else up to `ahead_ms` later (silence inserted before it: a playout or a
    sound server running dry) or `back_ms` earlier (a sound server's rewind after running
    dry takes up to a device block with it), never further back (played out of order).
    Followed both ways from the piece found where one global alignment puts the whole.
    Unlike that alignment alone, any number of short gaps (a loaded machine's sound
    server) leave all of it found; a piece not found, or found faded, is lost."""
    x, y = sent.astype(np.float64), played.astype(np.float64)
    p, tol = max(1, int(rate * piece_ms / 1000)), max(1, rate // 1000)
    back, ahead = int(rate * back_ms / 1000), int(rate * ahead_ms / 1000)
    starts = [s for s in range(0, len(x) - p + 1, p) if _level_db(x[s:s + p]) >= AUDIBLE_DB]
    out = Followed()
    if not starts:
        return out
    anchor = align(x, y)  # the longest stretch played in one piece: from its first
    at = [_find(x, y, s, p, anchor - tol, anchor + tol, min_corr) is not None for s in starts]
    run = min(ANCHOR_PIECES, len(starts))  # pieces in a row found there (not one by chance)
    first = next((k for k in range(len(starts) - run + 1) if all(at[k:k + run])), None)
    if first is None:
        out.voiced_ms, out.lost = piece_ms * len(starts), [(s / rate, piece_ms) for s in starts]
        return out
    lags: dict[int, int] = {}

    def follow(order: list[int], lag: int, later: int, earlier: int) -> None:
        for s in order:
            found = _find(x, y, s, p, lag - tol, lag + tol, min_corr)
            if found is None:
                found = _find(x, y, s, p, lag - earlier, lag + later, min_corr)
            if found is None:
                out.lost.append((s / rate, piece_ms))
                continue
            if _level_db(y[s + found:s + found + p]) < _level_db(x[s:s + p]) - QUIETER_DB:
                out.lost.append((s / rate, piece_ms))  # there, but faded
            lags[s], lag = found, found

    follow(starts[first:], anchor, ahead, back)  # on: gaps move the lag later
    follow(starts[first - 1::-1] if first else [], anchor, back, ahead)  # back: earlier
    out.voiced_ms = piece_ms * len(starts)
    out.lost.sort()
    done = sorted(lags)
    out.moves = [(s / rate, 1000 * (lags[s] - lags[r]) / rate)
                 for r, s in itertools.pairwise(done) if abs(lags[s] - lags[r]) > tol]
    if done:
        out.start, out.end = lags[done[0]] + done[0], lags[done[-1]] + done[-1] + p
    return out
