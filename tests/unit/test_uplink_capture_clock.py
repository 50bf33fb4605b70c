"""Frames the uplink sends before the microphone's first block (a sound server's source
waking up takes 0.3–1.4 s; the cadence goes on with silence meanwhile) are placed where
they leave, on the recording's clock. Before, `frame_captured_at()` gave the monotonic
clock's zero, less what was held: the recording put its start at the machine's boot, then
padded its legs hours apart (4.6 GB, the call frozen 13 s; 4 runs in 5 on a PulseAudio
`pulse:` microphone)."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from bridge.audio.codec import PcmS16leCodec
from bridge.call.uplink import Uplink
from tests.unit.scripted_capture import FRAME, RATE, EventfdDevice, ramp


class Stop(Exception):
    pass


def test_frames_sent_before_the_first_capture_are_placed_as_they_leave() -> None:
    device = EventfdDevice()  # it never captures: a source still waking up
    offsets: list[float] = []  # each frame's placement, against when it left

    async def main() -> None:
        async def send(data: bytes) -> None:
            offsets.append(uplink.frame_captured_at() - time.monotonic())
            if len(offsets) == 10:
                raise Stop

        uplink = Uplink(device, PcmS16leCodec(), RATE, send)
        with pytest.raises(Stop):
            await uplink.run()
        assert uplink.stats.silence_frames == 10, "the cadence went on, with silence"

    asyncio.run(main())
    device.close()
    assert all(-1.0 < offset <= 0.0 for offset in offsets), offsets


def test_what_the_microphone_held_before_the_call_is_not_counted_as_dropped() -> None:
    """The first read takes what the device captured since it opened (a second and more,
    on the rig): old by then, cut to the framer's backlog. It was counted as audio the call
    fell behind on, and the summary said "(1100 ms of the microphone dropped: the bridge
    fell behind)" on every call (conversation helper, 23 runs of 23). What a backlog later
    in the call (the loop held up) loses still counts: a hold-up past the uplink's 2 s
    (a shorter one loses nothing: tests/faults/test_loop_hold.py)."""
    device = EventfdDevice()
    fd = device.frame_wake(FRAME)
    assert fd is not None
    device._ring.append(ramp(0, RATE))  # 1 s, captured before the call
    os.eventfd_write(fd, 1)
    stats: list[float] = []

    async def main() -> None:
        async def send(data: bytes) -> None:
            stats.append(uplink.stats.dropped_ms)
            if len(stats) == 3:  # the loop held up 2.5 s: all of it at once
                device._ring.append(ramp(RATE, 5 * RATE // 2))
                os.eventfd_write(fd, 1)
            if len(stats) == 8:
                raise Stop

        uplink = Uplink(device, PcmS16leCodec(), RATE, send)
        with pytest.raises(Stop):
            await uplink.run()

    asyncio.run(main())
    device.close()
    assert stats[:3] == [0.0, 0.0, 0.0], stats
    assert 400 <= stats[-1] <= 500, stats
