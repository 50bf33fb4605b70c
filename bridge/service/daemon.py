"""The daemon: profile, API, devices and calls composed into a mode, under systemd or not.

`run()` opens what the daemon holds — the API client (a key Vapi refuses: exit 3,
`key_check.py`), the recording's destination (checked), the devices, the `on_event`
command, the hooks (the control socket and HTTP server: `control`, `web`) — runs its mode
(`modes.py`), each call placed by `one_call.py`, and closes it all, whatever ended it. The
hooks and the signals (`signals.py`) see it as a `snapshot`, `request_call` and
`request_reload`: SIGHUP reloads the profile between calls (a broken one is refused; in
`once` mode ignored); SIGINT/SIGTERM end the call and the daemon. Under systemd: READY=1
once the profile is loaded and the devices open, STATUS= with each state (`set_state`),
the watchdog."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections import deque
from collections.abc import Callable
from typing import Any

from bridge import events
from bridge.audio.base import AudioSink, AudioSource
from bridge.call import wiring
from bridge.call.destination import check_destination
from bridge.call.lifecycle import Call
from bridge.call.summary import CallSummary
from bridge.errors import AudioDeviceError
from bridge.events import EventBus
from bridge.profile import Profile
from bridge.service import on_event
from bridge.service.idle import IdleDevices
from bridge.service.jobs import Jobs
from bridge.service.key_check import KeyCheck
from bridge.service.modes import Modes
from bridge.service.notify import Notifier, stop_status, watchdog_loop
from bridge.service.one_call import CallView, call_once
from bridge.service.placing import EventHook, waits_for_devices
from bridge.service.reload import Reloads
from bridge.service.screen import Screen
from bridge.service.signals import install_signals
from bridge.service.snapshot import snapshot
from bridge.service.sounds import KioskSounds
from bridge.service.spending import SpendingGuard
from bridge.service.standby import WakeWord
from bridge.vapi.api import VapiApi

log = logging.getLogger("bridge.daemon")

# the control socket, run while the daemon is up (given the daemon and its profile)
ControlSocket = Callable[["Daemon", Profile], contextlib.AbstractAsyncContextManager[object]]


class Daemon:
    def __init__(self, profile: Profile, *, reload_from: str | None = None,
                 overrides: list[str] | None = None, fault: str | None = None,
                 audio: tuple[AudioSource, AudioSink] | None = None,
                 hooks: list[EventHook] | None = None, view: CallView | None = None,
                 control: ControlSocket | None = None, stop: asyncio.Event | None = None,
                 web: ControlSocket | None = None) -> None:
        self.profile = profile
        self.fault, self.hooks, self.view, self._injected_audio = fault, hooks or [], view, audio
        self.control, self.web = control, web  # the control socket; the HTTP server
        self.http = Screen(lambda: self.set_state(self.state, again=True))  # what is served
        self.call: Call | None = None
        self.transcript: deque[tuple[str, str]] = deque(maxlen=events.LINES)  # ctl status
        self.last_summary: CallSummary | None = None
        self.state = "starting"
        self.notifier = Notifier()
        self.events = EventBus()  # the kiosk's events (`bridge.events`)
        self.sounds = KioskSounds(self)  # chime, tone, offline line (`sounds:`)
        self.spending = SpendingGuard(lambda: self.profile, self.events, lambda: self.api)
        self.source: AudioSource | None = None
        self.sink: AudioSink | None = None
        self.api: VapiApi | None = None
        self.stopping = stop or asyncio.Event()
        self.modes = Modes(self)  # the mode's loop, and the call asked for (`modes.py`)
        self.reloads = Reloads(reload_from, overrides or [], self.notifier)  # SIGHUP
        self.jobs = Jobs()  # work in the background (`jobs.py`)
        self.key = KeyCheck(self.stopping, lambda: self.modes.calling, lambda: self.api)
        self.wake = WakeWord(self, self.open_audio)  # trigger.wake_word (service/standby.py)
        self.idle = IdleDevices(self, lambda: self.wake.detector is not None, self.close_audio)

    # ---- the control socket's Host, and signals -----------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return snapshot(self.profile, self.state + self.reloads.note, self.source, self.sink,
                        self.call, self.transcript, self.last_summary, self.spending.snapshot(),
                        self.wake.status(), self.http.served, self.events.failure)

    def request_call(self, cause: str = "ctl") -> str | None:
        """Start a call in standby mode (`Modes.request`): why not, or None."""
        return self.modes.request(cause)

    def request_reload(self) -> None:
        # the call, its goodbye playing out, its summary: not cut
        if self.reloads.request(self.profile.service.mode, busy=self.modes.calling):
            self.apply_reload()

    def apply_reload(self) -> None:
        """The reload asked for, if any, taken now (no call under way)."""
        if not self.reloads.due():
            return
        read = self.reloads.read()
        if read is not None and self.reloads.refused(self.profile, read[0]):
            self.jobs.start(read[1].aclose())
        elif read is not None:
            new, api = self.reloads.kept(self.profile, read[0]), read[1]
            if new.wire != self.profile.wire or new.audio != self.profile.audio:
                self.close_audio()
            self.jobs.retire(self.api)  # no call uses it: reloads wait for calls
            self.api, self.profile = api, new
            self.key.start(self.jobs, api, new)  # a key refused: exit 3 (key_check.py)
            self.spending.settler.kick()  # calls not counted yet, asked through the new API
            self.spending.say_if_reached()  # a limit lowered to what today has used
            self.reloads.applied.set()
            log.info("profile reloaded from %s (mode %s)", new.origin, new.service.mode)
            for line in new.warning_lines():
                log.warning("%s", line)
        self.notifier.ready()  # a reload always ends with READY=1 (sd_notify protocol)
        self.set_state(self.state, again=True)

    # ---- run ---------------------------------------------------------------------------
    async def run(self) -> int:
        install_signals(self)
        watchdog: asyncio.Task[None] | None = None
        try:
            self.api = wiring.calling_api(self.profile)
            self.key.start(self.jobs, self.api, self.profile)  # refused: exit 3
            if self.profile.record.path:  # a recording that cannot be made: exit 2 now
                check_destination(self.profile.record.path, self.profile.name)
            self.open_audio(at_start=True)
            async with contextlib.AsyncExitStack() as servers:  # before READY: ctl works then
                await servers.enter_async_context(on_event.running(self))
                for serve in filter(None, (self.control, self.web)):  # the lock first
                    self.http.add(await servers.enter_async_context(serve(self, self.profile)))
                self.notifier.ready()
                self.spending.start()  # an earlier daemon's calls (holding the lock)
                self.spending.say_if_reached()  # a limit reached already: said now
                self.set_state("ready")
                if self.notifier.enabled:
                    watchdog = asyncio.create_task(watchdog_loop(self.notifier))
                return await self.modes.run()
        finally:  # a fatal error stays in `systemctl status` (Status:) while the unit is down
            self.notifier.stopping(stop_status(sys.exc_info()[1]))
            if watchdog is not None:
                watchdog.cancel()
            await self.sounds.finish()  # the offline line ends before the speaker closes
            self.close_audio()
            await self.spending.aclose()
            await self.jobs.aclose(self.api)
            self.notifier.close()

    async def call_once(self) -> int:
        """One call of the mode's loop (`one_call.py`)."""
        return await call_once(self)

    def cut_tail(self) -> bool:  # fade a goodbye playing out: stopping, or a call asked for
        return self.stopping.is_set() or self.modes.wanted.is_set()

    def set_state(self, state: str, *, again: bool = False) -> None:
        """The state, and systemd's STATUS= line when it changed (or `again`)."""
        if state != self.state or again:
            self.state = state
            self.notifier.status(f"{self.profile.name}: {state}{self.http.note}{self.reloads.note}")

    # ---- audio --------------------------------------------------------------------------
    def open_audio(self, *, at_start: bool = False) -> None:
        if self.source is None:
            try:
                self.source, self.sink = wiring.start_audio(self.profile, self._injected_audio)
            except AudioDeviceError as exc:  # a USB device unplugged a while (placing.py)
                if not at_start or not waits_for_devices(self.profile, exc):
                    raise
                log.error("%s; the daemon waits, and opens it again for the next call", exc)

    def close_audio(self) -> None:
        wiring.close_audio(self.source, self.sink)
        self.source = self.sink = None
