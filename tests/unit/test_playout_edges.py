"""Every edge the playout makes is a fade, whatever the block boundaries: a queue that runs
dry a few samples into a block, or exactly at a block's end (20 ms chunks against 20 ms
blocks make that common), a stream's end, a flush with little queued, and the restart
after a gap. A step in the level is a click: judged as the largest second difference of
the output against a 1 kHz tone's own, at 48 kHz and the default 8 ms fade."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.audio.playout import PlayoutBuffer, PlayoutSettings

RATE = 48000
BLOCK = 960  # 20 ms
FADE = 8 * RATE // 1000
LEVEL = 16000.0
# (a phase that puts every block boundary at 84 % of full level, not at a zero crossing)
TONE = LEVEL * np.sin(2 * np.pi * 1000 * np.arange(RATE) / RATE + 1.0)
OWN = float(np.abs(np.diff(TONE, 2)).max())  # the tone's own bend: 274 at this level
# the steepest fade allowed here (8 samples from full level) bends up to ~8x the tone's own;
# a step from full level to a quarter of it is ~45x, to nothing ~60x
CLICK = 10.0


def tone(start: int, n: int) -> np.ndarray:
    """The tone's samples `start` to `start + n`; from 0, rising out of silence over 2 ms
    (as a stream from Vapi starts: its first sample plays as it is)."""
    x = TONE[start:start + n].copy()
    if start == 0:
        x[:96] *= np.linspace(0.0, 1.0, 96)
    return np.round(x).astype(np.int16)


def played(buf: PlayoutBuffer, blocks: int, block: int = BLOCK) -> np.ndarray:
    out = np.empty(block, dtype=np.int16)
    pieces = []
    for _ in range(blocks):
        buf.read_into(out)
        pieces.append(out.copy())
    return np.concatenate(pieces).astype(float)


def bend(x: np.ndarray) -> float:
    return float(np.abs(np.diff(x, 2)).max()) / OWN


# samples left for the last block: none (dry exactly at a block's end), a few, under a fade
LEFT = [0, 1, 8, 37, FADE // 2, FADE - 1, FADE, 700]


@pytest.mark.parametrize("left", LEFT)
@pytest.mark.parametrize("ending", [False, True], ids=["underrun", "stream-end"])
def test_running_out_anywhere_in_a_block_fades(left: int, ending: bool) -> None:
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=20))
    n = 3 * BLOCK + left
    buf.write(tone(0, n))
    if ending:
        buf.end_stream()
    out = played(buf, 5)
    assert bend(out) < CLICK, f"a click where {left} samples were left for the last block"
    assert not out[n + FADE:].any(), "silence after the fade"


@pytest.mark.parametrize("left", LEFT)
def test_a_flush_with_little_queued_fades_to_silence(left: int) -> None:
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=20))
    buf.write(tone(0, 2 * BLOCK + left))
    first = played(buf, 2)
    buf.flush()
    out = np.concatenate([first, played(buf, 2)])
    assert bend(out) < CLICK, f"a click at a flush with {left} samples queued"
    assert not out[2 * BLOCK + FADE:].any()


@pytest.mark.parametrize("left", [1, 8, 37, FADE - 1, FADE, 700])
def test_the_restart_after_a_gap_fades_in(left: int) -> None:
    """After an underrun the next audio starts with a fade in, however little of it the
    first block holds."""
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=20))
    buf.write(tone(0, 2 * BLOCK))
    out = [played(buf, 3)]  # ran dry at a block's end, then a silent block
    buf.write(tone(2 * BLOCK, BLOCK + left))  # the late chunk: a block and `left` samples
    out.append(played(buf, 3))
    joined = np.concatenate(out)
    assert bend(joined) < CLICK


SHORT = 240  # 5 ms blocks (audio.block_ms may be 5): shorter than the 8 ms fade


@pytest.mark.parametrize("left", [0, 37, SHORT - 1])
@pytest.mark.parametrize("how", ["underrun", "stream-end", "flush"])
def test_a_fade_out_goes_on_into_the_next_short_blocks(left: int, how: str) -> None:
    """With device blocks shorter than a fade, the fade out stopped at the block's end and
    the next block stepped to silence."""
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=5))
    n = 8 * SHORT + left
    buf.write(tone(0, n if how != "flush" else RATE // 2))
    if how == "stream-end":
        buf.end_stream()
    out = [played(buf, 8, SHORT)]
    if how == "flush":
        buf.flush()
    out.append(played(buf, 6, SHORT))
    joined = np.concatenate(out)
    assert bend(joined) < CLICK, f"a click: {how}, {left} samples into the last block"
    end = (n if how != "flush" else 8 * SHORT) + FADE
    assert not joined[end:].any(), "silence after the fade"
