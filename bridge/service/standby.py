"""The wake word in standby mode (`trigger.wake_word`): while the daemon waits for a trigger,
listen on its open microphone and place a call when the visitor says the word.

Only while it waits: `WakeWord.wait()` wraps the daemon's standby wait. Every 40 ms it reads
what the microphone captured (the daemon's own `source`, never reopened), resamples it to
16 kHz (`bridge.audio.resample`) and feeds the detector (`bridge.audio.wakeword`); nothing
is kept, sent or recorded. On the word it asks the daemon for a call (cause `wake-word`); one a
spending limit refuses is logged as such (the limit itself is said once, at error level).

Not while the kiosk's own speaker plays (a goodbye Vapi sent ahead of real time, still
playing out after the call; the kiosk's sounds) and for `ECHO_TAIL_S` after it has been
heard: the microphone then holds the speaker, and an assistant that says the word ("say
okay nabu when you need me") would place a call nobody asked for. What it captured then is
dropped, and the detector starts afresh after.

The handover: the call's uplink reads the same source once the call is up, so from the
trigger (whatever its cause) until the call is in progress — or could not be placed — this
keeps reading and throws the audio away. The uplink then starts from live audio, not from
seconds of standby audio queued in the device's ring. Each wait starts afresh: what was
captured before it is dropped and the detector's state cleared (its refractory time goes on).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from bridge import events
from bridge.aio import beside
from bridge.audio.base import ECHO_TAIL_S, AudioSink, AudioSource, audible
from bridge.audio.resample import Resampler
from bridge.audio.wakeword import RATE, ModelError, WakeWordDetector
from bridge.errors import BridgeError, ProfileError
from bridge.events import EventBus, KioskEvent
from bridge.inert import printable
from bridge.profile import Profile

log = logging.getLogger("bridge.wake")

# how often the microphone is read while listening: no busy loop, and fewer wake-ups cost
# less (every 20/30/40 ms: 4.2/3.1/2.6 % of one core here, benchmarks/wake_word.py)
READ_EVERY_S = 0.04
IDLE_S = 1.0  # how often a daemon without a wake word looks whether a reload added one
CALL_UP = frozenset({events.IN_CALL, events.ENDED, events.ERROR})  # the uplink's turn, or none


class StandbyHost(Protocol):
    """What of the daemon this uses."""

    profile: Profile
    source: AudioSource | None
    sink: AudioSink | None
    events: EventBus

    def request_call(self, cause: str = "ctl") -> str | None: ...


def detector_for(profile: Profile) -> WakeWordDetector | None:
    """The profile's detector, or None when it has no wake word or is not in standby mode;
    a model that cannot be loaded is a ProfileError."""
    t = profile.trigger
    if t.wake_word is None or profile.service.mode != "standby":
        return None
    model: str | Path = t.wake_word
    if t.wake_word.endswith(".json"):
        model = Path(t.wake_word).expanduser()
        if not model.is_absolute():
            model = profile.directory / model
    try:
        return WakeWordDetector(model, threshold=t.threshold,
                                refractory_s=t.refractory_seconds)
    except ModelError as exc:
        raise ProfileError(f"trigger.wake_word: {exc} — give one of the bundled models or "
                           f"a microWakeWord model's .json (its .tflite beside it)") from None


class WakeWord:
    """The daemon's wake word. Made at daemon start (a model that does not load is exit 2
    then), it listens only inside `wait()`."""

    def __init__(self, host: StandbyHost, open_audio: Callable[[], None]) -> None:
        self._host = host
        self._open_audio = open_audio
        self._profile = host.profile
        self.detector = detector_for(host.profile)
        self._drain: asyncio.Task[None] | None = None
        self._deaf = False  # the microphone could not be opened (said once)
        self.listening = False  # the microphone is being read for the word right now
        self.held = False  # ... but ignored: the kiosk's own speaker plays (`_speaker_heard`)
        self._speaker_until = 0.0  # loop time until which the microphone holds the speaker
        self._asked = False  # the wake word asked for the call being placed now
        host.events.listen(self._on_event)

    async def wait(self, trigger: Awaitable[bool]) -> bool:
        """Await the standby wait `trigger` (True: a call is wanted), listening meanwhile."""
        self._stop_draining()
        self._asked = False
        wanted = False
        try:
            async with beside(self._listen(), "wake-word"):
                wanted = await trigger
            return wanted
        finally:
            self.listening = self.held = False
            if wanted and self.detector is not None and self._host.source is not None:
                self._drain = asyncio.create_task(self._drain_until_call(self._host.source),
                                                  name="wake-word-handover")

    # ---- listening ----------------------------------------------------------------------
    async def _listen(self) -> None:
        try:
            await self._listening()
        except Exception:  # a bug: the kiosk still answers ctl call and SIGUSR1
            log.exception("the wake word stopped listening")

    async def _listening(self) -> None:
        source: AudioSource | None = None
        resampler: Resampler | None = None
        clock = asyncio.get_running_loop().time
        while True:
            self._follow_reload()
            detector = self.detector
            if detector is None or not self._microphone():
                source, self.listening, self.held = None, False, False
                await asyncio.sleep(IDLE_S)
                continue
            assert self._host.source is not None
            if self._host.source is not source:  # a new wait, or the device was reopened
                source = self._host.source
                resampler = Resampler(source.sample_rate, RATE)
                source.read(0)  # what was captured before: not live, never heard
                detector.reset()
                detector.rearm()  # a word said as the last call ended counts
                started, owed = clock(), 0
                self.listening, self.held = True, False
                log.info("listening for the wake word %r", detector.name)
            else:
                assert resampler is not None
                due = int((clock() - started) * source.sample_rate) - owed
                owed += due
                peak = detector.peak
                heard = source.read(due)
                if self._speaker_heard(clock()):  # dropped: the kiosk's own speaker
                    detector.skip(len(heard) * RATE // source.sample_rate)
                    self.listening, self.held = False, True
                    await asyncio.sleep(READ_EVERY_S)
                    continue
                if self.held:
                    detector.reset()  # afresh, not joined to what came before the speaker
                    self.listening, self.held = True, False
                prob = detector.feed(resampler.process(heard))
                if prob is not None:
                    self._heard(detector.name, prob)
                elif detector.peak >= max(0.2, peak + 0.05):
                    log.debug("wake word %r: probability %.2f", detector.name, detector.peak)
            await asyncio.sleep(READ_EVERY_S)

    def _speaker_heard(self, now: float) -> bool:
        """Whether the microphone may hold the kiosk's own speaker: it has something audible
        to play (queued speech, one of the kiosk's sounds), or played its last of it less
        than both devices' latency and `ECHO_TAIL_S` ago. The near-silence queued after a
        goodbye is no reason to stay deaf: the word said 0.5 s after it was heard half the
        time, the trailing quiet's 0.3 s counted as speaker."""
        sink, source = self._host.sink, self._host.source
        if sink is not None and audible(sink):
            latency = sink.latency_ms + (source.latency_ms if source is not None else 0.0)
            self._speaker_until = now + latency / 1000 + ECHO_TAIL_S
        return now < self._speaker_until

    def status(self) -> dict[str, object] | None:
        """For `ctl status`: the word, whether it is being listened for right now (standby
        between calls, the microphone open, the kiosk's speaker silent) and whether the
        speaker is why not (a word said now is not heard: said "listening" before, while a
        goodbye played out); None without a wake word."""
        if self.detector is None:
            return None
        return {"word": self.detector.name, "listening": self.listening,
                "heldBySpeaker": self.held}

    def _heard(self, name: str, prob: float) -> None:
        refused = self._host.request_call("wake-word")
        if refused:
            log.info("wake word %r heard (probability %.2f), but %s", name, prob, refused)
        else:
            log.info("wake word %r heard (probability %.2f): placing a call", name, prob)
            self._asked = True

    def _microphone(self) -> bool:
        """The daemon's microphone is open (reopened here if a failed call closed it)."""
        if self._host.source is None:
            try:
                self._open_audio()
            except BridgeError as exc:
                if not self._deaf:
                    log.error("the wake word cannot listen: %s", exc)
                self._deaf = True
                return False
        self._deaf = False
        return self._host.source is not None

    def _follow_reload(self) -> None:
        """A profile reloaded while waiting: the new wake word settings, from now."""
        profile = self._host.profile
        if profile is self._profile:
            return
        self._profile = profile
        try:
            detector = detector_for(profile)
        except ProfileError as exc:
            log.error("%s; the wake word stays as it was", exc)
            return
        if self.detector is not None:
            self.detector.close()
        self.detector = detector

    # ---- the handover to the call -------------------------------------------------------
    async def _drain_until_call(self, source: AudioSource) -> None:
        """Read and drop what the microphone captures until the call's uplink takes it."""
        while True:
            source.read(0)
            await asyncio.sleep(READ_EVERY_S)

    def _on_event(self, event: KioskEvent) -> None:
        if event.kind in CALL_UP:
            self._stop_draining()
            if self._asked and event.fields.get("cause") == events.SPENDING_LIMIT:
                # the log said "placing a call", then nothing (the limit is said once)
                why = str(event.fields.get("message") or "").split("; ")[0]
                log.info("no call placed for the wake word: %s", printable(why, 200))
            self._asked = False

    def _stop_draining(self) -> None:
        if self._drain is not None:
            self._drain.cancel()
            self._drain = None
