"""A held-up event loop costs the visitor no words.

The microphone's capture goes on while the loop is held up (a flood of tiny downlink
frames: 0.5-1.3 s, 4 s with 1-byte frames; the first `open_call`: ~170 ms; a slow disk,
GC): the device's ring keeps it. The uplink's framer used to drop all but the newest 40 ms
of that backlog to stay on time, and the visitor's words of the hold-up never reached Vapi
(0.5-1.5 s of them per flood on the rig). Now the backlog leaves after the hold-up at 2x
real time (not in one burst: Vapi's turn detection), then real-time pacing resumes.

The capture here is a thread of its own, as PortAudio's is: one 20 ms block of a ramp that
names its sample positions into the real ring every 20 ms of real time, held-up loop or
not, then a write to the eventfd. The uplink is the real one, sending to the simulator over
its real call socket; what the simulator received is read back by sample position.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading
import time
import urllib.request
import wave

import numpy as np
import pytest

from bridge.audio.base import Backend
from bridge.audio.codec import PcmS16leCodec
from bridge.audio.ring import SampleRing
from bridge.call.uplink import Uplink
from bridge.vapi.socket import CallSocket
from tests.faults.harness import Sim

pytestmark = pytest.mark.timeout(60)
RATE, FRAME = 16000, 320
BLOCKS = 75  # 1.5 s of the visitor talking
HOLD_S = 0.6  # the loop held up 600 ms


def ramp(start: int, n: int) -> np.ndarray:
    """Samples start..start+n of 1 + i mod 30000: any stretch names its position."""
    return (1 + np.arange(start, start + n) % 30000).astype(np.int16)


class ThreadedMic(Backend):
    """A capture device on a thread of its own, as PortAudio's callback thread is."""

    is_device = True

    def __init__(self) -> None:
        self.sample_rate = RATE
        self.ring = SampleRing(RATE * 2, RATE)
        self.fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.blocks = 0
        self.last_at = 0.0  # when the last block was captured (time.monotonic())
        self._thread = threading.Thread(target=self._capture, daemon=True)
        self.done = threading.Event()

    def frame_wake(self, samples: int) -> int | None:
        if samples and self._thread.ident is None:  # the visitor talks from the uplink's
            self._thread.start()  # start: what a device held before it is not the call's
        return self.fd

    def start(self) -> None:
        return None

    def _capture(self) -> None:
        t0 = time.monotonic()
        for k in range(BLOCKS):
            time.sleep(max(0.0, t0 + (k + 1) * 0.020 - time.monotonic()))
            self.ring.put(ramp(k * FRAME, FRAME))
            self.blocks = k + 1
            self.last_at = time.monotonic()
            os.eventfd_write(self.fd, 1)
        self.done.set()

    def read(self, due: int) -> np.ndarray:
        return self.ring.take()

    @property
    def level_db(self) -> float:
        return 0.0

    def close(self) -> None:
        os.close(self.fd)


def post_call(base_url: str, key: str) -> dict[str, object]:
    body = {"assistantId": "echo", "transport": {"provider": "vapi.websocket", "audioFormat": {
        "format": "pcm_s16le", "container": "raw", "sampleRate": RATE}}}
    request = urllib.request.Request(f"{base_url}/call", data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {key}",
                                              "Content-Type": "application/json",
                                              "User-Agent": "fault-tests"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


async def talk_through_a_hold_up(url: str, mic: ThreadedMic, hold_at: float) -> Uplink:
    sock = await CallSocket.open(url, "test")
    loop = asyncio.get_running_loop()
    receiving = asyncio.create_task(sock.receive(lambda *_: None, lambda _: None))
    uplink = Uplink(mic, PcmS16leCodec(), RATE, sock.send)
    sending = asyncio.create_task(uplink.run())
    loop.call_later(hold_at, time.sleep, HOLD_S)  # the loop held up (a flood, a slow disk)
    await asyncio.to_thread(mic.done.wait, 30)
    for _ in range(200):  # the backlog, at 2× real time, and the last frame: sent once the
        # newest frame sent began with the last block (its capture clock, not a fixed wait)
        if uplink.frame_captured_at() >= mic.last_at - 0.025:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.05)  # its bytes to the simulator
    sending.cancel()
    await sock.close()
    receiving.cancel()
    await asyncio.gather(sending, receiving, return_exceptions=True)
    return uplink


@pytest.mark.parametrize("hold_at", [0.3, 0.0], ids=["mid-speech", "before-the-first-read"])
def test_what_the_visitor_says_while_the_loop_is_held_up_reaches_vapi_whole(
        hold_at: float) -> None:
    """`before-the-first-read`: held up as the uplink starts (the first call's setup held
    the loop 157-173 ms): what the first read brings is the call's, not the microphone's
    before the call, and it was cut to 40 ms as such."""
    mic = ThreadedMic()
    with Sim() as sim:
        call = post_call(sim.base_url, sim.key)
        transport = call["transport"]
        assert isinstance(transport, dict)
        uplink = asyncio.run(talk_through_a_hold_up(transport["websocketCallUrl"], mic,
                                                      hold_at))
        (record,) = sim.calls()
        with urllib.request.urlopen(f"{sim.base_url}/_sim/calls/{record['id']}/uplink.wav",
                                    timeout=10) as answer:
            wav = answer.read()
    with wave.open(io.BytesIO(wav)) as w:
        heard = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    mic.close()
    captured = mic.blocks * FRAME  # under 30000 samples: each ramp value names one position
    at = heard[heard != 0].astype(np.int64) - 1  # the sample positions heard (silence may
    # lead: the cadence before the device's first block)
    lost = captured - len(np.unique(at))
    stats = uplink.stats
    print(f"\n{mic.blocks} blocks captured, {lost / RATE * 1000:.0f} ms of them never heard; "
          f"the uplink counts {stats.dropped_ms:.0f} ms dropped")
    assert mic.blocks == BLOCKS
    assert lost == 0, f"{lost / RATE * 1000:.0f} ms of the visitor's {captured / RATE:.1f} s " \
        f"never reached the simulator (the loop held up {HOLD_S * 1000:.0f} ms)"
    assert np.array_equal(at, np.arange(captured)), "in order, nothing between"
    assert stats.dropped_ms == 0
    # the backlog left at 2× real time, not in one burst (Vapi's turn detection): on the
    # simulator's arrival clock, 25 frames (500 ms of audio) never in under 100 ms
    arrived = np.array(record["uplink"]["arrivalSeconds"])
    fastest = float(np.min(arrived[25:] - arrived[:-25]))
    assert fastest >= 0.1, f"25 frames arrived within {fastest * 1000:.0f} ms: a burst"
