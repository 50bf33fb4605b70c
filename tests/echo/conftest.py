"""Helpers of the echo rig tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tests.rig.signals import wav_bytes


def call_audio(sim: Any, name: str, err: str, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(what the simulator received, what it sent) in its only call; with ECHO_DEBUG set,
    also written to /tmp with the bridge's log."""
    call = sim.only_call()
    up = wav_bytes(sim.get_bytes(f"/_sim/calls/{call['id']}/uplink.wav"))
    down = wav_bytes(sim.get_bytes(f"/_sim/calls/{call['id']}/downlink.wav"))
    if os.environ.get("ECHO_DEBUG"):
        from tests.rig.signals import write_wav
        write_wav(f"/tmp/echo-{name}-up.wav", up, rate)
        write_wav(f"/tmp/echo-{name}-down.wav", down, rate)
        Path(f"/tmp/echo-{name}.err").write_text(err)
    return up, down
