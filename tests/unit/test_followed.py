"""`tests.rig.heard.followed`, the rig's judgement of a reply heard whole, on made-up audio:
the sound server's short gaps (a loaded machine) lose nothing; a flush, a cut or faded end
and pieces out of order are lost speech."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.rig.heard import followed

RATE = 16000
BLOCK_MS = 20


def speech(seconds: float) -> np.ndarray:
    """Noise in word-long bursts (no two pieces alike), quiet between them."""
    rng = np.random.default_rng(7)
    x = rng.normal(0, 3000, int(seconds * RATE))
    words = (np.arange(len(x)) // (RATE // 3)) % 4 != 3  # 3 of every 4 thirds of a second
    return np.clip(x * words, -32768, 32767).astype(np.int16)


def silence(ms: float) -> np.ndarray:
    return np.zeros(int(RATE * ms / 1000), np.int16)


def cut(x: np.ndarray, *at_ms: float) -> list[np.ndarray]:
    edges = [0, *(int(RATE * ms / 1000) for ms in at_ms), len(x)]
    return [x[a:b] for a, b in itertools.pairwise(edges)]


def lost_ms(sent: np.ndarray, played: np.ndarray) -> float:
    return followed(sent, np.concatenate([silence(500), played, silence(500)]),
                    RATE).unexplained_ms(BLOCK_MS)


def test_short_gaps_anywhere_lose_nothing() -> None:
    x = speech(4)
    a, b, c, d = cut(x, 150, 1210, 2550)
    assert lost_ms(x, np.concatenate([a, silence(40), b, silence(13), c, silence(140), d])) == 0
    assert lost_ms(x, x) == 0


@pytest.mark.parametrize("harm", ["flush", "tail cut", "faded end", "out of order"])
def test_speech_lost_is_seen(harm: str) -> None:
    x = speech(4)
    a, b, c, d = cut(x, 1010, 1500, 2000)
    played = {"flush": np.concatenate([a, silence(60), c, d]),
              "tail cut": x[:-RATE // 2],
              "faded end": (x * np.linspace(1, 0, len(x)) ** 4).astype(np.int16),
              "out of order": np.concatenate([a, c, b, d])}[harm]
    assert lost_ms(x, played) >= 100
