"""Standby's idle devices (bridge/service/idle.py) on stand-in streams, at 20 ms polls: which
device closes and when, what opens again as a call is wanted, and what a reload or a
device that will not open does meanwhile. The real streams on the rig: tests/devices/
test_standby_idle.py. Times are only bounded from below (a loaded machine's loop runs
late, never early): each step waits for the state it expects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from bridge.audio.base import Backend
from bridge.errors import AudioDeviceError
from bridge.service.idle import IdleDevices

SPEAKER_IDLE_S = 0.3


@dataclass
class Sounds:
    """The kiosk's sounds mixed over the speaker; `seen` is when the idle watcher last
    found one playing (time.monotonic, its own clock)."""

    playing: bool = False
    seen: float = 0.0

    @property
    def busy(self) -> bool:
        if self.playing:
            self.seen = time.monotonic()
        return self.playing


@dataclass
class Buffer:
    """The playout queue: `queued_ms` of audio; `seen` is when the watcher last found
    some queued (its own clock)."""

    overlay: Sounds = field(default_factory=Sounds)
    queued_ms: float = 0.0
    seen: float = 0.0

    @property
    def depth_ms(self) -> float:
        if self.queued_ms > 0:
            self.seen = time.monotonic()
        return self.queued_ms


@dataclass
class Stream(Backend):
    """A device's stream: opened/closed as asked, or refusing to open again."""

    name: str = "mic"
    is_device: bool = True
    refuse: bool = False
    log: list[str] = field(default_factory=list)
    buffer: Buffer = field(default_factory=Buffer)
    at: dict[str, float] = field(default_factory=dict)  # when it closed (time.monotonic)

    def pause(self) -> None:
        self.paused = True
        self.log.append(f"{self.name} closed")
        self.at[self.log[-1]] = time.monotonic()

    def resume(self) -> None:
        if self.refuse:
            raise AudioDeviceError(f"cannot open the {self.name}")
        self.paused = False
        self.log.append(f"{self.name} opened")


@dataclass
class Host:
    source: Stream | None
    sink: Stream | None
    closed: int = 0

    def close_audio(self) -> None:
        self.closed += 1
        self.source = self.sink = None


def kiosk(listening: bool = False) -> tuple[Host, IdleDevices, list[str], list[bool]]:
    log: list[str] = []
    host = Host(Stream("mic", log=log), Stream("speaker", log=log))
    word = [listening]
    idle = IdleDevices(host, lambda: word[0], host.close_audio,  # type: ignore[arg-type]
                       speaker_idle_s=SPEAKER_IDLE_S, poll_s=0.02, poll_closed_s=0.02)
    return host, idle, log, word


def start_waiting(idle: IdleDevices, wanted: bool = True
                  ) -> tuple[asyncio.Event, asyncio.Future[bool]]:
    """The standby wait, under way: set the event to end it (`wanted`: a call is)."""
    trigger = asyncio.Event()
    return trigger, asyncio.ensure_future(idle.waiting(wait_for(trigger, wanted)))


async def until(done: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not done():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.01)


def test_the_microphone_closes_at_once_the_silent_speaker_after_its_idle_time() -> None:
    async def main() -> None:
        host, idle, log, _ = kiosk()
        started = time.monotonic()
        trigger, waiting = start_waiting(idle)
        await until(lambda: len(log) == 2, "both closed")
        assert log == ["mic closed", "speaker closed"]
        assert host.sink is not None
        assert host.sink.at["speaker closed"] - started >= SPEAKER_IDLE_S
        trigger.set()
        assert await waiting is True
        assert log[2:] == ["mic opened", "speaker opened"], "both open before the call"
    asyncio.run(main())


@pytest.mark.parametrize("what", ["queued", "sound"])
def test_a_speaker_still_playing_stays_open_until_silent_for_its_idle_time(what: str) -> None:
    """A goodbye Vapi sent ahead, still queued; or one of the kiosk's own sounds."""
    async def main() -> None:
        host, idle, log, _ = kiosk()
        sink = host.sink
        assert sink is not None

        def play(on: bool) -> None:
            if what == "queued":
                sink.buffer.queued_ms = 800.0 if on else 0.0
            else:
                sink.buffer.overlay.playing = on
        play(True)
        trigger, waiting = start_waiting(idle)
        await until(lambda: log == ["mic closed"], "the microphone closed")
        await asyncio.sleep(2 * SPEAKER_IDLE_S)
        assert log == ["mic closed"], "the speaker plays on"
        play(False)
        await until(lambda: len(log) == 2, "the speaker closed")
        last_heard = max(sink.buffer.seen, sink.buffer.overlay.seen)  # as the watcher saw it
        assert sink.at["speaker closed"] - last_heard >= SPEAKER_IDLE_S
        trigger.set()
        await waiting
    asyncio.run(main())


def test_a_daemon_stopping_opens_nothing() -> None:
    async def main() -> None:
        _, idle, log, _ = kiosk()
        trigger, waiting = start_waiting(idle, wanted=False)
        await until(lambda: len(log) == 2, "both closed")
        trigger.set()
        assert await waiting is False
        assert log == ["mic closed", "speaker closed"]
    asyncio.run(main())


def test_the_wake_word_keeps_the_microphone_and_a_reload_adding_one_opens_it() -> None:
    async def main() -> None:
        _, idle, log, word = kiosk(listening=True)
        trigger, waiting = start_waiting(idle)
        await until(lambda: log == ["speaker closed"], "the speaker closed")
        await asyncio.sleep(0.1)
        assert log == ["speaker closed"], "the word listens to the microphone"
        word[0] = False  # a reload took the wake word away
        await until(lambda: log[1:] == ["mic closed"], "the microphone closed")
        word[0] = True  # and another put one back
        await until(lambda: log[2:] == ["mic opened"], "the microphone opened again")
        trigger.set()
        await waiting
        assert log[3:] == ["speaker opened"]
    asyncio.run(main())


def test_a_device_that_will_not_open_again_is_left_to_the_call() -> None:
    async def main() -> None:
        host, idle, log, _ = kiosk()
        trigger, waiting = start_waiting(idle)
        await until(lambda: len(log) == 2, "both closed")
        assert host.source is not None
        host.source.refuse = True  # unplugged while the kiosk waited
        trigger.set()
        assert await waiting is True  # no error here: the call's own open reports it
        assert host.closed == 1 and host.source is None and host.sink is None
    asyncio.run(main())


def test_devices_a_reload_replaced_are_not_opened_again() -> None:
    async def main() -> None:
        host, idle, log, _ = kiosk()
        trigger, waiting = start_waiting(idle)
        await until(lambda: len(log) == 2, "both closed")
        host.source = host.sink = None  # a reload that changed `audio:` closed them
        trigger.set()
        assert await waiting is True
        assert log == ["mic closed", "speaker closed"]
    asyncio.run(main())


@pytest.mark.parametrize("part", ["source", "sink"])
def test_a_file_or_the_null_device_is_left_as_it_is(part: str) -> None:
    async def main() -> None:
        host, idle, log, _ = kiosk()
        stream = getattr(host, part)
        stream.is_device = False
        other = "speaker" if part == "source" else "mic"
        trigger, waiting = start_waiting(idle)
        await until(lambda: f"{other} closed" in log, "the device closed")
        await asyncio.sleep(SPEAKER_IDLE_S + 0.1)
        trigger.set()
        await waiting
        assert not any(line.startswith(stream.name) for line in log)
    asyncio.run(main())


async def wait_for(trigger: asyncio.Event, wanted: bool = True) -> bool:
    await trigger.wait()
    return wanted
