"""A visitor's first words reach Vapi whole while the assistant speaks, through real
(virtual) devices (the 48 kHz rig, the profile defaults: the echo gate) with a loud
acoustic path (−6 dB, 40 ms).

The assistant (the simulator's tone voice: loud, steady echo, like a stand-in Vapi's)
speaks long words; the visitor says "Excuse me, wait a moment" 1.5 s in (the echo path
locked). Under that echo the weak middle of "excuse" is quieter than the echo: the gate,
judging each 10 ms, took it for echo once the measuring window was mostly echo and closed
again 120-260 ms into the word (3-5 frames of 20 ms reached a stand-in Vapi 12-19 dB
down, 4 runs of 4; here 10-30 ms at -30 dB, 3 runs of 3), so Vapi heard "Ex… me"
and its voice detector fired later. Per 10 ms of "Excuse me" (its first 500 ms, from its
third 10 ms: the arrival is test_echo_barge_in's) the received audio must be within 6 dB
of what an open gate passes. One call: ~9 s with the rig's start.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.devices.conftest import boosted_rig
from tests.e2e.conftest import ProfileBuilder
from tests.echo.test_echo_barge_in import run_call
from tests.rig.pulse import PulseRig
from tests.rig.signals import align, espeak, resample

RATE = 16000  # the wire's (the profile default)
LINE = ("Unfortunately, everybody understands international regulations concerning "
        "administrative responsibilities, undoubtedly")
VISITOR = "Excuse me, wait a moment"
FRAME_MS, WORD_MS = 10, 500
MOST_DOWN_DB = 6.0


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseRig]:
    with boosted_rig(48000, tmp_path_factory.mktemp("echo-word")) as r:
        yield r


def word_frames_db(up: np.ndarray, down: np.ndarray, visitor: np.ndarray) -> np.ndarray:
    """Per `FRAME_MS` of the visitor's first `WORD_MS` that carries their voice (within
    25 dB of its loudest; from the third), how far below what an open gate passes the
    received audio was (dB): open, it holds the visitor and the echo (their levels: the
    received audio fitted over the whole span as the visitor plus what the simulator sent
    at the round trip's lag), closed ~30 dB less."""
    ref = resample(visitor, 48000, RATE).astype(np.float64)
    onset = align(ref, up)
    part = up.copy()
    part[onset:] = 0.0  # before the visitor: the echo alone (gated, but still its shape)
    lag = align(down, part)
    f, n = RATE * FRAME_MS // 1000, RATE * WORD_MS // 1000
    echo = np.zeros(n)
    src = down[max(onset - lag, 0):onset - lag + n]
    echo[n - len(src):] = src
    v, got = ref[:n], up[onset:onset + n]
    (a, b), *_ = np.linalg.lstsq(np.column_stack((v, echo)), got, rcond=None)
    p_v, p_e, p_got = (np.sum(x.reshape(-1, f) ** 2, axis=1) for x in (v, echo, got))
    open_ = a * a * p_v + b * b * p_e
    voiced = p_v > p_v.max() * 10 ** (-25 / 10)
    voiced[:2] = False
    return 10 * np.log10(np.maximum(p_got[voiced], 1.0) / open_[voiced])


def test_the_visitors_first_word_reaches_the_wire_whole_over_the_echo(
        rig: PulseRig, start_sim: Any, profiles: ProfileBuilder, tmp_path: Path) -> None:
    visitor = espeak(VISITOR, 48000, peak_db=-6.0)
    visitor = visitor[int(np.argmax(np.abs(visitor) > 300)):]
    lines = [{"say": LINE, "wait": False, "endCall": True}]
    with rig.loop_speaker_into_mic(gain_db=-6.0, delay_ms=40):
        call = run_call(rig, start_sim, profiles, tmp_path, "word", lines, visitor, None,
                        after_s=1.5, speech="tones")
    offset = call["visitor_from_first_word"]
    frames = word_frames_db(call["up"], call["down"], visitor)
    report = (f"\nvisitor began {offset:.2f} s into the assistant's line; their first "
              f"{WORD_MS} ms per {FRAME_MS} ms frame, dB from the word's level: "
              f"{np.round(frames).astype(int).tolist()}")
    print(report)
    assert 0.5 <= offset <= 2.0, f"the visitor talked over the assistant{report}"
    assert frames.min() >= -MOST_DOWN_DB, report
