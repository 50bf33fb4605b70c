"""The daemon: profile, API, devices and calls composed into a mode, under systemd or not.

Modes (`service.mode`): `once` places one call and exits; `standby` places a call on `ctl
call`, SIGUSR1 or the wake word (`standby.py`), then waits again, devices idle (`idle.py`);
`loop` calls again after `loop_delay_seconds`, backing off (up to `max_backoff_seconds`)
while calls fail. SIGHUP reloads the profile between calls (a broken one is refused; in
`once` mode ignored); SIGINT/SIGTERM end the call and the daemon; a key Vapi refuses, exit 3
(`key_check.py`). Hooks: the control socket and HTTP server (`control`, `web`). Under
systemd: READY=1 once the profile is loaded and the devices open, STATUS=, the watchdog."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from bridge import events
from bridge.aio import wait_any
from bridge.audio.base import AudioSink, AudioSource
from bridge.call import wiring
from bridge.call.abandon import end_if_lost
from bridge.call.destination import DestinationError, check_destination
from bridge.call.lifecycle import Call
from bridge.call.summary import CallSummary
from bridge.call.tail import play_out
from bridge.errors import AudioDeviceError, BridgeError, ExitCode, NetworkError
from bridge.events import EventBus
from bridge.profile import Profile
from bridge.service import kiosk_events, on_event
from bridge.service.idle import IdleDevices
from bridge.service.jobs import Jobs
from bridge.service.key_check import KeyCheck
from bridge.service.notify import Notifier, stop_status, watchdog_loop
from bridge.service.placing import CallWatcher, EventHook, place_call, waits_for_devices
from bridge.service.progress import call_status, count_down, loop_delay
from bridge.service.reload import Reloads
from bridge.service.screen import Screen
from bridge.service.signals import install_signals
from bridge.service.snapshot import snapshot
from bridge.service.sounds import KioskSounds
from bridge.service.spending import SPENDING_EXIT, SpendingGuard, paused_state
from bridge.service.standby import WakeWord
from bridge.vapi import messages
from bridge.vapi.api import VapiApi

log = logging.getLogger("bridge.daemon")
SPENDING_POLL_S = 10.0  # loop mode at a spending limit: how often it looks again

class CallView(Protocol):
    """What a front end shows of each call (the CLI's transcript lines and status line):
    given to the daemon, so the service layer knows nothing of terminals."""

    def hooks(self, profile: Profile) -> list[EventHook]: ...
    def watchers(self, call: Call) -> list[CallWatcher]: ...


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
        self.http = Screen(lambda: self._set_state(self.state, again=True))  # what is served
        self.call: Call | None = None
        self.transcript: deque[tuple[str, str]] = deque(maxlen=events.LINES)  # ctl status
        self.last_summary: CallSummary | None = None
        self.state, self._cause = "starting", "start"  # _cause: what triggered the next call
        self.notifier = Notifier()
        self.events = EventBus()  # the kiosk's events (`bridge.events`)
        self.sounds = KioskSounds(self)  # chime, tone, offline line (`sounds:`)
        self.spending = SpendingGuard(lambda: self.profile, self.events, lambda: self.api)
        self.source: AudioSource | None = None
        self.sink: AudioSink | None = None
        self.api: VapiApi | None = None
        self.stopping = stop or asyncio.Event()
        self._trigger, self._calling = asyncio.Event(), False  # _calling: until its goodbye played
        self.reloads = Reloads(reload_from, overrides or [], self.notifier)  # SIGHUP
        self.jobs = Jobs()  # work in the background (`jobs.py`)
        self.key = KeyCheck(self.stopping, lambda: self._calling, lambda: self.api)
        self.wake = WakeWord(self, self._open_audio)  # trigger.wake_word (service/standby.py)
        self.idle = IdleDevices(self, lambda: self.wake.detector is not None, self._close_audio)

    # ---- the control socket's Host, and signals -----------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return snapshot(self.profile, self.state + self.reloads.note, self.source, self.sink,
                        self.call, self.transcript, self.last_summary, self.spending.snapshot(),
                        self.wake.status(), self.http.served, self.events.failure)

    def request_call(self, cause: str = "ctl") -> str | None:
        """Start a call in standby mode (`cause`: ctl, signal, wake-word, http). Returns
        why not, or None when accepted."""
        if self.profile.service.mode != "standby":
            return f"the daemon is in {self.profile.service.mode} mode, not standby"
        if (self.call is not None and not self.call.done) or self._trigger.is_set():
            return "a call is already in progress"
        if cause in ("ctl", "http") and (refusal := self.spending.asked()):
            return refusal  # an operator's request: told, not chimed and apologised for
        self._cause = cause
        self._trigger.set()
        return None

    def request_reload(self) -> None:
        # the call, its goodbye playing out, its summary: not cut
        if self.reloads.request(self.profile.service.mode, busy=self._calling):
            self._apply_reload()

    def _apply_reload(self) -> None:
        if not self.reloads.due():
            return
        read = self.reloads.read()
        if read is not None and self.reloads.refused(self.profile, read[0]):
            self.jobs.start(read[1].aclose())
        elif read is not None:
            new, api = self.reloads.kept(self.profile, read[0]), read[1]
            if new.wire != self.profile.wire or new.audio != self.profile.audio:
                self._close_audio()
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
        self._set_state(self.state, again=True)

    # ---- run ---------------------------------------------------------------------------
    async def run(self) -> int:
        install_signals(self)
        watchdog: asyncio.Task[None] | None = None
        try:
            self.api = wiring.calling_api(self.profile)
            self.key.start(self.jobs, self.api, self.profile)  # refused: exit 3
            if self.profile.record.path:  # a recording that cannot be made: exit 2 now
                check_destination(self.profile.record.path, self.profile.name)
            self._open_audio(at_start=True)
            async with contextlib.AsyncExitStack() as servers:  # before READY: ctl works then
                await servers.enter_async_context(on_event.running(self))
                for serve in filter(None, (self.control, self.web)):  # the lock first
                    self.http.add(await servers.enter_async_context(serve(self, self.profile)))
                self.notifier.ready()
                self.spending.start()  # an earlier daemon's calls (holding the lock)
                self.spending.say_if_reached()  # a limit reached already: said now
                self._set_state("ready")
                if self.notifier.enabled:
                    watchdog = asyncio.create_task(watchdog_loop(self.notifier))
                return await self._modes()
        finally:  # a fatal error stays in `systemctl status` (Status:) while the unit is down
            self.notifier.stopping(stop_status(sys.exc_info()[1]))
            if watchdog is not None:
                watchdog.cancel()
            await self.sounds.finish()  # the offline line ends before the speaker closes
            self._close_audio()
            await self.spending.aclose()
            await self.jobs.aclose(self.api)
            self.notifier.close()

    async def _modes(self) -> int:
        failures = 0
        while not self.stopping.is_set() and self.key.refused is None:  # (once: its call's)
            mode = self.profile.service.mode
            if mode == "standby":
                self._set_state(self.spending.standby_state())
                self.events.publish(events.STANDBY)
                if not await self.wake.wait(self.idle.waiting(self._wait_for(self._trigger))):
                    break
            self.events.publish(events.TRIGGERED, cause=self._cause)
            self._trigger.clear()  # from here a request is for the next call (see _cut_tail)
            self._calling = True
            code = await self.spending.refuse() or (  # refused: 3; stopped meanwhile: none
                ExitCode.OK if self.stopping.is_set() else await self._call_once())
            self._cause, self._calling = "loop", False
            if mode == "once" or self.key.refused is not None:  # refused as it was placed:
                return self.key.outcome(code)  # exit 3 now, no wait (once: never refused)
            failures = failures + 1 if code != ExitCode.OK else 0
            self._apply_reload()
            if mode == "loop" and code == SPENDING_EXIT:  # no retries: nothing changes soon
                await self._until_spending_allows()
            elif mode == "loop" and not self.stopping.is_set():
                await count_down(loop_delay(self.profile.service, failures), self._set_state,
                                 partial(self._wait_for, self.stopping), self.stopping)
        return self.key.outcome()  # OK, or Vapi's refusal of the key raised: exit 3

    async def _until_spending_allows(self) -> None:
        """Loop mode at a spending limit: no call, chime or offline line until one is allowed
        (tomorrow, a higher limit, no totals file), looked at each reload or SPENDING_POLL_S."""
        self._set_state(paused_state(self.spending.refused))
        while self.spending.recheck():
            self.reloads.applied.clear()
            if not await self._wait_for(self.reloads.applied, SPENDING_POLL_S):
                return
        self._trigger.clear()  # a request made meanwhile (a reload to standby) is stale

    async def _call_once(self) -> int:
        """One call; network failures end it with code 5, a device missing with 4 (fatal
        only in `once` mode)."""
        try:
            self._open_audio()
        except AudioDeviceError as exc:
            if not waits_for_devices(self.profile, exc):
                raise
            log.error("%s; no call placed: the devices are looked for again at the next "
                      "call", exc)
            kiosk_events.publish_error(self.events, exc)
            return exc.exit_code
        assert self.api is not None and self.source is not None and self.sink is not None
        p = self.profile
        if not self.source.is_device and not p.trigger.wake_word:  # not heard in standby:
            self.source.start()  # a `file:` visitor speaks from its start at each call
        call = Call(p, self.api, self.source, self.sink,
                    recorder=wiring.make_recorder(p, self._cut_tail), fault=self.fault)
        self.call = call
        call.turns.publish = self.events.publish  # turn{heard_gap_ms, turn}
        self.transcript.clear()  # `ctl status` shows this call's lines, not the last one's
        self._set_state("calling")
        self.events.publish(events.CONNECTING)
        status = asyncio.create_task(call_status(call, self._set_state, self.events.publish))
        hooks = [*(self.view.hooks(p) if self.view else []), self._remember, *self.hooks,
                 kiosk_events.publisher(self.events)]
        watchers = self.view.watchers(call) if self.view else []
        try:
            summary = await place_call(call, self.stopping, hooks, watchers,
                                       started=self._in_call)
        except BridgeError as exc:  # could not place it, or the record directory went away
            kiosk_events.publish_error(self.events, exc)  # with its cause
            if p.service.mode == "once" or not isinstance(exc, NetworkError | DestinationError):
                raise
            log.error("%s", exc)
            return exc.exit_code
        finally:
            status.cancel()
        if call.info is None:  # stopped while the call was being created
            log.info("stopped while the call was being created: a call Vapi made meanwhile "
                     "ends by itself once Vapi gives up waiting for its socket")
            self.events.publish(events.ENDED, reason="stopped", outcome="not placed", exit=0)
            return ExitCode.OK
        self.last_summary = summary
        self.events.publish(events.ENDED, reason=summary.ended_reason,
                            outcome=summary.outcome, seconds=round(summary.duration_s, 1),
                            cost=summary.cost, exit=int(summary.exit_code))
        self._set_state(f"call ended: {summary.ended_reason}")
        print(summary.line(), file=sys.stdout, flush=True)
        self.jobs.ending(end_if_lost(call, self.spending.settler.lost))  # (offline line first)
        log.debug("uplink: %s; playout: %s", summary.uplink, summary.playout)
        if summary.exit_code == ExitCode.AUDIO:
            self._close_audio()  # reopened (or reported missing) before the next call
        elif p.service.mode != "standby" and self.sink is not None:
            await play_out(self.sink, self._cut_tail)  # a goodbye sent whole, heard whole
        return summary.exit_code

    def _cut_tail(self) -> bool:  # fade a goodbye playing out: stopping, or a call asked for
        return self.stopping.is_set() or self._trigger.is_set()

    def _in_call(self, call: Call) -> None:
        self.spending.opened(call.info)  # counted, should the daemon die in the call
        self.events.publish(events.IN_CALL, call=call.short_id)

    def _remember(self, event: messages.Event) -> None:
        if isinstance(event, messages.Transcript) and event.final and event.text:
            self.transcript.append((event.role, event.text))  # (a final with no text: none)

    def _set_state(self, state: str, *, again: bool = False) -> None:
        """The state, and systemd's STATUS= line when it changed (or `again`)."""
        if state != self.state or again:
            self.state = state
            self.notifier.status(f"{self.profile.name}: {state}{self.http.note}{self.reloads.note}")

    async def _wait_for(self, event: asyncio.Event, timeout: float | None = None) -> bool:
        """Wait for `event` (or the timeout); False when the daemon is stopping instead."""
        await wait_any(*{self.stopping, event}, timeout=timeout)
        return not self.stopping.is_set()

    # ---- audio --------------------------------------------------------------------------
    def _open_audio(self, *, at_start: bool = False) -> None:
        if self.source is None:
            try:
                self.source, self.sink = wiring.start_audio(self.profile, self._injected_audio)
            except AudioDeviceError as exc:  # a USB device unplugged a while (placing.py)
                if not at_start or not waits_for_devices(self.profile, exc):
                    raise
                log.error("%s; the daemon waits, and opens it again for the next call", exc)

    def _close_audio(self) -> None:
        wiring.close_audio(self.source, self.sink)
        self.source = self.sink = None
