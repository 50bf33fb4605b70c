"""A reply Vapi sent whole, ahead of real time, is still playing when the visitor speaks.

Vapi's `speech-update stopped` came as its last byte was sent, so to Vapi the assistant is
silent: the visitor's speech is a turn of their own, not an interruption (no
`user-interrupted`), and Vapi answers it. The rest of the old reply, still queued at the
speaker, must not play on over them and hold the answer back behind it (it did: 5.9 s of an
8 s line, the answer heard that much after Vapi sent it). The simulator sends each reply
whole (`downlink_speed` inf) and says it stopped at once; its voice detector hears the
visitor of the `file:` microphone. Measured on the speaker's own file (the `file:` output,
clocked in real time) against when the simulator began sending each reply.

The visitor's speech is a turn to Vapi whatever it says, so the old reply stops at their
first words (a user transcript partial, fault `user-partials`: Vapi's transcriber sends them
about every 0.48 s), not at the answer's start: there, all they said and Vapi's time to
answer played over them (the 1 s of voice and the 0.6 s of endpointing here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tests.e2e.conftest import ProfileBuilder, run_bridge, visitor_wav
from tests.rig.signals import read_wav

RATE = 16000
OLD_HZ, ANSWER_HZ = 600, 900
OLD_MS, ANSWER_MS = 8000, 600


def tone_blocks(x: np.ndarray, hz: int) -> np.ndarray:
    """Which 10 ms blocks hold the tone `hz` (its share of the block's power over half)."""
    win = RATE // 100
    n = len(x) // win
    blocks = x[: n * win].astype(np.float64).reshape(n, win)
    t = np.arange(win) / RATE
    ref = np.exp(-2j * np.pi * hz * t)
    power = np.abs(blocks @ ref) ** 2 * 2 / win
    total = np.sum(blocks ** 2, axis=1)
    return (total > win * 300.0 ** 2) & (power > 0.5 * total)


def span(x: np.ndarray, hz: int) -> tuple[float, float]:
    """(first, last) second the tone is heard in `x`."""
    on = np.flatnonzero(tone_blocks(x, hz))
    assert len(on), f"no {hz} Hz tone"
    return on[0] / 100, (on[-1] + 1) / 100


def test_the_answer_to_a_visitor_over_a_reply_sent_whole_is_not_held_behind_it(
        start_sim: Any, profiles: ProfileBuilder, tmp_path: Path) -> None:
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump([
        {"tone": OLD_HZ, "ms": OLD_MS},  # the first message, sent whole
        {"tone": ANSWER_HZ, "ms": ANSWER_MS, "endCall": True}]))  # after the visitor's turn
    sim = start_sim(assistant=f"script:{script}", downlink_speed=float("inf"),
                    faults=("user-partials",))
    visitor, out = tmp_path / "visitor.wav", tmp_path / "speaker.wav"
    visitor_wav(visitor, bursts=1)  # 1 s of voice from 0.5 s into the call
    profile = profiles.write(sim.base_url, name="stale-reply", assistant={"overrides": {}},
                             call={"max_duration_seconds": 20},
                             audio={"input": f"file:{visitor}", "output": f"file:{out}"})
    result = run_bridge("run", "--profile", str(profile))
    assert result.returncode == 0, result.stderr
    call = sim.only_call()
    assert not any(e["event"].get("type") == "user-interrupted" for e in call["eventsSent"])
    old_sent, answer_sent = (e["at"] for e in call["eventsSent"]  # each sent whole then
                             if e["event"].get("type") == "speech-update"
                             and e["event"].get("role") == "assistant"
                             and e["event"].get("status") == "started")
    began, words = (next(e["at"] for e in call["eventsSent"]
                         if e["event"].get("role") == "user" and e["event"].get("type") == kind)
                    for kind in ("speech-update", "transcript"))
    heard, rate = read_wav(out)
    assert rate == RATE
    (old_on, old_off), (answer_on, answer_off) = span(heard, OLD_HZ), span(heard, ANSWER_HZ)
    held_back = (answer_on - old_on) - (answer_sent - old_sent)
    over = (old_off - old_on) - (words - old_sent)  # on the old reply's clock
    print(f"\nold reply heard {old_off - old_on:.2f} of {OLD_MS / 1000:.2f} s, {over:.2f} s "
          f"of it after the visitor's first words were sent; the answer heard "
          f"{held_back:.2f} s after it was sent (on the old reply's clock)\n"
          f"{result.stderr.strip()}")
    assert old_off - old_on >= began - old_sent + 0.2, "their first sound does not stop it"
    assert over <= 0.45, "the old reply stops at the visitor's words, not at the answer"
    assert held_back <= 0.7, "the answer is not held back behind the rest of the old reply"
    assert abs((answer_off - answer_on) - ANSWER_MS / 1000) <= 0.04, "the answer plays whole"
    assert old_off <= answer_on + 0.02, "the old reply does not play over the answer"
