"""The sounds the visitor hears from the kiosk itself, following its events (`sounds:`).

A chime on `triggered`; the connecting tone from `connecting` (after the chime) until
`in-call`, `ended` or `error`, when it fades out; the hang cue on `hang`; whatever of these
still plays fades out as the assistant starts speaking (`assistant-speaking`: a call that
connects within the chime's 0.56 s had its greeting's first words under it); the offline line
on `error` (a call that cannot be placed, whatever the cause) and on `ended` with outcome
`connection-lost` (a call dropped mid-way), after what the call left queued on the speaker.

Everything is fire-and-forget on the already-open speaker: an event only hands a clip to
the output's `SoundMixer` (`bridge/audio/sounds.py`), which the device callback mixes, so
nothing here waits on audio or delays the call. Clips are loaded and resampled to the
device's rate once per (profile, device), on a worker thread (events arriving meanwhile
are acted on once they are there), and kept. Only a real speaker plays them: a
`file:` or `null` output is a recording or a test, not a visitor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

import numpy as np

from bridge import events
from bridge.audio.base import AudioSink
from bridge.audio.sounds import SoundMixer, Voice, load_clip
from bridge.errors import AudioDeviceError
from bridge.events import EventBus, KioskEvent
from bridge.profile import Profile
from bridge.profile.sounds import SOUND_KEYS, sound_file

log = logging.getLogger("bridge.sounds")

FINISH_SLACK_S = 0.5  # beyond what is left to play, how long `finish` waits at most
FINISH_MAX_S = 15.0
LOAD_WAIT_S = 3.0  # `finish` waits this long at most for clips still loading
STOP_TONE = frozenset({events.IN_CALL, events.ENDED, events.ERROR})
ACTED_ON = STOP_TONE | {events.STANDBY, events.TRIGGERED, events.CONNECTING, events.HANG,
                        events.ASSISTANT_SPEAKING}
MAX_PENDING = 8  # events kept while the clips load (a fraction of a second)


def load_clips(p: Profile, rate: int, gain: float) -> dict[str, np.ndarray]:
    """The profile's sounds at `rate` (a worker thread: reading and resampling the offline
    line takes ~10 ms here, more on a Pi, which the call's setup must not wait for)."""
    started = time.perf_counter()
    clips: dict[str, np.ndarray] = {}
    for name in SOUND_KEYS:
        value = getattr(p.sounds, name)
        if value is None:
            continue
        try:
            clips[name] = load_clip(sound_file(name, value), rate, gain)
        except AudioDeviceError as exc:  # checked at load; gone or changed since
            log.warning("sounds.%s: %s; it is not played", name, exc)
    log.debug("sounds loaded at %d Hz in %.0f ms", rate, (time.perf_counter() - started) * 1000)
    return clips


class SoundHost(Protocol):
    """What the sounds need of the daemon: its events, its speaker, its profile (both read
    at each event: a reload or a reopened device is followed)."""

    events: EventBus
    sink: AudioSink | None
    profile: Profile
    stopping: asyncio.Event  # set by SIGINT/SIGTERM


