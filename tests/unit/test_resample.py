"""The live resampler's latency is what `held_ms` says, and a reset forgets the old audio.

The uplink and the recording date audio by `held_ms` (what the resampler still holds):
if its output were later than that, a recording's two legs would drift apart by the
difference; a reset that kept history would play the cut reply's tail after a barge-in."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.audio.resample import Resampler

PAIRS = [(16000, 48000), (48000, 16000), (8000, 44100), (44100, 8000), (24000, 48000)]


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_a_step_comes_out_when_held_ms_says(src: int, dst: int) -> None:
    """Fed 20 ms at a time, a step at input time 0.5 s comes out at output time 0.5 s, and
    it comes out in the call where the input fed so far, less `held_ms`, passes 0.5 s."""
    r = Resampler(src, dst)
    x = np.zeros(src, np.int16)
    x[src // 2:] = 10000
    block, fed, out = src // 50, 0, []
    seen_at = None
    for i in range(0, len(x), block):
        out.append(r.process(x[i:i + block]))
        fed += block
        if seen_at is None and (np.concatenate(out) > 5000).any():
            seen_at = fed / src - r.held_ms / 1000  # input time the output reached
    y = np.concatenate(out)
    onset = int(np.argmax(y > 5000)) / dst
    assert onset == pytest.approx(0.5, abs=0.5e-3), "the output is time-aligned"
    assert seen_at is not None and 0.5 <= seen_at <= 0.5 + 0.021, \
        "the step appears as soon as the un-held output reaches it"
    assert 9.0 <= r.held_ms <= 31.0


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_a_reset_forgets_what_came_before(src: int, dst: int) -> None:
    r = Resampler(src, dst)
    r.process(np.full(src // 10, 20000, np.int16))  # a loud reply, partly held back
    r.reset()
    after = np.concatenate([r.process(np.zeros(src // 50, np.int16)) for _ in range(10)])
    assert len(after) and int(np.abs(after).max()) <= 1, "nothing of the cut reply"
    assert r.held_ms <= 31.0
