"""Standby between calls leaves the devices idle: a kiosk waits most of its day.

An open PortAudio stream does its device's work 50 times a second even for silence: on
the test rig the two streams alone cost 4–6 % of a core (PortAudio's threads and ALSA's
pulse plugin), more on a Pi, all day, for nothing. So while a standby daemon waits for a
trigger:

- the microphone is closed at once, unless the wake word listens to it;
- the speaker is closed once it has played everything (a goodbye sent ahead of real time,
  the kiosk's sounds) and been silent for `SPEAKER_IDLE_S`.

Both open again as the wait ends with a call wanted (before the chime, ~5 ms each on the
rig), not when the daemon stops. A device that cannot be opened again is closed for good
and left to the call, which opens it afresh (or ends with exit 4, as a device gone before
a call always has). A reload that adds a wake word opens the microphone within
`POLL_CLOSED_S`. The `file:` and `null` backends have no stream: they stay as they are.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from bridge.aio import beside
from bridge.audio.base import AudioSink, AudioSource, sounding
from bridge.errors import AudioDeviceError

log = logging.getLogger("bridge.run")

POLL_S = 0.25
POLL_CLOSED_S = 1.0  # both closed: only a reload (a wake word added) is watched for
SPEAKER_IDLE_S = 2.0  # silent this long after its last sound: the speaker closes


class IdleHost(Protocol):
    source: AudioSource | None
    sink: AudioSink | None


class IdleDevices:
    def __init__(self, host: IdleHost, listening: Callable[[], bool],
                 close_audio: Callable[[], None], *, speaker_idle_s: float = SPEAKER_IDLE_S,
                 poll_s: float = POLL_S, poll_closed_s: float = POLL_CLOSED_S) -> None:
        self._host = host
        self._speaker_idle_s, self._poll_s, self._poll_closed_s = (speaker_idle_s, poll_s,
                                                                   poll_closed_s)
        self._listening = listening  # the wake word needs the microphone
        self._close_audio = close_audio

    async def waiting(self, wait: Awaitable[bool]) -> bool:
        """Await the standby wait (True: a call is wanted), the devices idle meanwhile."""
        async with beside(self._idle(), "idle-devices"):
            wanted = await wait
        if wanted:
            self._resume_all()
        return wanted

    async def _idle(self) -> None:
        silent_since = time.monotonic()
        while True:
            source, sink = self._host.source, self._host.sink
            if source is not None and source.is_device:
                if self._listening():
                    self._resume(source)
                elif not source.paused:
                    self._pause(source)
            if sink is not None and sink.is_device and not sink.paused:
                if sounding(sink):
                    silent_since = time.monotonic()
                elif time.monotonic() - silent_since >= self._speaker_idle_s:
                    self._pause(sink)
            closed = all(part is None or not part.is_device or part.paused
                         for part in (source, sink))
            await asyncio.sleep(self._poll_closed_s if closed else self._poll_s)

    def _pause(self, part: AudioSource | AudioSink) -> None:
        part.pause()
        if part.paused:
            log.info("standby: the %s is closed until it is needed",
                     "microphone" if part is self._host.source else "speaker")

    def _resume(self, part: AudioSource | AudioSink) -> bool:
        if not part.paused:
            return True
        try:
            part.resume()
        except AudioDeviceError as exc:
            log.error("%s; it is opened again for the call", exc)
            self._close_audio()  # the call's own open reports it, as before any call
            return False
        return True

    def _resume_all(self) -> None:
        """The daemon's devices, as they are now (one a reload replaced is not ours)."""
        for part in (self._host.source, self._host.sink):
            if part is not None and not self._resume(part):
                return
