"""The default echo control (the gate with its look-back) on a synthetic room: a visitor's
word over the assistant's echo passes from its soft start, not from the 10 ms that opened
the gate, and the echo alone stays held down. Fed in 20 ms blocks as the uplink feeds
them; what comes out may be shorter than what went in (held back) or longer (let go)."""

from __future__ import annotations

import numpy as np

from bridge.audio.echo import make_echo_control
from tests.unit.test_echo_gate import BLOCK, FAR, RATE, energy, room, speechlike


def run(far: np.ndarray, mic: np.ndarray) -> np.ndarray:
    control = make_echo_control("gate", RATE)
    assert control is not None
    out = []
    for i in range(0, len(mic) - BLOCK + 1, BLOCK):
        control.far(far[i:i + BLOCK])
        out.append(control.near(mic[i:i + BLOCK]))
    got = np.concatenate(out)
    assert got.dtype == np.int16 and len(got) <= len(mic)
    return got


def lost_ms(out: np.ndarray, word: np.ndarray, at: int) -> int:
    """ms of `word` (at `at` in the microphone) cut before the output carries it (5 ms
    within 10 dB), counted from its soft start, where it is 30 dB below its peak."""
    f = RATE // 200
    power = np.mean(word[: len(word) // f * f].astype(np.float64).reshape(-1, f) ** 2, axis=1)
    soft = int(np.argmax(power > power.max() * 10 ** (-30 / 10))) * f
    for k in range(soft, len(word) - f, f):  # once the gate opened, out is on the mic's clock
        v, o = word[k:k + f].astype(np.float64), out[at + k:at + k + f].astype(np.float64)
        if np.dot(o, v) / np.dot(v, v) >= 10 ** (-10 / 20):
            return (k - soft) * 1000 // RATE
    return 1000


def test_words_over_the_echo_pass_from_their_soft_start() -> None:
    # five words (Hann syllables, 0.5 s, 0.4 s apart: the gate closes between them) over
    # the assistant's line through a -6 dB loop: the gate opened where each rose 4 dB over
    # the echo, and their first 5-35 ms before that were cut 30 dB
    mic = room(FAR, -6.0, 40)
    words = []
    for j, seed in enumerate((4, 5, 6, 8, 9)):
        word = speechlike(0.5, seed=seed)
        at = RATE // 2 + int((1.0 + 0.9 * j) * RATE) + 7 * RATE // 1000
        mic[at:at + len(word)] = np.clip(mic[at:at + len(word)] + word.astype(np.int32),
                                         -32768, 32767)
        words.append((word, at))
    out = run(FAR, mic)
    lost = [lost_ms(out, word, at) for word, at in words]
    assert max(lost) <= 5, f"the words' first {lost} ms were cut"


def test_the_echo_alone_stays_held_down() -> None:
    mic = room(FAR, -6.0, 40)
    out = run(FAR, mic)
    down = 10 * np.log10(energy(mic[:len(out)]) / max(energy(out), 1.0))
    assert down >= 25, f"the echo only {down:.1f} dB down"
