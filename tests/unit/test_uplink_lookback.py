"""The echo gate's look-back (the default `audio.echo: gate`) on the uplink: as the gate
closes on the assistant's echo it keeps the newest 40 ms back, so the two captures that
follow put nothing in the framer. Before, no frame left for them: a 60 ms gap on the wire
at every close, all of the capture-driven uplink's 40 ms grace, so a capture callback a
few ms late there (a loaded machine) sent silence on the grace deadline and the late frame
right behind it, and that silence went into the recording's sent leg, every later word of
the visitor 20 ms further behind the speaker's leg (the recorder never pulls a leg back).
Now that silence is left out of the recording, whose sent leg stays the captured audio on
its own clock. (The 60 ms gap on the wire stays: sending a silence frame at once for each
held capture kept the cadence, but put 40 ms more than real time on the wire per gate
cycle, and on the rig the visitor's barge-in then reached the simulator 60-300 ms after
their onset, against 10 ms.)

A real Uplink, EchoGate and LookBack, fed by a scripted 48 kHz device whose 'callback' (a
loop timer) captures 20 ms of a room (the assistant's echo at -6 dB, 40 ms; a visitor's
word over it) and stamps it with its capture time. The loop's clock is virtual
(`scripted_capture.run_virtual`): each capture runs exactly when the script says, however
loaded the machine, and the test takes what its CPU work takes (~0.5 s each)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

import numpy as np
import pytest

from bridge.audio.codec import PcmS16leCodec
from bridge.audio.echo import make_echo_control
from bridge.call.uplink import Uplink
from tests.unit.scripted_capture import EventfdDevice, run_virtual
from tests.unit.test_echo_gate import room, speechlike

DEVICE, WIRE = 48000, 16000
BLOCK = DEVICE // 50
PERIOD = 0.020
FAR = np.concatenate((np.zeros(DEVICE // 4, np.int16), speechlike(1.5, seed=1)))
MIC = room(FAR, -6.0, 40, speechlike(0.4, seed=4), DEVICE)  # the visitor at 1 s
BLOCKS = len(FAR) // BLOCK


class Stop(Exception):
    pass


def _held_back(far: np.ndarray = FAR, mic: np.ndarray = MIC) -> list[int]:
    """The blocks whose capture the look-back kept back whole (the gate closing)."""
    control = make_echo_control("gate", DEVICE)
    assert control is not None
    held = []
    for k in range(len(far) // BLOCK):
        control.far(far[k * BLOCK:(k + 1) * BLOCK])
        if not len(control.near(mic[k * BLOCK:(k + 1) * BLOCK])):
            held.append(k)
    return held


@dataclass
class RoomDevice(EventfdDevice):
    sample_rate: int = DEVICE

    def capture(self, k: int) -> None:
        self._ring.append(self.mic[k * BLOCK:(k + 1) * BLOCK])
        self.played.append(self.far[k * BLOCK:(k + 1) * BLOCK])
        self.stamps.append(self.t0 + (k + 1) * PERIOD)  # its last sample's capture
        self.captured.append(asyncio.get_running_loop().time())
        os.eventfd_write(self._fd, 1)

    def read(self, due: int) -> np.ndarray:
        if self.stamps:
            self.captured_until = self.stamps[-1]
        return super().read(due)

    def far_end(self) -> np.ndarray:
        out = np.concatenate(self.played) if self.played else np.zeros(0, np.int16)
        self.played.clear()
        return out

    def __post_init__(self) -> None:
        self.played: list[np.ndarray] = []
        self.stamps: list[float] = []
        self.t0 = 0.0
        self.far, self.mic = FAR, MIC


@dataclass
class Run:
    sent: list[tuple[int, np.ndarray]]  # (captures so far, the frame) as each frame left
    tapped: list[tuple[float, np.ndarray]]  # (placed at, the frame) as the recorder got them
    mutes: list[float] = field(default_factory=list)  # when muted, unmuted, …


def drive(late: dict[int, float], room: tuple[np.ndarray, np.ndarray] = (FAR, MIC),
          mutes: tuple[int, ...] = ()) -> Run:
    """Capture k at 3 ms + (k + 1) * 20 ms (its block's end), plus `late[k]` seconds;
    `mutes`: mute, unmute, … 10 ms after capture k."""
    device = RoomDevice()
    device.far, device.mic = room
    run = Run([], [])

    async def main() -> None:
        loop = asyncio.get_running_loop()

        async def send(data: bytes) -> None:
            run.sent.append((len(device.captured), np.frombuffer(data, "<i2")))
            if len(device.captured) == len(device.far) // BLOCK:
                raise Stop

        def tap(frame: np.ndarray) -> None:
            run.tapped.append((uplink.frame_captured_at(), frame.copy()))

        def mute(on: bool) -> None:
            run.mutes.append(loop.time())
            uplink.mute(on)

        uplink = Uplink(device, PcmS16leCodec(), WIRE, send, tap=tap,
                        echo=make_echo_control("gate", DEVICE), far_end=device.far_end,
                        clock=loop.time)
        device.t0 = loop.time() + 0.010
        for k in range(len(device.far) // BLOCK):
            loop.call_at(device.t0 + (k + 1) * PERIOD + 0.003 + late.get(k, 0.0),
                         device.capture, k)
        for i, k in enumerate(mutes):
            loop.call_at(device.t0 + (k + 1) * PERIOD + 0.013, mute, i % 2 == 0)
        with pytest.raises(Stop):
            await uplink.run()

    run_virtual(main())
    device.close()
    return run


def test_the_gate_closing_keeps_the_recording_in_place() -> None:
    held = _held_back()
    closes = [k for k in held if k - 1 not in held]
    assert closes and all(k + 1 in held for k in closes), "the gate closed, 40 ms held"
    # the capture that ends the hold comes 12 ms late (a starved callback, well within
    # the uplink's 40 ms grace)
    run = drive({k + 2: 0.012 for k in closes})
    # the recording: frame after frame, each 20 ms after the one before on the capture's
    # clock: nothing in it the microphone did not capture, nothing it captured left out
    at = np.array([t for t, _ in run.tapped])
    steps_ms = np.round(np.diff(at) * 1000, 3)
    assert np.all(steps_ms == 20), f"the sent leg stepped {sorted(set(steps_ms))} ms"


def test_what_was_captured_under_a_mute_stays_silence_with_the_look_back_holding() -> None:
    """The visitor talks under a mute-mic (opening the gate), then the gate closes on the
    echo again and holds 40 ms captured under the mute as the operator unmutes; the
    visitor's next word, right after, opens it and lets what it held go."""
    far = np.concatenate((np.zeros(DEVICE // 4, np.int16), speechlike(2.2, seed=1)))
    visitor = np.zeros(len(far))
    visitor[DEVICE:DEVICE * 14 // 10] = speechlike(0.4, seed=4)  # under the mute
    mic = room(far, -6.0, 40, visitor)
    held = _held_back(far, mic)
    closes = [k for k in held if k - 1 not in held]
    assert len(closes) >= 2 and closes[1] >= 70, closes  # after the word
    after = closes[1] + 1  # unmuted 10 ms after the capture: its block held
    word = (after + 1) * BLOCK + BLOCK // 2  # the next word, 10 ms after the unmute
    mic = mic.copy()
    mic[word:word + DEVICE // 4] = speechlike(0.25, seed=5)
    run = drive({}, (far, mic), mutes=(30, after))
    muted, unmuted = run.mutes
    frame = 1 / 50
    under = [f for t, f in run.tapped if t + frame > muted and t < unmuted]
    leaked = sum(int(np.count_nonzero(f)) for f in under) * 1000 // WIRE
    assert under and leaked == 0, f"{leaked} ms captured under the mute reached Vapi"
    heard = [t - unmuted for t, f in run.tapped if t >= unmuted and np.count_nonzero(f)]
    assert heard and heard[0] < frame, "what followed the unmute was sent"
