"""What the echo gate's CPU goes on: its searches of every lag for the echo path (three
8192-point FFTs each, most of its cost), counted on the synthetic rooms of
test_echo_gate.py. Neither with no acoustic path (a headset; the rig) nor with a path
locked does it search on more ticks than it needs to."""

from __future__ import annotations

import numpy as np

from bridge.audio.echo_gate import EchoGate
from tests.unit.test_echo_gate import BLOCK, FAR, FIRST_WORD, RATE, VISITOR, room, run

NOISE = np.random.default_rng(7).normal(0.0, 3.0, len(FAR))


def searches(gain_db: float | None, visitor: bool) -> tuple[int, int]:
    """(searches of every lag, ticks) from 1.5 s into the assistant's line to its end."""
    mic = room(FAR, gain_db, 40, VISITOR if visitor else None, FIRST_WORD + RATE)
    mic = np.clip(mic + NOISE, -32768, 32767).astype(np.int16)
    gate = EchoGate(RATE)
    start = FIRST_WORD + 3 * RATE // 2
    run(gate, FAR[:start], mic[:start])
    before = gate.path.searches
    run(gate, FAR[start:], mic[start:])
    return gate.path.searches - before, (len(FAR) - start) // BLOCK


def test_with_no_acoustic_path_every_lag_is_searched_on_few_ticks() -> None:
    """The assistant talking, no echo, the visitor quiet or talking over them: a search
    that finds nothing is followed by the next one later and later (was: every 4th tick
    at least, and on most of the visitor's syllables)."""
    for visitor, most in ((False, 1 / 8), (True, 2 / 7)):  # was 57 and 89 of 225 ticks
        n, ticks = searches(None, visitor)
        assert n <= most * ticks, f"{n} searches in {ticks} ticks (visitor: {visitor})"


def test_with_a_path_locked_every_lag_is_searched_on_few_ticks() -> None:
    """A steady path locked, the visitor quiet: the lags near the lock are followed and
    every lag searched less and less often while it stays (was: every 8th tick)."""
    n, ticks = searches(-6.0, False)  # was 28 of 225 ticks
    assert n <= ticks // 16, f"{n} searches in {ticks} ticks"
