"""One call's lifecycle: create → connect at once → stream both ways → end → summary.

```python
async with Call(profile, api, source, sink) as call:
    async for event in call.events():
        ...
print(call.summary.line())
```

Leaving the block ends the call if it is still up (sending `end-call`, waiting briefly for
Vapi's `ended`, then closing) and reads the outcome with `GET /call/{id}`. What to show of
the events is the caller's business. The parts a call runs are their own modules: the
audio paths (`paths`), the call socket (`bridge.vapi.socket`), commands out
(`bridge.vapi.commands`), barge-in (`bargein`), the state (`state`), the summary
(`summary`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.exceptions import ConnectionClosed

from bridge.aio import wait_any
from bridge.audio.base import AudioSink, AudioSource
from bridge.audio.playout import PlayoutStats
from bridge.call.abandon import end_lost
from bridge.call.bargein import BargeIn
from bridge.call.clock import CallClock
from bridge.call.eventqueue import EventQueue
from bridge.call.paths import build_paths
from bridge.call.recording import Recorder
from bridge.call.state import CallState, VapiStatus, shown
from bridge.call.summary import CONNECTION_LOST, CallSummary, DeviceShare, summarise
from bridge.call.turns import VISITOR_LEFT, Turns
from bridge.call.watchdog import down_wait, watch
from bridge.call.wiring import create_call
from bridge.errors import AudioDeviceError, NetworkError, NoCall, ProfileError, Refused
from bridge.profile import public_key
from bridge.profile.model import Profile
from bridge.vapi import messages
from bridge.vapi.api import VapiApi
from bridge.vapi.callinfo import CallInfo
from bridge.vapi.commands import CallCommands
from bridge.vapi.socket import CallSocket

log = logging.getLogger("bridge.call")


class Call:
    """One call: `state` where it is in its life (`CallState`), `vapi` what Vapi says of it,
    `status` the one word shown; `commands` sends Vapi client commands to it."""

    def __init__(self, profile: Profile, api: VapiApi, source: AudioSource, sink: AudioSink, *,
                 recorder: Recorder | None = None, fault: str | None = None) -> None:
        self.profile, self.api, self.source, self.sink = profile, api, source, sink
        self.recorder, self.fault = recorder, fault
        me = weakref.proxy(self)  # what its parts call back through: no cycle holds an ended
        # call (and its buffers, megabytes after a flood) until a full garbage collection
        self.uplink, self.downlink = build_paths(profile, source, sink,
                                                 lambda frame: me._socket.send(frame), recorder)
        self.info: CallInfo | None = None
        self.state = CallState.CREATING
        self.ended_reason: str | None = None
        self.vapi = VapiStatus()  # what Vapi says of the call
        self.device_error: str | None = None  # a device failed for good and ended the call
        self.summary: CallSummary | None = None
        self.stop_setup = asyncio.Event()  # end asked before the call was up (`hangup`)
        self.barge_in = BargeIn(profile.create_body(), self.downlink, sink, api.client_messages)
        self.devices = DeviceShare(source, sink)
        self.turns = Turns(sink, recorder, profile.call.end_when_visitor_leaves_seconds)
        self.commands = call_commands(me, api, profile)
        self._socket: CallSocket | None = None
        self._events = EventQueue()
        self.events = self._events.events  # every server event, until the call is over
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = asyncio.Event()  # the socket is closed: state ENDED
        self.clock = CallClock()
        self.playout_at_close: PlayoutStats | None = None  # the call's, as the socket closed

    async def __aenter__(self) -> Call:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self.recorder is not None:
            self.recorder.check()  # before a call exists: a bad record.path costs nothing
        self.info = self.commands.info = await create_call(self.api, self.profile, self.fault)
        log.info("call %s created (%s %d Hz)", self.short_id, self.profile.wire.format,
                 self.profile.wire.sample_rate)
        self.barge_in.announce(self.short_id)
        if self.recorder is not None:
            self.recorder.open(self.info.id)
        self.state = CallState.CONNECTING
        self._socket = await CallSocket.open(self.info.websocket_url, self.short_id)
        self.clock.start()
        self.state = CallState.IN_CALL
        self.devices.start()  # count from here: the call's share
        devices = [self._watch_device(b.supervise) for b in (self.source, self.sink)
                   if b.is_device]
        self._tasks = [asyncio.create_task(job, name=name) for job, name in (
            (self._run_uplink(), "uplink"), (self._receive(), "downlink"),
            (self._watch_socket(), "socket-watchdog"), (self.turns.run(self), "turns"),
            *((d, "device") for d in devices))]

    done = property(lambda self: self._closed.is_set(), doc="the socket is closed: ENDED")

    @property
    def status(self) -> str:
        """The one word people see (`state.shown`)."""
        return shown(self.state, self.vapi)

    @property
    def short_id(self) -> str:
        # Vapi's ids are UUIDv7: the head is a timestamp shared by calls a minute apart
        return self.info.id[-8:] if self.info else "--------"

    elapsed_s = property(lambda self: self.clock.elapsed_s, doc="`CallClock.elapsed_s`")

    malformed = property(lambda self: self._socket.malformed if self._socket else 0,
                         doc="server messages dropped: unparseable, or too big to read")

    interruptions = property(lambda self: self.barge_in.interruptions, doc="barge-ins")
    stalled_s = property(lambda self: None if self._socket is None or self.done else
                         self._socket.stalled_s, doc="`CallSocket.stalled_s` while the call is up")

    async def send_command(self, command: dict[str, Any]) -> None:
        """On the call socket, as it is (`commands.send` picks the path and words errors)."""
        if self._socket is None or self.done:
            raise NetworkError("no call in progress")
        await self._socket.send_command(command)

    async def end(self) -> None:
        """Ask Vapi to end the call, wait briefly for it, then close our side."""
        if self._socket is None or self.state is not CallState.IN_CALL:
            return
        self.state = CallState.ENDING
        self.downlink.end(cut=not self.vapi.ended.is_set(), label=self.short_id)  # ours: cut
        self.vapi.end_sent = True  # (on a dead socket it goes nowhere: see `summarise`)
        with contextlib.suppress(Exception):
            await self.send_command(messages.end_call(self.profile.call.end_command))
        await wait_any(self.vapi.ended, self._closed, timeout=self.profile.call.end_timeout_seconds)
        await self._socket.close()

    async def close(self) -> None:
        """End if needed, stop both paths, and read the outcome."""
        if self.summary is not None:
            return
        try:
            await self.end()
        finally:
            self.downlink.end(label=self.short_id)
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []  # (their tracebacks hold the call's frames)
            self._set_closed()
            if self.recorder is not None:
                await self.recorder.aclose(connected=self._socket is not None)
        try:
            summary = self.summary = await summarise(self, functools.partial(
                end_lost, self.commands, self.profile.call, self.short_id, self.vapi.follow_up))
            if self.recorder is not None and self.info is not None:  # a slow disk: off the loop
                await asyncio.to_thread(self.recorder.note_end, self.info.id, summary.ended_reason)
        finally:
            if self.info is not None:
                self.info.release_secrets()

    def _set_closed(self) -> None:
        self.state = CallState.ENDED
        self.clock.stop()
        self._closed.set()
        self._events.push(None)

    async def _run_uplink(self) -> None:
        assert self._socket is not None
        try:
            await self.uplink.run()
        except ConnectionClosed:  # the receiver judges, from Vapi's last words and close code
            return
        except TimeoutError:
            if self.state is CallState.IN_CALL and not self.vapi.ended.is_set():
                self._lost("uplink: send timed out")
            await self._socket.close()

    async def _receive(self) -> None:
        assert self._socket is not None
        try:
            await self._socket.receive(self.downlink.on_audio, self._on_event)
        finally:
            # the stream is over: what the speaker does from here (running dry) is no fault
            self.downlink.end()
            self.playout_at_close = self.downlink.playout_stats()
            code = self._socket.close_code
            if self.ended_reason is None and self.state is CallState.IN_CALL:
                if code == 1000:
                    self.ended_reason = "remote-closed"
                    log.info("call %s: the call socket was closed by Vapi", self.short_id)
                else:  # lost, unless Vapi ended it unsaid: the summary asks, and says which
                    self.ended_reason, self.vapi.closed_unsaid = CONNECTION_LOST, code or 1006
            self._set_closed()

    async def _watch_device(self, supervise: Callable[[], Awaitable[None]]) -> None:
        """A device that fails for good (its reopen attempts spent) ends the call."""
        try:
            await supervise()
        except AudioDeviceError as exc:
            if self.device_error is None and self.state is CallState.IN_CALL:
                self.device_error = str(exc)
                log.error("call %s: %s — ending the call", self.short_id, exc)
                await self.end()

    async def _watch_socket(self) -> None:  # `watchdog`: a link that carries nothing
        assert self._socket is not None and self.info is not None
        lost = await watch(self._socket, self.api, self.info.id, self.vapi.ended,
                           self.profile.call.end_timeout_seconds, self.short_id, self.downlink)
        if lost and self.state is CallState.IN_CALL:
            self._lost(lost)
            self.vapi.watch_lost = self.ended_reason == CONNECTION_LOST  # `end_if_lost`
        await self._socket.close()

    def _lost(self, detail: str) -> None:
        if self.ended_reason is None:
            self.ended_reason = CONNECTION_LOST
            log.warning("call %s: connection lost (%s)", self.short_id, detail)
        self.state = CallState.ENDED  # the socket is closed next, and the events end then
        self._closed.set()

    def _on_event(self, event: messages.Event) -> None:
        self.turns.on_event(event)  # heard gaps, and who was heard last
        if isinstance(event, messages.TransferUpdate):  # named if the transfer fails
            self.vapi.transfer = event.to if event.to.startswith("sip") else \
                " ".join(filter(None, (event.destination, event.to)))
        if isinstance(event, messages.StatusUpdate):
            if self.vapi.update(event, self.short_id, VISITOR_LEFT if self.turns.left else None):
                self.ended_reason = event.ended_reason or self.ended_reason or "ended"
                self.downlink.end(maybe=True)  # the socket open: a goodbye may follow
        elif self.barge_in.on_event(event, self.short_id):
            pass
        elif self.recorder:
            self.recorder.on_event(event)  # final transcripts, tool calls
        if isinstance(event, messages.UnknownEvent):
            log.debug("call %s: %s", self.short_id, event.type)
        self._events.push(event, self._socket.last_size if self._socket else 0)


def call_commands(me: Call, api: VapiApi, profile: Profile) -> CallCommands:
    """The call's `commands` (`me`: the call, through its weak proxy)."""
    return CallCommands(api, lambda c: me.send_command(c),
        via=profile.call.commands_via, public_key=control_key(profile),
        allow_plaintext=profile.api.allow_plaintext, timeout=profile.api.timeout_seconds,
        check=lambda: ensure_live(me), sent=lambda c: me.barge_in.after_command(c, me.short_id),
        refused=lambda c: me.barge_in.withdrawn(c),
        down_wait=lambda: down_wait(me.stalled_s, profile.api.timeout_seconds))


def ensure_live(call: Call | None) -> Call:
    """The call, if commands can go to it now; else a one-line refusal."""
    if call is None:
        raise NoCall("no call in progress")
    if call.state.over or call.vapi.ended.is_set():  # done: ENDED
        reason = call.ended_reason or call.status
        raise NoCall(f"no call in progress (call {call.short_id} ended: {reason})")
    if call.info is None or call.state.setting_up:
        raise Refused("the call is still being set up; try again in a moment")
    return call


def control_key(profile: Profile) -> Callable[[], str] | None:
    """What authenticates a POST to the controlUrl: None unless `call.control_auth` is on;
    the key is read when a POST needs it."""
    if not profile.call.control_auth:
        return None

    def key() -> str:
        value = public_key(profile)
        if not value:
            raise ProfileError("call.control_auth is on but no public key is set (env "
                               f"{profile.api.public_key_env}, api.public_key_file or the "
                               f"credential vapi-public-key)")
        return value

    return key
