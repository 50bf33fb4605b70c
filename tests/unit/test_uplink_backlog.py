"""A backlog the uplink sends after the loop was held up is treated as what it was when it
was captured, not when it leaves.

What the microphone captured while muted (`ctl mute-mic`) stays silence when it leaves
after the unmute. The uplink keeps up to 2 s of what the device captured while the loop
was held up and sends it at 2x real time afterwards (tests/faults/test_loop_hold.py); the
mute was applied as each frame left, so a hold-up ending just before `unmute-mic` sent
what the visitor said while muted to Vapi (here 500 ms of it, all of it). Likewise the
kiosk's own sound (`own_sound`): its echo captured during a hold-up left after it ended.
And the echo gate took the backlog whole, with one gain for all of it."""

from __future__ import annotations

import asyncio
import os
import time

import numpy as np
import pytest

from bridge.audio.codec import PcmS16leCodec
from bridge.call.uplink import Uplink
from tests.unit.scripted_capture import FRAME, RATE, EventfdDevice, ramp


class Stop(Exception):
    pass


@pytest.mark.parametrize("under", ["mute", "own-sound"])
def test_a_backlog_captured_under_a_mute_or_the_kiosks_sound_leaves_as_silence(
        under: str) -> None:
    device = EventfdDevice()
    fd = device.frame_wake(FRAME)
    assert fd is not None
    frames: list[np.ndarray] = []
    sound_ends = [time.monotonic() + 10]  # the chime plays as the call starts

    async def main() -> None:
        async def send(data: bytes) -> None:
            frames.append(np.frombuffer(data, dtype="<i2"))
            if len(frames) < 6:  # the microphone captures as usual: no backlog
                device.capture(len(frames))
            if len(frames) == 6:  # the visitor talks 500 ms while the loop is held up
                if under == "mute":
                    uplink.mute(True)
                device._ring.append(ramp(0, RATE // 2))
                if under == "mute":
                    uplink.mute(False)  # the unmute comes before the uplink reads the ring
                sound_ends[0] = time.monotonic()  # and ends as the loop resumes
                os.eventfd_write(fd, 1)
            if len(frames) == 6 + 30:
                raise Stop

        uplink = Uplink(device, PcmS16leCodec(), RATE, send,
                        own_sound=(lambda: sound_ends[0]) if under == "own-sound" else None)
        with pytest.raises(Stop):
            await uplink.run()

    asyncio.run(main())
    device.close()
    heard = sum(int(np.count_nonzero(f)) for f in frames[6:])
    assert heard == 0, f"{heard * 1000 / RATE:.0f} ms captured under the {under} reached Vapi"


def _speechlike(n: int, seed: int) -> np.ndarray:
    """Noise in syllables (3 Hz on-off): what the echo gate tells speech by."""
    x = np.random.default_rng(seed).standard_normal(n)
    return x * (np.sin(np.arange(n) / RATE * 2 * np.pi * 3) > -0.3) * 6000


@pytest.mark.parametrize("visitor_s", [(0.0, 0.3), (0.7, 1.0)], ids=["at-its-start",
                                                                     "at-its-end"])
def test_the_echo_gate_takes_a_held_up_backlog_a_frame_at_a_time(
        visitor_s: tuple[float, float]) -> None:
    """The assistant speaks (its echo in the microphone, 15 ms late, -12 dB); the loop is
    held up 1 s while the visitor talks over part of it. The gate decided once for the
    whole backlog: the visitor at its start (beyond the gate's 0.5 s of history) was cut
    30 dB with the echo, and one at its end let all the echo before them through."""
    from bridge.audio.echo import make_echo_control

    device = EventfdDevice()
    fd = device.frame_wake(FRAME)
    assert fd is not None
    warm, hold = 50 * FRAME, RATE  # 1 s of 20 ms blocks, then the 1 s backlog
    far = _speechlike(warm + hold + RATE, 2)
    echo = np.concatenate([np.zeros(240), far[:-240]]) * 0.25
    visitor = np.zeros(len(far))
    a, b = (warm + int(s * hold) for s in visitor_s)
    visitor[a:b] = _speechlike(b - a, 3) * 0.8
    mic = np.clip(echo + visitor, -32768, 32767).astype(np.int16)
    played: list[np.ndarray] = []
    frames: list[np.ndarray] = []

    def capture(start: int, n: int) -> None:
        device._ring.append(mic[start:start + n])
        played.append(far[start:start + n].astype(np.int16))
        os.eventfd_write(fd, 1)

    def far_end() -> np.ndarray:
        out = np.concatenate(played) if played else np.zeros(0, np.int16)
        played.clear()
        return out

    async def main() -> None:
        async def send(data: bytes) -> None:
            frames.append(np.frombuffer(data, dtype="<i2"))
            k = len(frames)
            if k <= 50:
                capture((k - 1) * FRAME, FRAME)
            if k == 50:
                capture(warm, hold)  # the loop held up 1 s: all of it at once
            if k == 50 + 75:
                raise Stop

        uplink = Uplink(device, PcmS16leCodec(), RATE, send, echo=make_echo_control("gate", RATE),
                        far_end=far_end)
        with pytest.raises(Stop):
            await uplink.run()

    asyncio.run(main())
    device.close()
    sent = np.concatenate(frames).astype(np.float64)
    # the capture's first sample (the gate's silence may lead)
    start = int(np.flatnonzero(sent)[0] - np.flatnonzero(mic)[0])
    sent = sent[start:start + warm + hold]
    heard = float(np.sqrt(np.mean(sent[a:b] ** 2) / np.mean(mic[a:b].astype(float) ** 2)))
    rest = np.r_[warm:a, b:warm + hold]
    leaked = float(np.sqrt(np.mean(sent[rest] ** 2) / np.mean(mic[rest].astype(float) ** 2)))
    assert heard > 0.5, f"the visitor's words in the hold-up at {20 * np.log10(heard):.0f} dB"
    assert leaked < 0.3, f"the assistant's echo in the hold-up at {20 * np.log10(leaked):.0f} dB"
