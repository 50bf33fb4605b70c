"""The echo gate with a steady tone for the far end (a periodic far end matches the
microphone at a lag in every period): a visitor talking over it is heard at once, and the
tone's echo alone is held down. Fed in 20 ms blocks, as in test_echo_gate."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.audio.echo_gate import EchoGate
from tests.rig.heard import heard_after_ms
from tests.unit.test_echo_gate import RATE, energy, room, run, speechlike


def tone(seconds: float, hz: float = 440.0, peak: float = 12000.0) -> np.ndarray:
    """The simulator's tone line: a sine at about -9 dBFS."""
    return (peak * np.sin(2 * np.pi * hz * np.arange(int(seconds * RATE)) / RATE)).astype(
        np.int16)


def test_a_visitor_repeating_the_assistant_is_heard_over_the_next_tone() -> None:
    # no acoustic path; the assistant says a word, the visitor says it again in the same
    # voice (espeak on both sides of a rig) 600 ms later; 1.5 s on, the assistant plays a
    # tone and the visitor talks over it. The repeated word once locked as the echo path
    # (echo-return ratio ~0.5, at the word's lag), and the lock, never contradicted by an
    # echo, held the visitor under the tone's level: they never reached the call
    word = speechlike(0.4, seed=3)
    far = np.zeros(int(7.5 * RATE), np.int16)
    far[RATE // 2:RATE // 2 + len(word)] = word
    far[3 * RATE:] = tone(4.5)
    visitor = speechlike(2.0, seed=2)
    at = int(4.5 * RATE)
    mic = room(far, None, 0, visitor, at)
    said_again = int(1.1 * RATE)
    mic[said_again:said_again + len(word)] = word
    took = heard_after_ms(run(EchoGate(RATE), far, mic), visitor, at, RATE)
    assert took <= 20, f"the visitor over the tone was heard after {took} ms"


@pytest.mark.parametrize("hz", [440.0, 1000.0])
def test_a_tone_echo_is_held_down_and_a_visitor_over_it_heard(hz: float) -> None:
    far = np.concatenate((np.zeros(RATE // 2, np.int16), tone(5.0, hz)))
    echo = room(far, -10.0, 30)
    out = run(EchoGate(RATE), far, echo)
    down = 10 * np.log10(energy(echo[:len(out)]) / max(energy(out), 1.0))
    assert down >= 25, f"the tone's echo only {down:.1f} dB down"
    visitor = speechlike(2.0, seed=2)
    at = int(2.5 * RATE)
    took = heard_after_ms(run(EchoGate(RATE), far, room(far, -10.0, 30, visitor, at)),
                          visitor, at, RATE)
    # as over speech (test_echo_gate): their syllable's rise must clear the echo first
    assert took <= 150, f"the visitor over the tone's echo was heard after {took} ms"
