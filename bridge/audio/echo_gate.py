"""`audio.echo: gate`: attenuate the microphone while it holds only the assistant's echo.

Every uplink tick the far end (what the speaker played) and the microphone are brought to
an ~8 kHz analysis stream (a short FIR and an integer decimation, so the analysis is only
~1 ms behind the samples it gates; pre-emphasised so room rumble does not dominate), and
the echo path is measured from the two (`EchoPathEstimator`; on the ticks where a
measurement can matter, `EchoGate._measure`). For each 10 ms of
microphone the echo to expect is the far end's level at the path's lag — a decaying peak,
so a short reverberation tail is expected too, and 10 ms ahead, in case the path stepped
earlier — times the measured echo-return ratio. The microphone is the visitor (double
talk, Geigel-style, with a measured echo return) when it is `margin_db` louder than that
and above the noise floor, unless the far end at some other lag explains its newest
`check_ms` (the path moved: an underrun, a lost block). The gate then opens at once and
holds `hold_ms` per frame heard, up to `hangover_ms`, or until the whole measuring window
is echo again; from the `confirm`-th frame heard (the visitor is present) each frame heard
holds the whole hangover, and only a window the far end explains almost wholly closes it
(a word's weak consonants under loud echo; not the echo after the visitor stops). While
echo is expected and no visitor is heard, the microphone is attenuated by `attenuation_db`
(also through pauses in the echo shorter than `release_ms`); with nothing to expect it
passes untouched.

From the assistant's first word: the echo cannot reach the microphone before the far end
has played, and its first 10-20 ms are already explained by the far end (the microphone
holds nothing else), so the path locks before the echo can leak; a visitor who talks
from the first word is not explained by the far end at any lag, so they open the gate
with no acoustic path as with one, and are never learned as echo. A lock whose echo does
not come is dropped (`EchoPathEstimator.refuted`): a chance lock on a visitor repeating
the assistant's word would otherwise hold them under the far end's level (a steady tone's:
for good). The gain is applied at the device rate, ramped over `ramp_ms`. Where the echo
is in doubt (a speaker underflow, a late loop, a step in the played timeline:
`echo_unsure`), the gate expects it anywhere near the path for a while.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

from bridge.audio.echo_analysis import Analysis
from bridge.audio.echo_history import History
from bridge.audio.echo_path import EchoPathEstimator, PathMeasurement
from bridge.audio.echo_unsure import Unsure

log = logging.getLogger("bridge.echo")


class EchoGate:
    """Half-duplex gate driven by a measured echo path, with double-talk pass-through."""

    def __init__(self, rate: int, *, attenuation_db: float = 30.0, margin_db: float = 4.0,
                 hangover_ms: float = 300.0, hold_ms: float = 50.0, release_ms: float = 250.0,
                 floor_dbfs: float = -60.0, echo_floor_dbfs: float = -75.0,
                 tail_db_per_10ms: float = 1.0,
                 noise_margin_db: float = 10.0, noise_rise_db_per_s: float = 3.0,
                 ramp_ms: float = 2.0, check_ms: float = 40.0,
                 unlocked_every: int = 4, unlocked_max: int = 16, confirm: int = 2) -> None:
        self.rate = rate
        self._far = Analysis(rate, 1.5, energy=True)  # the longest lag, the window and the tail
        self._mic = Analysis(rate, 0.5, energy=True)
        arate = self._mic.rate
        self._frame = arate // 100  # 10 ms
        self.path = EchoPathEstimator(arate)
        self.unsure = Unsure(arate)
        self._atten = 10 ** (-attenuation_db / 20)
        self._margin = 10 ** (margin_db / 10)
        self._hangover = int(arate * hangover_ms / 1000)
        self._release = int(arate * release_ms / 1000)
        self._floor = 10 ** (floor_dbfs / 10)  # mean square, full scale 1 (pre-emphasised)
        self._echo_floor = 10 ** (echo_floor_dbfs / 10)  # echo below it is not gated
        self._tail = 10 ** (-tail_db_per_10ms / 10)
        self._back = int(np.ceil(40 / tail_db_per_10ms))  # frames of tail, down to -40 dB
        self._noise_margin = 10 ** (noise_margin_db / 10)
        self._noise_rise = 10 ** (noise_rise_db_per_s / 10 / 100)  # per 10 ms frame
        self._noise = -1.0  # the microphone's floor (minimum statistics); < 0: not yet seen
        self._open_for = 0  # analysis samples the gate stays open without a new visitor frame
        self._heard = 0  # visitor frames heard since the gate last closed
        self._confirm = confirm  # as many, checked: the visitor is present (`_present`)
        self._checked = 0  # of them, frames the far end at no lag explained (a lock held)
        self._ticks = 0
        self._check = int(arate * check_ms / 1000)
        self._check_rho2 = 0.6  # the newest check_ms this much explained: echo
        self._echo_only = 0.8  # the whole window this much explained: the visitor stopped
        self._present_echo_only = 0.95  # as much, while the visitor is present (`_present`)
        self._explained = self.path.lock_rho2  # less may be chance (a short onset), not echo
        self._hold = int(arate * hold_ms / 1000)
        self._quiet_for = 1 << 30  # analysis samples since echo was last expected
        self._ramp = max(1, int(rate * ramp_ms / 1000))
        self.gain = 1.0
        # when to measure the path (`_measure`)
        self._lags = self.path.window + self.path.max_lag  # the far end a measurement reads
        self._min_far = self.path.min_energy
        self._far_silent_at = 0  # microphone count when the far end was last silent
        self._rho2 = 0.0  # what the last measurement explained
        self._suspect = 0.25 * self.path.lock_rho2
        self._mic_level = self._mic_window = 0.0  # the last tick's loudest frame, window
        # before a lock, ticks from a measurement to the next one nothing else calls for:
        # `unlocked_every`, twice as long after each that explained under `_suspect`
        self._unlocked_every, self._unlocked_max = unlocked_every, unlocked_max
        self._gap, self._measured_at = unlocked_every, 0

    def far(self, samples: np.ndarray) -> None:
        if len(samples):
            self._far.push(samples)

    def mark_unsure(self, why: str, late_s: float = 0.0) -> None:
        """The echo may have moved (an underflow, an overflow, a loop `late_s` late)."""
        self.unsure.mark(self._mic.history.count, self.path.locks, why,
                         late=int(late_s * self._mic.rate))

    def near(self, samples: np.ndarray) -> np.ndarray:
        if len(samples) == 0:
            return samples
        n = self._mic.push(samples)
        target = self._decide(n) if n else self.gain
        if target == self.gain:  # no ramp: one multiply (or none)
            return samples if target == 1.0 else (samples * np.float32(target)).astype(np.int16)
        gain = np.full(len(samples), target, dtype=np.float32)
        k = min(self._ramp, len(samples))
        gain[:k] = np.linspace(self.gain, target, k, dtype=np.float32)
        self.gain = target
        return (samples * gain).astype(np.int16)  # |gain| <= 1: no clipping

    def _decide(self, n: int) -> float:
        """The gain for the newest `n` analysis samples of microphone."""
        mic = self._mic.history
        start = mic.count - n
        self.unsure.follow(self._far.history.count, mic.count, self.path.locks)
        grid = _grid(n, self._frame, self._back, self._tail)
        p_mic = self._power(mic, start, grid)
        now = None
        if self._measure(p_mic):
            now = (self.path.measure(self._far.history, mic) if self._open_for > 0
                   else self.path.track(self._far.history, mic))
            self._rho2 = 0.0 if now is None else now.rho2
            self._measured_at = self._ticks
            self._gap = (self._unlocked_every if self._rho2 >= self._suspect
                         else min(2 * self._gap, self._unlocked_max))
        lag, ratio = self.path.lag, self.path.ratio
        if self.path.refuted(self._far.history, mic, self.path.window * self._echo_floor):
            log.debug("echo gate: path lag %s ratio %.4f dropped: no echo came", lag, ratio)
        expected = self._expected(start, grid, now)
        for p in p_mic:  # a few 10 ms frames per tick: the floor follows their minimum
            self._noise = p if self._noise < 0 else min(self._noise * self._noise_rise, p)
        noise = self._noise * self._noise_margin
        floor = max(self._floor, noise)  # what a visitor is louder than
        echo = bool(expected.max() * self._margin > max(self._echo_floor, noise))
        self._quiet_for = 0 if echo else self._quiet_for + n
        heard = int(np.count_nonzero((p_mic > self._margin * expected) & (p_mic > floor)))
        if heard and self.path.lag is not None:
            if self._far_explains_newest():
                heard = 0  # the path moved (an underrun, a lost block): echo, not the visitor
            self._checked += heard
        if heard:  # the visitor
            if self._open_for <= 0 and log.isEnabledFor(logging.DEBUG):
                log.debug("echo gate: visitor heard (mic %s dB, echo expected %s dB, path "
                          "lag %s ratio %.4f, newest %s)", np.round(10 * np.log10(p_mic + 1e-12)),
                          np.round(10 * np.log10(expected + 1e-12)), self.path.lag,
                          self.path.ratio, now)
            # each frame heard holds the gate open longer, up to the hangover: a lone frame
            # (a glitch in the echo path) opens it only briefly; once `confirm` are heard,
            # each holds the whole hangover (`_present`)
            self._heard += heard
            self._open_for = max(self._open_for, self._hangover if self._present() else
                                 min(self._hangover, self._heard * self._hold))
            return 1.0
        echo_only = self._present_echo_only if self._present() else self._echo_only
        if self._open_for > 0 and not (now is not None and now.rho2 >= echo_only):
            self._open_for -= n
            return 1.0
        self._open_for = self._heard = self._checked = 0  # held out, or the window is echo
        if echo or (self.gain < 1.0 and self._quiet_for < self._release):
            return self._atten  # the echo, or a pause in it
        return 1.0

    def _present(self) -> bool:
        """Whether the visitor is judged present: `confirm` frames heard since the gate
        opened that the far end at no lag explained (checked with a path locked: without
        one, an echo path appearing mid-line is heard until a window explains it). Their
        word then holds it open the hangover after its last frame heard unless the window
        is `_present_echo_only` explained: under loud echo a word's weak unvoiced
        consonants ("-cuse" of "excuse", 100-250 ms in) are quieter than the echo, so
        neither heard nor unexplained enough (the window 0.8-0.87 explained), and closing
        on `_echo_only` cut them 12-36 dB (4 runs of 4 on the rig at -6 dB / 40 ms); never
        closing on the window let the echo after the visitor stopped through for the
        whole hangover (-4 dB, tests/unit/test_uplink_backlog.py)."""
        return self._checked >= self._confirm

    def _measure(self, p_mic: np.ndarray) -> bool:
        """Whether to measure the echo path this tick (a search over every lag is three
        8192-point FFTs, most of the gate's CPU; with the path locked and the gate closed,
        `EchoPathEstimator.track` mostly looks only near the lock). Never while the far
        end has been silent over every lag (the measurement would find nothing). Once
        locked: every tick while the gate is open and no visitor is `_present` yet (it
        may close on any measurement), else every other tick (enough to follow the path;
        a present visitor's gate closes only on a window almost wholly echo, a tick late
        at most).
        Before: every tick from the far end's onset until its echo must have arrived (a
        window and the longest lag); while the last measurement explained an eighth of
        the microphone or more; when the newest frame is 3 dB louder than a tick
        ago (a new sound: maybe the first echo) or the window 3 dB louder or quieter (a
        loud sound leaving it may leave only echo); else `unlocked_every` ticks after the
        last measurement, twice as long after each that explained less than `_suspect`, up
        to `unlocked_max` ticks (with no acoustic path, a headset or the rig, these were
        most of the call's measurements)."""
        self._ticks += 1
        level, window = float(p_mic.max()), self._mic.history.energy(self.path.window)
        changed = (level > 2.0 * self._mic_level
                   or not 0.5 * self._mic_window <= window <= 2.0 * self._mic_window)
        self._mic_level, self._mic_window = level, window
        if self._far.history.energy(self._lags) < self._min_far:
            self._far_silent_at = self._mic.history.count
            self._gap = self._unlocked_every
            return False
        if self.path.lag is not None:
            return (self._open_for > 0 and not self._present()) or self._ticks % 2 == 0
        return (changed or self._rho2 >= self._suspect
                or self._mic.history.count - self._far_silent_at <= self._lags
                or self._ticks - self._measured_at >= self._gap)

    def _far_explains_newest(self) -> bool:
        """Whether the far end, at any lag, explains the newest `check_ms` of microphone."""
        newest = self.path.measure(self._far.history, self._mic.history, self._check,
                                   lock=False)
        return newest is not None and newest.rho2 >= self._check_rho2

    def _expected(self, start: int, grid: _Grid, now: PathMeasurement | None) -> np.ndarray:
        """Echo power to expect in each frame of the tick's `grid` from microphone sample
        `start`: the locked path's echo-return ratio times the far end's decaying-peak level
        at its lag; at least what the newest measurement alone explains, its decaying peak
        too (before the path has locked; a second path's echo comes later)."""
        out = grid.zeros
        far = self._far.history
        if self.path.lag is not None:
            self.unsure.path = (self.path.lag, self.path.ratio)
            out = self.path.ratio * self._far_peak(far, start + self.path.lag, grid)
        if self.unsure.active(self._mic.history.count, self.path.locks):
            out = np.maximum(out, self.unsure.expected(far, start, grid.n))
        if now is not None and now.rho2 * self._unnoised() >= self._explained:
            out = np.maximum(out, now.gain2 * self._far_peak(far, start + now.lag, grid))
        return out

    def _unnoised(self) -> float:
        """A measurement's share counted against the microphone less its noise floor (at
        most twice): a fan at -45 dBFS left the first word's echo 0.46 explained."""
        e_m = self._mic_window  # the measuring window's energy, read by `_measure` this tick
        noise = max(self._noise, 0.0) * self.path.window
        return 1.0 if e_m <= 0 else min(2.0, e_m / max(e_m - noise, 0.5 * e_m))

    @staticmethod
    def _power(history: History, start: int, grid: _Grid) -> np.ndarray:
        """The mean square of each frame of the tick from `start`."""
        x = history.span(start, start + grid.n)
        return np.add.reduceat(np.square(x, dtype=np.float64), grid.starts) / grid.lengths

    @staticmethod
    def _far_peak(far: History, start: int, grid: _Grid) -> np.ndarray:
        """The far end's level over each frame, or its decaying tail from up to 100 ms
        earlier if that is higher (the room's reverberation), or the next 10 ms if that
        is higher (the path may have stepped earlier: an underrun, a lost block)."""
        x = far.span(start - grid.before, start + grid.n + grid.after)
        levels = np.add.reduceat(np.square(x, dtype=np.float64), grid.peak_starts) \
            / grid.peak_lengths
        peak = np.maximum.accumulate(levels / grid.decay) * grid.decay
        return np.maximum(peak[grid.back:-1], levels[grid.back + 1:])


class _Grid:
    """A tick of `n` analysis samples as 10 ms frames (about: `n // frame` equal ones), and
    with `back` frames before it and one after it for the far end's decaying peak; the
    same for every tick of that size, so made once."""

    def __init__(self, n: int, frame: int, back: int, tail: float) -> None:
        frames = max(1, n // frame)
        edges = np.arange(frames + 1) * n // frames
        self.n, self.back, self.before, self.after = n, back, back * frame, frame
        self.starts = edges[:-1]
        self.lengths = np.diff(edges).astype(np.float64)
        self.zeros = np.zeros(frames)
        bounds = np.concatenate((np.arange(-back, 0) * frame, edges, [n + frame]))
        self.peak_starts = bounds[:-1] - bounds[0]
        self.peak_lengths = np.diff(bounds).astype(np.float64)
        self.decay = tail ** np.arange(len(bounds) - 1)  # a level decays by tail per frame


# one grid per tick size (and gate shape), made once; a few odd sizes (a stall, a partial
# block) come and go
_grid = functools.lru_cache(maxsize=64)(_Grid)
