"""Did speech come back whole, only re-timed? The judgement for a playout buffer's output.

A playout buffer may re-time what it plays, by design: it holds back a block in a pause,
sheds near-silence from a long one, and when the network is late it runs dry and goes on
where it stopped (a gap, faded out and in). None of that loses a word. What must never
happen is speech lost, played twice, or played out of order. One global cross-correlation
cannot tell the two apart: a gap of a few ms inside the reply shifts everything after it,
and the shifted half no longer lines up. So the reference is followed piece by piece
(`PIECE_MS`, both signals below `BAND_HZ`, where every wire format carries speech whole),
each piece of speech at its own lag in the recording:

* a piece stays at the lag of the one before unless another lag explains it clearly
  better (speech is periodic: a lag a pitch period away can score almost as well, so a new
  lag is chosen over the `PLACE_MS` of speech after the piece); a quiet piece (a
  fricative, a breath) cannot place itself and stays;
* a later lag is a stretch inserted: the recording there must be quiet;
* an earlier lag is allowed only across a pause of the reference at least as long (a pause
  shortened); anywhere else it is speech lost;
* where the lag changes, the change is placed by one split: the part before at the old
  lag, the part after at the new, the split where that explains the speech best (among
  the splits that are a re-timing), and then each piece is judged with the playout's fades
  at the split. Lost speech cannot be explained that way, whatever the gap around it: it
  is not there. (The split is chosen without the fades, which could otherwise slide over
  lost speech and hide it.)

A piece lost speech when what the recording at its lag leaves unexplained, (1 − r²) of its
energy, is both `LOST_SHARE` of its own and `LOST` of a typical piece of speech: a
fricative filtered differently explains little of itself but has little to lose, a loud
vowel through another filter loses a few per cent of much; 20 ms of a vowel gone is half
the piece and more than half a typical one.

What it cannot see: speech lost where the reference is quiet (that is a pause shortened),
and, inside one steady vowel, up to a few pitch periods lost with a gap around them a
little longer: the vowel's later periods stand in for the lost ones. A whole frame or
chunk lost (20–90 ms) is seen wherever the speech is loud (`tests/unit/test_retiming.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tests.rig.signals import SILENT, _as_float, align, sliding_correlation

PIECE_MS = 40.0
BAND_HZ = 3400.0  # below µ-law's 4 kHz and both resamplers' transition bands
PLACE_MS = 250.0  # speech over which a new lag is chosen
EDGE_MS = 1.0  # the edges of an inserted stretch, left out of its quietness
FADE_MS = 8.0  # the playout fades out before a gap and in after it
LOUD_REL_DB = -25.0  # a piece this close to the loudest piece's RMS is speech
PLACING = 0.3  # a piece with less energy than this share of a typical one cannot place itself
LOST = 0.3  # a piece lost speech when what it leaves unexplained is this share of a typical
LOST_SHARE = 0.35  # piece's energy and this share of its own
BETTER = 0.02  # how much better another lag must correlate to move to it
QUIET_REL = 0.05  # inserted audio above this share of the recording's peak is not quiet
NEAR_MS = 5.0  # a gap with speech this close on either side is within a word
NEAR_SHIFT_S = 0.15  # a piece's lag is looked for this far on first
TOL_MS = 0.5  # lags this close are one lag (resampling moves an estimate by a sample)


@dataclass
class Retimed:
    """Where the reference's speech went: its start in the recording, each stretch inserted
    or removed (reference time, ms; negative = a pause shortened) and what did not come
    back whole."""

    start_s: float = 0.0
    changes: list[tuple[float, float]] = field(default_factory=list)
    gaps_in_speech: list[tuple[float, float]] = field(default_factory=list)  # within a word
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        moves = ", ".join(f"{ms:+.1f} ms at {t:.2f} s" for t, ms in self.changes) or "none"
        return (f"starts at {self.start_s:.3f} s; re-timed: {moves} "
                f"({len(self.gaps_in_speech)} within speech); "
                f"problems: {'; '.join(self.problems) or 'none'}")


def _band(x: np.ndarray, rate: int) -> np.ndarray:
    spectrum = np.fft.rfft(_as_float(x))
    spectrum[np.fft.rfftfreq(len(x), 1 / rate) > BAND_HZ] = 0
    return np.fft.irfft(spectrum, len(x))


def _corr_curve(piece: np.ndarray, rec: np.ndarray, lo: int, hi: int) -> tuple[int, np.ndarray]:
    """(k0, r): the normalised correlation r[j] of `piece` against rec[k0 + j:][:len(piece)],
    for k0 + j within [lo, hi] and the recording."""
    n = len(piece)
    lo, hi = max(0, lo), min(hi, len(rec) - n)
    if hi < lo:
        return lo, np.zeros(0)
    return lo, sliding_correlation(rec[lo:hi + n], piece)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    d = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    return float(np.dot(a, b)) / d if d > 0 else 0.0


class _Follower:
    def __init__(self, reference: np.ndarray, recorded: np.ndarray, rate: int,
                 max_shift_s: float) -> None:
        self.ref, self.rec, self.rate = _band(reference, rate), _band(recorded, rate), rate
        self.n = round(rate * PIECE_MS / 1000)
        self.edge = round(rate * EDGE_MS / 1000)
        self.fade = round(rate * FADE_MS / 1000)
        self.place_n = round(rate * PLACE_MS / 1000)
        self.lags: list[tuple[int, int, bool]] = []  # (from, lag, after a gap) in order
        self.tol = max(1, round(rate * TOL_MS / 1000))
        self.jump = round(rate * max_shift_s)
        self.near = round(rate * NEAR_SHIFT_S)
        starts = range(0, len(self.ref) - self.n + 1, self.n)
        energy = np.array([float(np.dot(p, p)) for p in (self.ref[i:i + self.n] for i in starts)])
        loud = energy >= energy.max() * 10 ** (LOUD_REL_DB / 10)
        self.speech = [i for i, is_loud in zip(starts, loud, strict=False) if is_loud]
        self.typical = float(np.median(energy[loud]))
        self.quiet_peak = QUIET_REL * float(np.abs(self.rec).max() or 1.0)
        self.ref_quiet_peak = QUIET_REL * float(np.abs(self.ref).max() or 1.0)
        self.out = Retimed()

    @property
    def moved_at(self) -> int:
        """Where the lag last changed (the start, before any change)."""
        return self.lags[-1][0] if self.lags else 0

    def t(self, x: int) -> float:
        return x / self.rate

    def unexplained(self, a: int, b: int, lag: int, gap_at: int | None = None) -> float:
        """Energy of ref[a:b] that the recording within `TOL_MS` of `lag` leaves unexplained,
        the reference faded out before `gap_at` and in after it as the playout does."""
        part = self.ref[a:b]
        if gap_at is not None and self.fade:
            x = np.arange(a, b)
            part = part * np.clip(np.where(x < gap_at, gap_at - x, x - gap_at + 1) / self.fade,
                                  0.0, 1.0)
        energy = float(np.dot(part, part))
        lo, hi = max(0, a + lag - self.tol), min(len(self.rec), b + lag + self.tol)
        if hi - lo < len(part) or energy == 0:
            return energy
        seg = np.lib.stride_tricks.sliding_window_view(self.rec[lo:hi], len(part))
        norms = np.sqrt(np.maximum(np.einsum("ij,ij->i", seg, seg), SILENT * energy) * energy)
        best = max(0.0, float(np.max(seg @ part / norms)))
        return (1 - best * best) * energy

    def lost(self, unexplained: float, energy: float) -> bool:
        return unexplained > LOST_SHARE * energy and unexplained > LOST * self.typical

    def energy(self, a: int, b: int) -> float:
        return float(np.dot(self.ref[a:b], self.ref[a:b]))

    def quiet(self, sig: np.ndarray, a: int, b: int, peak: float) -> bool:
        part = sig[max(0, a):max(0, b)]
        return part.size == 0 or float(np.abs(part).max()) < peak

    def moved(self, x: int, l1: int, l2: int, pause: bool, in_speech: bool) -> None:
        """Reference position x went from lag l1 to lag l2."""
        ms = (l2 - l1) * 1000 / self.rate
        if abs(l2 - l1) <= self.tol:
            return
        self.out.changes.append((self.t(x), ms))
        self.lags.append((x, l2, l2 > l1))
        if l2 > l1 and in_speech:
            self.out.gaps_in_speech.append((self.t(x), ms))
        if l2 > l1 and not self.quiet(self.rec, x + l1 + self.edge, x + l2 - self.edge,
                                      self.quiet_peak):
            self.out.problems.append(f"loud audio inserted at {self.t(x):.2f} s")
        if l2 < l1 and not pause:
            self.out.problems.append(f"{-ms:.1f} ms of speech lost at {self.t(x):.2f} s")

    def fits(self, s: int, l1: int, l2: int) -> bool:
        """Whether a move from lag l1 to l2 at ref[s] is a re-timing: quiet inserted in the
        recording, or a pause of the reference shortened."""
        if l2 > l1:
            return self.quiet(self.rec, s + l1 + self.edge, s + l2 - self.edge, self.quiet_peak)
        return self.quiet(self.ref, s, s + l1 - l2, self.ref_quiet_peak)

    def split(self, a: int, b: int, s: int, l1: int, l2: int,
              faded: bool) -> tuple[float, bool]:
        """ref[a:b] before s at lag l1, from s on at l2 (`faded`: out and in at s): the energy
        left unexplained, and whether any piece lost speech."""
        total, lost = 0.0, False
        gap_at = s if faded else None
        for i in range(a, b, self.n):
            j = min(b, i + self.n)
            cut = min(j, max(i, s))
            gone = sum(self.unexplained(x, y, lag, gap_at)
                       for x, y, lag in ((i, cut, l1), (cut, j, l2)) if y > x)
            total, lost = total + gone, lost or self.lost(gone, self.energy(i, j))
        return total, lost

    def settle(self, a: int, b: int, l1: int, after: list[int]) -> int:
        """Speech ref[a:b] between lag l1 and one of the lags `after`: the single split that
        is a re-timing and explains it best (the part before at l1, the part after at the
        other), each piece then judged by what it leaves unexplained with the playout's fades
        at the split. (The split is chosen without the fades: with them it could slide into
        lost speech and hide it under a fade.) Returns the lag taken after."""
        best: tuple[bool, bool, float, int, int] | None = None
        for l2 in dict.fromkeys(after):
            ms = max(1, self.rate // 1000)
            splits = range(a, b + 1, ms) if l2 != l1 else [b]
            fitting = [s for s in splits if self.fits(s, l1, l2)]
            unfit = not fitting
            cands = fitting or list(splits)  # every 4 ms and each run's ends, then the best's
            coarse = cands[::4] + [x for k, x in enumerate(cands)  # neighbourhood by the ms
                                   if k in (0, len(cands) - 1) or cands[k - 1] != x - ms
                                   or cands[k + 1] != x + ms]
            _, s = min((self.split(a, b, s, l1, l2, False)[0], s) for s in coarse)
            near = [x for x in fitting or splits if abs(x - s) < 4 * ms]
            _, s = min((self.split(a, b, x, l1, l2, False)[0], x) for x in near)
            total, lost = self.split(a, b, s, l1, l2, l2 > l1 + self.tol)  # ran dry at s
            here = (lost, unfit, total, s, l2)
            if best is None or here[:3] < best[:3]:
                best = here
        assert best is not None
        _, _, _, s, l2 = best  # what it lost, `verify` finds
        near = round(self.rate * NEAR_MS / 1000)
        self.moved(s, l1, l2, self.quiet(self.ref, s, s + l1 - l2, self.ref_quiet_peak),
                   not self.quiet(self.ref, s - near, s + near, self.ref_quiet_peak))
        return l2

    def best_lag(self, a: int, m: int, lo: int, hi: int, first: int | None) -> int | None:
        """The lag in [lo, hi] where ref[a:a + m] fits the recording best, looked for up to
        `first` before further (most moves are short)."""
        if first is not None and first < hi:
            k0, r = _corr_curve(self.ref[a:a + m], self.rec, a + lo, a + first)
            if r.size and np.argmax(r) < len(r) - self.tol:
                return k0 + int(np.argmax(r)) - a
        k0, r = _corr_curve(self.ref[a:a + m], self.rec, a + lo, a + hi)
        return k0 + int(np.argmax(r)) - a if r.size else None

    def place(self, i: int, lo: int, hi: int, after: bool = True,
              first: int | None = None) -> int | None:
        """The lag of the speech after the piece at ref[i] (the piece itself may hold the
        gap, at two lags), or from it on, over `PLACE_MS` (a single piece can be a pitch
        period out)."""
        if after and len(self.ref) - (i + self.n) >= self.n:
            i += self.n
        return self.best_lag(i, self.place_n, lo, hi, first)

    def own(self, i: int, lo: int, hi: int, first: int | None = None) -> int | None:
        """The lag that explains the piece at ref[i] best."""
        return self.best_lag(i, self.n, lo, hi, first)

    def verify(self) -> None:
        """Every `PIECE_MS` of the speech, at every quarter piece, against the recording at
        the lags found (faded at each gap): what none explains was lost."""
        marks, n, lost = self.lags, self.n, []
        ends = [x for x, _, _ in marks[1:]] + [len(self.ref)]
        for w in range(self.speech[0], self.speech[-1] + 1, n // 4):
            gone = 0.0
            for (x, lag, gap), end, after in zip(marks, ends, [*marks[1:], None], strict=True):
                a, b = max(w, x), min(w + n, end)
                if b > a:
                    gap_at = x if gap and a < x + self.fade else (
                        end if after is not None and after[2] and b > end - self.fade else None)
                    gone += self.unexplained(a, b, lag, gap_at)
            if self.lost(gone, self.energy(w, w + n)):
                if lost and w <= lost[-1][1]:
                    lost[-1][1] = w + n
                else:
                    lost.append([w, w + n])
        self.out.problems += [f"speech at {self.t(a):.2f}-{self.t(b):.2f} s did not come back "
                              f"whole" for a, b in lost]

    def follow(self) -> Retimed:
        out, ref, rec, n = self.out, self.ref, self.rec, self.n
        if not self.speech:
            out.problems.append("the reference has no speech")
            return out
        first = self.speech[0]
        lag0 = align(ref, rec)
        lag = self.place(first, lag0 - self.jump, lag0 + self.jump, after=False)
        if lag is not None and self.lost(self.unexplained(first, first + n, lag),
                                         self.energy(first, first + n)):
            early = self.own(first, lag - self.jump, lag - self.tol)  # a gap early on?
            if early is not None and not self.lost(self.unexplained(first, first + n, early),
                                                   self.energy(first, first + n)):
                lag = early
        if lag is None:
            out.problems.append("the recording does not reach the speech")
            return out
        out.start_s = self.t(first + lag)
        self.lags.append((0, lag, False))
        placed, pending = first, None  # the end of the last piece placed; speech not placed
        for i in self.speech:
            piece = ref[i:i + n]
            back = max(self.tol, i - placed)  # a pause before the piece may have been shortened
            k0, r = _corr_curve(piece, rec, i + lag - back, i + lag + self.near)
            if r.size and np.argmax(r) >= len(r) - self.tol:  # the best may lie further on
                k0, r = _corr_curve(piece, rec, i + lag - back, i + lag + self.jump)
            if r.size == 0:
                break
            here = r[min(len(r) - 1, max(0, i + lag - k0))]
            new: int | None = lag
            if float(np.dot(piece, piece)) >= PLACING * self.typical and r.max() > here + BETTER:
                new = self.place(i, lag - back, lag + self.jump, first=lag + self.near)
                if new is not None and (self.unexplained(i, i + n, new)
                                        >= self.unexplained(i, i + n, lag)):
                    new = lag  # the speech further on moved, this piece did not (yet)
            if new is None or self.lost(self.unexplained(i, i + n, new), self.energy(i, i + n)):
                pending = i if pending is None else pending
                continue
            # The move may lie a little before: pieces that explain little of the speech
            # (a consonant) still fit the old lag; or anywhere in a pause before.
            since = max(self.moved_at, min(placed - n, i - self.place_n))
            if pending is not None:  # the speech after a gap inside it can place the gap
                after = self.place(pending, lag - back, lag + self.jump, first=lag + self.near)
                new = self.settle(min(pending, since), i + n, lag,
                                  [new] + ([after] if after is not None else []))
                pending = None
            elif new != lag:
                new = self.settle(since, i + n, lag, [new])
            lag, placed = new, i + n
        if pending is not None:  # a gap late in the speech: the last piece gives its lag
            last = self.speech[-1]
            tails = [self.own(last, lag - self.tol, lag + self.jump),
                     self.place(pending, lag - self.tol, lag + self.jump)]
            self.settle(pending, min(len(ref), last + n), lag,
                        [lag] + [x for x in tails if x is not None])
        elif placed < self.speech[-1] + n:
            out.problems.append(f"the recording ends before the speech does "
                                f"({self.t(placed):.2f} s)")
            return out
        else:  # a gap in the last, quiet pieces: no piece after it moves the lag there
            end = min(len(ref), placed)
            tails = [x for x in (self.own(end - n, lag - self.tol, lag + self.jump,
                                          lag + self.near),) if x is not None
                     and self.unexplained(end - n, end, x) < self.unexplained(end - n, end, lag)]
            if tails:
                self.settle(max(self.moved_at, placed - self.place_n), end, lag, [lag, *tails])
        self.verify()
        return out


def retimed_whole(reference: np.ndarray, recorded: np.ndarray, rate: int, *,
                  max_shift_s: float = 1.5) -> Retimed:
    """Follow `reference`'s speech through `recorded` (see the module's docstring)."""
    return _Follower(reference, recorded, rate, max_shift_s).follow()
