"""The rig tests' piecewise measure of "the speech came back whole": a playout that re-timed
the speech between words still scores ~1 in every piece (one global alignment does not), a
gap inside a word scores low where it fell, and another sound scores low everywhere."""

from __future__ import annotations

import numpy as np

from tests.rig.signals import align_and_correlate, piece_correlations, piece_matches

RATE = 16000


def words() -> np.ndarray:
    """Five 300 ms bursts of noise ("words") with 150 ms pauses, after 200 ms of silence."""
    rng = np.random.default_rng(3)
    parts = [np.zeros(RATE // 5)]
    for _ in range(5):
        parts += [rng.standard_normal(RATE * 3 // 10) * 6000, np.zeros(RATE * 3 // 20)]
    return np.concatenate(parts).astype(np.int16)


def test_speech_re_timed_between_words_scores_whole() -> None:
    ref = words()
    pause = RATE // 5 + RATE * 3 // 10 + RATE // 20  # inside the first pause
    played = np.concatenate([np.zeros(800, np.int16), ref[:pause],
                             np.zeros(RATE // 50, np.int16), ref[pause:]])  # 20 ms held back
    _, whole = align_and_correlate(ref, played, RATE)
    pieces = piece_correlations(ref, played, RATE)
    assert whole < 0.9, "one alignment scores the re-timing as a loss"
    assert min(pieces) > 0.99


def test_silence_held_back_before_the_reply_moves_all_that_follows() -> None:
    """A listener's buffer that held back 400 ms of silence between the visitor's words
    and the reply: the reply's pieces are found 400 ms later than the visitor's, whole."""
    visitor, reply = words(), words()[::-1].copy()
    ref = np.concatenate([visitor, np.zeros(RATE, np.int16), reply])
    held = RATE * 2 // 5
    played = np.concatenate([np.zeros(800, np.int16), visitor,
                             np.zeros(RATE + held, np.int16), reply])
    matches = piece_matches(ref, played, RATE)
    assert min(score for score, _ in matches) > 0.99
    lags = sorted({lag for _, lag in matches})
    assert lags == [800, 800 + held], "each utterance at its own lag"


def test_words_said_twice_are_each_found_in_their_own_place() -> None:
    """An echo assistant repeats the visitor's words sample for sample, and the playout
    skipped 20 ms of silence between the two. Where the two copies' levels differ between
    the reference and the recording (here 1.0/0.8 against 0.8/1.0), one global alignment
    puts the visitor's words on the echo's place: that scores higher than either copy at
    its own lag, and the echo's pieces then score ~0 (as a rehearsal's listen test did)."""
    visitor = words()
    quiet = (visitor * 0.8).astype(np.int16)
    ref = np.concatenate([visitor, np.zeros(RATE, np.int16), quiet])
    skip = RATE // 50
    played = np.concatenate([np.zeros(RATE, np.int16), quiet,
                             np.zeros(RATE - skip, np.int16), visitor])
    matches = piece_matches(ref, played, RATE)
    assert min(score for score, _ in matches) > 0.99
    assert sorted({lag for _, lag in matches}) == [RATE - skip, RATE]


def test_a_gap_inside_a_word_scores_low_where_it_fell() -> None:
    ref = words()
    played = ref.copy()
    cut = RATE // 5 + RATE * 9 // 20 + RATE // 10  # 100 ms into the second word
    played[cut:cut + RATE // 10] = 0
    pieces = piece_correlations(ref, played, RATE)
    assert sum(c < 0.9 for c in pieces) == 1
    assert sorted(pieces)[1] > 0.99


def test_another_sound_scores_low_everywhere() -> None:
    ref = words()
    other = (np.random.default_rng(9).standard_normal(len(ref)) * 6000).astype(np.int16)
    assert max(piece_correlations(ref, other, RATE)) < 0.2
