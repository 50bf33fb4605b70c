"""The kiosk's sounds never cover the assistant's words: a call that connects within the
chime (0.56 s) had its greeting's first words under the chime, louder than the greeting
(a server written from Vapi's docs answering at once). Whatever still plays fades out
when the assistant starts speaking (`assistant-speaking`).

Through the real `KioskSounds` and `PlayoutBuffer` (the device callback's `read_into`,
on a 20 ms block clock); only the speaker's device is a stand-in (the rig's sound tests
need a private PulseAudio and ~20 s a call)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import numpy as np

from bridge import events
from bridge.audio.playout import PlayoutBuffer
from bridge.events import EventBus
from bridge.profile.loader import load_profile
from bridge.service.sounds import KioskSounds
from tests.unit.test_playout_streams import pull as blocks

ROOT = Path(__file__).resolve().parents[2]
RATE = 16000
BLOCK = RATE // 50  # the device's 20 ms blocks (`pull`'s)


@dataclasses.dataclass
class Speaker:
    buffer: PlayoutBuffer
    sample_rate: int = RATE
    is_device: bool = True
    latency_ms: float = 0.0


class Host:
    def __init__(self) -> None:
        self.events = EventBus()
        self.profile = load_profile(str(ROOT / "config/frontdesk.yaml"))  # the sounds' defaults
        self.sink = Speaker(PlayoutBuffer(RATE))
        self.stopping = asyncio.Event()


async def chime_then_speech(speaks: bool) -> np.ndarray:
    host = Host()
    sounds = KioskSounds(host)
    host.events.publish(events.TRIGGERED, cause="ctl")
    if sounds._loading is not None:  # the clips load on a worker thread, however slowly
        await sounds._loading  # (its done callback, added first, has acted on TRIGGERED)
    first = blocks(host.sink.buffer, 5)  # 100 ms of the chime
    host.events.publish(events.CONNECTING)
    host.events.publish(events.IN_CALL, call="0123abcd")
    if speaks:  # the greeting begins 100 ms into the chime
        host.events.publish(events.ASSISTANT_SPEAKING)
    rest = blocks(host.sink.buffer, 25)
    sounds.close()
    return np.concatenate([first, rest])


def test_the_chime_fades_out_when_the_assistant_starts_speaking() -> None:
    quiet = asyncio.run(chime_then_speech(speaks=False))
    spoken = asyncio.run(chime_then_speech(speaks=True)).astype(np.int32)
    quiet, start = quiet.astype(np.int32), 5 * BLOCK
    assert np.abs(quiet[:start]).max() > 1000, "the chime played"
    assert np.abs(quiet[start + 4 * BLOCK: int(0.5 * RATE)]).max() > 1000, \
        "with no speech, the chime plays on"
    after = np.abs(spoken[start + 2 * BLOCK:])  # its 25 ms fade, a block of slack
    assert after.max() < 1, f"the chime went on over the greeting ({after.max():.0f} peak)"
