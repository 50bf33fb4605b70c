"""The wake word does not listen while the kiosk's own speaker sounds: the visitor's
"okay nabu" reaches the real detector through standby's own reading loop (`WakeWord.wait`),
with the microphone and speaker as stand-ins. While one of the kiosk's sounds plays (an
operator's `hang` sound may well say "say okay nabu to talk again"), or assistant audio is
queued, the microphone holds the speaker: no call. With the speaker silent, one call; and
with only near-silence queued (the quiet end of a goodbye, Vapi's between-utterance
silence, still playing out), one call: a visitor's word said half a second after the
goodbye went unheard half the time while that quiet played."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import numpy as np
import pytest

from bridge.audio.codec import codec_for
from bridge.audio.files import ClockedSink
from bridge.call.downlink import Downlink
from bridge.events import EventBus
from bridge.profile import Profile, parse_profile
from bridge.service.standby import WakeWord
from tests.rig.signals import espeak, silence
from tests.unit.test_wakeword import STANDBY

RATE = 16000


@dataclass
class Mic:
    """Says `audio` in real time: each read returns what the loop's clock owes."""

    audio: np.ndarray
    sample_rate: int = RATE
    is_device: bool = False
    latency_ms: float = 0.0
    at: int = 0

    def read(self, due: int) -> np.ndarray:
        out = self.audio[self.at:self.at + max(0, due)]
        self.at += len(out)
        return np.concatenate([out, np.zeros(max(0, due) - len(out), np.int16)])


@dataclass
class Sounds:
    busy: bool = False


@dataclass
class Queue:
    overlay: Sounds = field(default_factory=Sounds)
    depth_ms: float = 0.0
    speech_queued: bool = False  # PlayoutBuffer's: anything above -40 dBFS left to play


@dataclass
class Speaker:
    buffer: Queue = field(default_factory=Queue)
    latency_ms: float = 0.0


@dataclass
class Host:
    profile: Profile
    source: Mic
    sink: Speaker
    events: EventBus = field(default_factory=EventBus)
    causes: list[str] = field(default_factory=list)

    def request_call(self, cause: str = "ctl") -> str | None:
        self.causes.append(cause)
        return None


@pytest.mark.parametrize("speaker", ["silent", "a kiosk sound", "assistant audio queued",
                                     "near-silence queued"])
def test_the_word_places_a_call_only_while_the_speaker_is_silent(espeak_ng: None,
                                                                  speaker: str) -> None:
    said = np.concatenate([silence(500, RATE), espeak("okay nabu", RATE, voice="en",
                                                      speed=120, peak_db=None),
                           silence(700, RATE)])
    host = _host(said)
    host.sink.buffer.overlay.busy = speaker == "a kiosk sound"
    host.sink.buffer.depth_ms = 800.0 if speaker.endswith("queued") else 0.0
    host.sink.buffer.speech_queued = speaker == "assistant audio queued"
    asyncio.run(_listen_to(host, said))
    heard = speaker in ("silent", "near-silence queued")
    assert host.causes == (["wake-word"] if heard else [])


GOODBYE = "Goodbye. To talk again, say: okay nabu."


def test_a_goodbye_queued_at_a_low_output_gain_still_holds_the_word(espeak_ng: None) -> None:
    """A kiosk on an amplified speaker plays Vapi's audio at `audio.output_gain_db: -36`:
    the goodbye it queues (Vapi's level, -6 dBFS peak) is all under -40 dBFS there, yet the
    room hears it as loud as any kiosk's. Queued through the real downlink onto a real
    playout buffer (not pulled: it stays queued), it holds the wake word deaf as at 0 dB:
    the microphone hearing it places no call (it did at -36 dB: near-silence, not speech)."""
    goodbye = espeak(GOODBYE, RATE, voice="en", speed=120, peak_db=-6.0)
    sink = ClockedSink(RATE)
    Downlink(codec_for("pcm_s16le"), RATE, sink, gain=10 ** (-36 / 20)).on_audio(
        goodbye.tobytes())
    assert sink.buffer.depth_ms > 0
    said = np.concatenate([silence(500, RATE), goodbye, silence(700, RATE)])
    host = _host(said)
    host.sink = sink  # type: ignore[assignment]
    asyncio.run(_listen_to(host, said))
    assert host.causes == []


def test_the_goodbye_alone_places_a_call(espeak_ng: None) -> None:
    """The premise of the test above: with nothing queued, the detector hears the word in
    the goodbye the microphone picks up."""
    said = np.concatenate([silence(500, RATE), espeak(GOODBYE, RATE, voice="en", speed=120,
                                                      peak_db=-6.0), silence(700, RATE)])
    host = _host(said)
    asyncio.run(_listen_to(host, said))
    assert host.causes == ["wake-word"]


def _host(said: np.ndarray) -> Host:
    """A standby kiosk listening for okay_nabu, its microphone hearing `said`."""
    return Host(parse_profile(STANDBY + "trigger:\n  wake_word: okay_nabu\n"), Mic(said),
                Speaker())


async def _listen_to(host: Host, said: np.ndarray) -> None:
    wake = WakeWord(host, open_audio=lambda: None)
    heard = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(wake.wait(heard))
    while host.source.at < len(said):  # all of it read, on the loop's own clock
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # the detector's last look
    heard.set_result(False)
    await waiting


def test_a_microphone_reopened_as_the_speaker_stops_is_not_said_held() -> None:
    """The speaker held the word (a kiosk sound), and the microphone was reopened just as
    its hold ended: the new microphone was listened to, but `ctl status` went on saying
    `heldBySpeaker: true` beside `listening: true` until the next hold or the next wait."""
    host = _host(silence(3000, RATE))
    host.sink.buffer.overlay.busy = True

    async def run() -> dict[str, object] | None:
        wake = WakeWord(host, open_audio=lambda: None)
        done = asyncio.get_running_loop().create_future()
        waiting = asyncio.create_task(wake.wait(done))
        while not wake.held:
            await asyncio.sleep(0.01)
        host.sink.buffer.overlay.busy = False
        wake._speaker_until = 0.0  # its echo tail over, as the device comes back
        host.source = Mic(silence(3000, RATE))  # reopened: a new source
        await asyncio.sleep(0.2)  # a few reads of it
        shown = wake.status()
        done.set_result(False)
        await waiting
        return shown

    assert asyncio.run(run()) == {"word": "Okay Nabu", "listening": True,
                                  "heldBySpeaker": False}
