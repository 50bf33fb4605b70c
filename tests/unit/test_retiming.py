"""The echo tests' judgement of "the speech came back whole, only re-timed"
(`tests.rig.retiming`): what a playout buffer may do passes wherever it falls, what loses,
repeats or reorders speech fails wherever it falls. The speech is synthetic (harmonic vowels
at a steady pitch, so a lag a pitch period away also fits, and noise consonants), through
the µ-law wire and back as the echo test hears it."""

from __future__ import annotations

import audioop

import numpy as np
import pytest

from tests.rig.retiming import retimed_whole
from tests.rig.signals import resample

RATE = 16000
LEAD = 0.3  # s of silence before the echo in the "recording"


def speech(seed: int = 5) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Five words of one to three syllables, and where each vowel is (s)."""
    rng = np.random.default_rng(seed)
    parts, vowels, at = [np.zeros(RATE // 5)], [], 0.2
    for _ in range(5):
        for _ in range(int(rng.integers(1, 4))):
            if rng.random() < 0.5:  # a fricative
                hiss = np.diff(rng.standard_normal(RATE // 25 + 1)) * 900
                parts.append(hiss)
                at += len(hiss) / RATE
            n = int(rng.uniform(0.14, 0.24) * RATE)
            f0 = rng.uniform(105, 125) * (1 + 0.04 * np.linspace(-1, 1, n))
            phase = 2 * np.pi * np.cumsum(f0) / RATE
            formants = rng.uniform(300, 900), rng.uniform(1000, 2500)
            vowel = np.zeros(n)
            for k in range(1, 30):
                f = k * f0.mean()
                if f < 3400:
                    gain = sum(np.exp(-((f - fm) / 150) ** 2) for fm in formants) + 0.05
                    vowel += gain * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
            edge = np.minimum(1, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.015 * RATE))
            parts.append(vowel / np.abs(vowel).max() * 9000 * edge)
            vowels.append((at + 0.02, at + n / RATE - 0.02))
            at += n / RATE
        pause = np.zeros(int(rng.uniform(0.12, 0.25) * RATE))
        parts.append(pause)
        at += len(pause) / RATE
    return np.concatenate(parts).astype(np.int16), vowels


def through_the_wire(x: np.ndarray) -> np.ndarray:
    """µ-law at 8 kHz and back, as the echo comes back."""
    narrow = resample(x, RATE, 8000)
    coded = audioop.ulaw2lin(audioop.lin2ulaw(narrow.astype("<i2").tobytes(), 2), 2)
    return resample(np.frombuffer(coded, "<i2"), 8000, RATE)


SPEECH, VOWELS = speech()
REFERENCE = resample(resample(SPEECH, RATE, 8000), 8000, RATE)  # what the echo can return
PLAYED = np.concatenate([np.zeros(int(LEAD * RATE), np.int16), through_the_wire(SPEECH)])
FADE = RATE * 8 // 1000
MS = RATE // 1000


def gap(x: np.ndarray, at_s: float, ms: float, dropped_ms: float = 0.0) -> np.ndarray:
    """The playout ran dry at `at_s` of the speech: faded out, `ms` of silence, faded in —
    having lost `dropped_ms` of speech there first, where the defect is one."""
    a, d = int((LEAD + at_s) * RATE), int(dropped_ms * MS)
    head, tail = x[:a].astype(np.float64), x[a + d:].astype(np.float64)
    head[-FADE:] *= np.linspace(1, 0, FADE)
    tail[:FADE] *= np.linspace(0, 1, FADE)
    return np.concatenate([head, np.zeros(int(ms * MS)), tail]).astype(np.int16)


def mid_vowels(count: int = 4) -> list[float]:
    return [round(a + (b - a) * f, 3) for (a, b), f in
            zip(VOWELS[:: max(1, len(VOWELS) // count)], (0.3, 0.5, 0.7) * count, strict=False)]


def test_the_echo_as_it_came_back_is_whole() -> None:
    judged = retimed_whole(REFERENCE, PLAYED, RATE)
    assert not judged.problems and not judged.changes, judged
    assert judged.start_s == pytest.approx(LEAD + 0.2, abs=0.045)


@pytest.mark.parametrize("at_s", mid_vowels())
@pytest.mark.parametrize("ms", [3, 9, 25, 120])
def test_a_gap_inside_a_vowel_is_re_timing(at_s: float, ms: float) -> None:
    judged = retimed_whole(REFERENCE, gap(PLAYED, at_s, ms), RATE)
    assert not judged.problems, judged
    assert [round(m) for _, m in judged.gaps_in_speech] == [ms], judged


def test_two_short_gaps_and_a_pause_held_back_and_shortened() -> None:
    (a1, b1), (a2, _) = VOWELS[1], VOWELS[4]
    played = gap(gap(PLAYED, a2 + 0.05, 3), (a1 + b1) / 2, 3)
    silent = np.flatnonzero(np.convolve(SPEECH != 0, np.ones(140 * MS), "valid") == 0)
    cut = int(LEAD * RATE) + int(silent[silent > RATE // 2][0]) + 40 * MS  # in a pause
    played = np.concatenate([played[:cut], np.zeros(20 * MS, np.int16), played[cut:]])
    judged = retimed_whole(REFERENCE, played, RATE)
    assert not judged.problems, judged
    assert sorted(round(m) for _, m in judged.changes) == [3, 3, 20], judged
    shortened = np.concatenate([PLAYED[:cut], PLAYED[cut + 60 * MS:]])
    judged = retimed_whole(REFERENCE, shortened, RATE)
    assert not judged.problems and [round(m) for _, m in judged.changes] == [-60], judged


@pytest.mark.parametrize("at_s", mid_vowels())
@pytest.mark.parametrize(("dropped", "ms"), [(20, 20), (30, 30), (40, 49), (100, 130)])
def test_speech_lost_in_a_gap_is_lost_whatever_the_gap(at_s: float, dropped: float,
                                                       ms: float) -> None:
    judged = retimed_whole(REFERENCE, gap(PLAYED, at_s, ms, dropped), RATE)
    assert judged.problems, judged


@pytest.mark.parametrize("at_s", mid_vowels())
def test_speech_cut_out_repeated_or_replaced_fails(at_s: float) -> None:
    a = int((LEAD + at_s) * RATE)
    for played in (np.concatenate([PLAYED[:a], PLAYED[a + 10 * MS:]]),  # 10 ms cut out
                   np.concatenate([PLAYED[:a], PLAYED[a - 20 * MS:a], PLAYED[a:]])):  # twice
        judged = retimed_whole(REFERENCE, played, RATE)
        assert judged.problems, judged
    other = np.random.default_rng(9).standard_normal(len(PLAYED)) * 3000
    assert retimed_whole(REFERENCE, other.astype(np.int16), RATE).problems
