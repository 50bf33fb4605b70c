"""A reply as the simulator said it and as the speaker played it: the line, where its speech
is, and how alike the two are (tests of fast delivery, through `file:` or real devices)."""

from __future__ import annotations

import numpy as np

from tests.rig.signals import align_and_correlate

LINE = ("Welcome to the front desk. The cafeteria is on the second floor, the library is "
        "on the third floor, and the garden is open until six in the evening.")


def speech_blocks(x: np.ndarray, rate: int) -> np.ndarray:
    """Which 10 ms blocks hold speech (above -40 dBFS)."""
    win = rate // 100
    n = len(x) // win
    blocks = x[: n * win].astype(np.float64).reshape(n, win)
    return 10 * np.log10(np.mean(blocks ** 2, axis=1) / 32768.0 ** 2 + 1e-12) > -40


def the_reply(said: np.ndarray, rate: int) -> np.ndarray:
    """The assistant's line within what the simulator sent: first to last speech block."""
    loud = np.flatnonzero(speech_blocks(said, rate))
    win = rate // 100
    return said[loud[0] * win:(loud[-1] + 1) * win]


def compare(reply: np.ndarray, heard: np.ndarray, rate: int) -> tuple[float, float, float]:
    """(correlation of the whole reply, seconds of speech in it, seconds of speech heard)."""
    _, corr = align_and_correlate(reply, heard, rate)
    return (corr, speech_blocks(reply, rate).sum() / 100,
            speech_blocks(heard, rate).sum() / 100)
