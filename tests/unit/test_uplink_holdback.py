"""How long the uplink holds a sound back, on the sample positions of a real Uplink fed by
a device that captures 20 ms blocks at 48 kHz: a click captured anywhere in the first 95 %
of a block is in the wire frame that block completes, the one the uplink sends on that
block's capture (test_uplink_pacing holds that it does). Judged on sample positions, not
on when frames left (and the captures run on a virtual clock, so none is late), so a busy
machine cannot move the verdict. What the resampler holds
back is what decides it: with a linear-phase filter the last 3.6 ms (16 kHz wire) or 7.1 ms
(8 kHz) of every block waited a whole block for the next capture, the p95 of mic → wire."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

import numpy as np
import pytest

from bridge.audio.codec import MulawCodec, PcmS16leCodec
from bridge.call.uplink import Uplink
from tests.unit.scripted_capture import EventfdDevice, run_virtual

DEVICE = 48000
BLOCK = DEVICE // 50
PERIOD = 0.02
BLOCKS = 48
# one click every other block (so each click's response stands alone), at offsets that
# sweep the first 95 % of a block
OFFSETS = [round(i * 0.95 * BLOCK / (BLOCKS // 2 - 1)) for i in range(BLOCKS // 2)]
OFFSETS[-1] = int(0.95 * BLOCK) - 1


class Stop(Exception):
    pass


@dataclass
class ClickDevice(EventfdDevice):
    """`EventfdDevice` at 48 kHz, capturing a block with a click (every other block) each
    time its 'callback' (a loop timer standing in for PortAudio's thread) runs."""

    sample_rate: int = DEVICE

    def capture(self, k: int) -> None:
        block = np.zeros(BLOCK, dtype=np.int16)
        if k % 2 == 0:
            block[OFFSETS[k // 2]] = 30000
        self._ring.append(block)
        os.eventfd_write(self._fd, 1)


@pytest.mark.parametrize(("codec", "wire_rate"), [(PcmS16leCodec(), 16000),
                                                  (MulawCodec(), 8000)])
def test_a_sound_leaves_with_the_frame_of_the_block_that_captured_it(codec, wire_rate) -> None:
    device = ClickDevice()
    frames: list[np.ndarray] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()

        async def send(data: bytes) -> None:
            frames.append(codec.decode(data).astype(float))
            if len(frames) == BLOCKS:
                raise Stop

        uplink = Uplink(device, codec, wire_rate, send)
        t0 = loop.time() + 0.01
        for k in range(BLOCKS + 4):
            loop.call_at(t0 + k * PERIOD, device.capture, k)
        with pytest.raises(Stop):
            await uplink.run()
        # so frame j is the one capture j completed
        assert uplink.stats.silence_frames == 0, "every frame left on a capture"

    run_virtual(main())  # the captures on the script's clock: none late, whatever the load
    device.close()
    per_frame = wire_rate // 50
    wire = np.concatenate(frames)
    late_blocks = []
    for i, off in enumerate(OFFSETS):
        k = 2 * i
        at = (k * BLOCK + off) * wire_rate // DEVICE  # where the click falls on the wire
        near = slice(at, at + per_frame // 2)  # the filter and the framer's front pad
        peak = near.start + int(np.argmax(np.abs(wire[near])))
        assert abs(wire[peak]) > 1500, f"click {i} not found"
        if peak // per_frame != k:
            late_blocks.append((off * 1000 / DEVICE, peak // per_frame - k))
    assert not late_blocks, f"clicks (ms into their block, blocks late): {late_blocks}"
