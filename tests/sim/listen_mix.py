"""What a listener of the simulator's listen stream must have got, by the mix's own record
(`bridge.sim.listenmix.ListenHub`; the test API's `listen` in `/_sim/calls/{id}`): all the
stream carried from its joining on, and, with the mix's holes taken out, the uplink."""

from __future__ import annotations

from typing import Any

import numpy as np


def assert_heard_to_the_end(heard: int, mix: dict[str, Any], rate: int,
                            listener: int = 0) -> None:
    """`heard` stereo samples (a listener's WAV, or its bytes / 4) are every sample the
    stream carried from the listener's joining to the call's end: a listener that stopped
    early, mid-word, is short by what it missed (its words still correlate with the legs,
    and its start still tells when it joined)."""
    owed = mix["emitted"] - mix["joined"][listener]
    assert heard == owed, (
        f"the listener got {heard} samples of the {owed} the stream carried after it joined: "
        + (f"it stopped {(owed - heard) / rate:.2f} s early" if heard < owed
           else f"{(heard - owed) / rate:.2f} s more than was sent"))


def in_holes(n: int, holes: list[list[int]], joined: int) -> tuple[np.ndarray, int]:
    """Which of a listener's `n` samples (its first the stream's `joined`) are silence the
    mix put where the uplink was late (the mix's `holes`); how many holes reach them."""
    mask = np.zeros(n, dtype=bool)
    count = 0
    for pos, length in holes:
        lo, hi = max(0, pos - joined), min(n, pos + length - joined)
        if hi > lo:
            mask[lo:hi] = True
            count += 1
    return mask, count


def without_holes(x: np.ndarray, holes: list[list[int]], joined: int
                  ) -> tuple[np.ndarray, tuple[int, int]]:
    """`x` (a listener's customer channel) without the mix's holes; (how many holes,
    samples) taken out."""
    mask, count = in_holes(len(x), holes, joined)
    return x[~mask], (count, int(mask.sum()))