class KioskSounds:
    def __init__(self, host: SoundHost) -> None:
        self._host = host
        self._clips: dict[str, np.ndarray] = {}
        self._clips_for: tuple[object, ...] | None = None
        self._loading: asyncio.Future[dict[str, np.ndarray]] | None = None
        self._pending: list[KioskEvent] = []  # what arrived while the clips were loading
        self._tone: Voice | None = None
        self._mixer: SoundMixer | None = None
        self._unlisten = host.events.listen(self._on_event)

    def close(self) -> None:
        self._unlisten()

    # ---- events (on the loop, never blocking) -------------------------------------------
    def _on_event(self, event: KioskEvent) -> None:
        if event.kind not in ACTED_ON:
            return
        mixer = self._mixer_now()
        if mixer is None:
            return
        if self._loading is not None:
            self._pending = [*self._pending[-(MAX_PENDING - 1):], event]
            return
        self._act(mixer, event)

    def _act(self, mixer: SoundMixer, event: KioskEvent) -> None:
        kind = event.kind
        if kind in STOP_TONE:
            mixer.stop(self._tone)
            self._tone = None
        if kind == events.ASSISTANT_SPEAKING:  # no sound over the assistant's words
            mixer.stop_all()
            self._tone = None
        elif kind == events.TRIGGERED:
            self._play(mixer, "triggered")
        elif kind == events.CONNECTING:
            mixer.stop(self._tone)
            self._tone = self._play(mixer, "connecting", loop=True,
                                    after=mixer.remaining_samples())
        elif kind == events.HANG:
            self._play(mixer, "hang", after=mixer.remaining_samples())
        elif kind == events.ERROR or (kind == events.ENDED and event.fields.get("outcome")
                                      in ("connection-lost", "vapi-failed")):
            # after the chime, and after what the call left queued (a reply sent ahead)
            self._play(mixer, "offline", after=max(mixer.remaining_samples(), self._queued()))

    def _queued(self) -> int:
        """The assistant's audio still queued on the speaker, in samples."""
        sink = self._host.sink
        return 0 if sink is None else int(sink.buffer.depth_ms * sink.sample_rate / 1000)

    def _play(self, mixer: SoundMixer, name: str, *, loop: bool = False,
              after: int = 0) -> Voice | None:
        clip = self._clips.get(name)
        if clip is None:
            return None
        log.debug("sound: %s", name)
        return mixer.play(clip, loop=loop, after=after)

    # ---- the speaker and the clips ------------------------------------------------------
    def _mixer_now(self) -> SoundMixer | None:
        """The current speaker's mixer (made and attached on first use), its clips loaded
        or loading; None when the output is no speaker."""
        sink, p = self._host.sink, self._host.profile
        if sink is None or not sink.is_device or \
                not any(getattr(p.sounds, name) for name in SOUND_KEYS):
            return None
        mixer = sink.buffer.overlay
        if not isinstance(mixer, SoundMixer) or mixer.rate != sink.sample_rate:
            mixer = SoundMixer(sink.sample_rate)
            sink.buffer.overlay = mixer
        self._mixer = mixer
        wanted = (p.sounds, p.audio.output_gain_db, sink.sample_rate)
        if wanted != self._clips_for:  # first use, a reload, another device rate
            self._clips_for, self._clips = wanted, {}
            gain = 10 ** ((p.sounds.volume_db + p.audio.output_gain_db) / 20)
            loading = asyncio.get_running_loop().run_in_executor(
                None, load_clips, p, sink.sample_rate, gain)
            loading.add_done_callback(lambda done: self._loaded(done, wanted))
            self._loading = loading
        return mixer

    def _loaded(self, done: asyncio.Future[dict[str, np.ndarray]],
                wanted: tuple[object, ...]) -> None:
        """On the loop: the clips are there; what happened meanwhile is acted on, in order."""
        if wanted != self._clips_for:
            return  # superseded by a newer load
        self._loading = None
        self._clips = {} if done.cancelled() or done.exception() else done.result()
        pending, self._pending = self._pending, []
        mixer = self._mixer
        for event in pending if mixer is not None else ():
            self._act(mixer, event)

    # ---- before the speaker closes ------------------------------------------------------
    async def finish(self) -> None:
        """Let what is playing end before the speaker is closed (the offline line as a
        `once` daemon exits): the connecting tone is stopped, the rest waited for, for at
        most its remaining length and `FINISH_SLACK_S` (a stalled device is not waited on);
        when a signal is stopping the daemon, everything only fades out."""
        if self._loading is not None:  # the clips (and what waits for them) first
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._loading), LOAD_WAIT_S)
            await asyncio.sleep(0)  # its done callback
        mixer = self._mixer
        sink = self._host.sink
        if mixer is None or sink is None or sink.buffer.overlay is not mixer:
            return
        mixer.stop(self._tone)
        self._tone = None
        if self._host.stopping.is_set():  # asked to stop: fade out, do not hold the exit
            mixer.stop_all()
        if not mixer.busy:
            return
        left = mixer.remaining_samples() / mixer.rate
        limit = min(FINISH_MAX_S, left + FINISH_SLACK_S)
        deadline = time.monotonic() + limit
        while mixer.busy and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if mixer.busy:
            log.debug("sounds still playing as the speaker closes")
        # what is mixed sits in the device's own buffer: let it reach the speaker
        await asyncio.sleep(sink.latency_ms / 1000)
