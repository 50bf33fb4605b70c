"""The playout buffer's floor while playing, on a simulated clock (50 ms chunks about every
50 ms, as the simulator's Vapi-like chunking and Vapi send them; a 20 ms device pull).

Traced in a device echo call: the floor the jitter estimate set was the lateness seen
(24 ms), the low-water mark sat right on it through the near-silence before the echo, and
a chunk that late mid-word found less than a block queued: an audible underrun. A chunk as
late as the worst seen must find a whole block to pull."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.audio.playout import PlayoutBuffer, PlayoutSettings

RATE = 16000
BLOCK = 320  # a 20 ms pull


def bed(ms: float) -> np.ndarray:
    return (np.arange(int(ms * RATE / 1000)) % 3 - 1).astype(np.int16)  # |x| <= 1


def word(ms: float) -> np.ndarray:
    return np.full(int(ms * RATE / 1000), 8000, np.int16)


def run(buf: PlayoutBuffer, chunks: list[tuple[float, np.ndarray]], pulls: list[float],
        retarget: dict[float, tuple[float, float]] | None = None) -> None:
    """Writes and pulls in time order (a write first at the same instant)."""
    events = sorted([(t, 0, i) for i, (t, _) in enumerate(chunks)]
                    + [(t, 1, -1) for t in pulls])
    out = np.empty(BLOCK, np.int16)
    for t, kind, i in events:
        if kind == 0:
            if retarget and t in retarget:
                buf.set_target_ms(*retarget[t])
            buf.write(chunks[i][1])
        else:
            buf.read_into(out)


@pytest.mark.parametrize("late_ms", [10, 20, 30, 40])
@pytest.mark.parametrize("phase_ms", [0, 7, 13])
def test_a_chunk_as_late_as_the_lateness_seen_finds_a_block_queued(late_ms: int,
                                                                   phase_ms: int) -> None:
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=30, fade_ms=0))
    buf.set_target_ms(30, late_ms)  # the lateness seen so far
    # 2 s of the near-silence bed (the floor is kept there), then 2 s of speech in which
    # one chunk comes `late_ms` late and the next on time
    chunks = [(50 * k + (late_ms if k == 60 else 0), bed(50) if k < 40 else word(50))
              for k in range(80)]
    run(buf, chunks, [phase_ms + 20 * k for k in range(190)])  # stop before the end
    stats = buf.stats()
    assert stats.audible_underruns == 0, stats
    assert stats.stretched_ms <= 60, "no more silence held back than the floor needs"


@pytest.mark.parametrize("phase_ms", [0, 13])
def test_a_refill_after_running_dry_is_not_deepened_again(phase_ms: int) -> None:
    """As traced at the start of an echo call: two chunks start playback, the third comes
    late as the jitter estimate raises the target to 160 ms; the near-silence runs dry and
    playback waits for the new target. The refilled queue never falls near the floor, yet
    the low-water marks from before the refill held back 60 ms more of silence, a delay
    the whole call then carried."""
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=60, fade_ms=0))
    chunks = [(0.0, bed(50)), (50.0, bed(47)), (143.0, bed(90)), (194.0, bed(60))]
    chunks += [(246.0 + 52 * k, bed(52)) for k in range(40)]
    run(buf, chunks, [phase_ms + 20 * k for k in range(110)], {143.0: (160, 51)})
    stats = buf.stats()
    assert stats.underruns == 1, "the start ran dry (the case this is about)"
    assert stats.stretched_ms == 0, stats
