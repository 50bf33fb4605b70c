"""One call's lifecycle: create → connect at once → stream both ways → end → summary.

```python
async with Call(profile, api, source, sink) as call:
    async for event in call.events():
        ...
print(call.summary.line())
```

Leaving the block ends the call if it is still up (sending `end-call`, waiting briefly for
Vapi's `ended`, then closing) and reads the outcome with `GET /call/{id}`. Barge-in and
call state are handled here; what to show of the events is the caller's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from bridge import USER_AGENT
from bridge.aio import wait_any
from bridge.audio.base import AudioSink, AudioSource, DeviceStats
from bridge.audio.codec import codec_for
from bridge.audio.echo import echo_path
from bridge.audio.playout import PlayoutStats
from bridge.call.downlink import Downlink
from bridge.call.recording import Recorder
from bridge.call.summary import CONNECTION_LOST, CallSummary, outcome
from bridge.call.uplink import Uplink
from bridge.errors import AudioDeviceError, NetworkError
from bridge.profile.model import Profile
from bridge.retry import SOCKET_CONNECT
from bridge.vapi import messages
from bridge.vapi.api import CallInfo, VapiApi
from bridge.vapi.interruptions import BargeInRule
from bridge.vapi.net import untrusted, ws_options

log = logging.getLogger("bridge.call")

NORMAL_CLOSE_CODES = (1000, 1001, 1005, 1006)
SEND_TIMEOUT_S = 5.0  # a send blocked this long means the connection is gone
SILENCE_TIMEOUT_S = 8.0  # Vapi streams audio all call long: this much nothing is a dead link
MAX_MESSAGE = 16 * 2**20  # accepted by the socket; beyond MAX_USEFUL it is dropped and counted
MAX_USEFUL = 2**20


class Call:
    def __init__(self, profile: Profile, api: VapiApi, source: AudioSource, sink: AudioSink, *,
                 recorder: Recorder | None = None, fault: str | None = None) -> None:
        self.profile = profile
        self.api = api
        self.source = source
        self.sink = sink
        self.fault = fault
        self.recorder = recorder
        wire = profile.wire
        echo, far_end = echo_path(profile.audio.echo, source, sink)
        self.uplink = Uplink(source, codec_for(wire.format), wire.sample_rate, self._send_audio,
                             gain=10 ** (profile.audio.input_gain_db / 20),
                             tap=recorder.on_uplink if recorder else None,
                             echo=echo, far_end=far_end)
        self.downlink = Downlink(codec_for(wire.format), wire.sample_rate, sink,
                                 gain=10 ** (profile.audio.output_gain_db / 20),
                                 bounds_ms=(profile.audio.playout_min_ms,
                                            profile.audio.playout_max_ms),
                                 block_ms=profile.audio.block_ms,
                                 start_ms=profile.audio.playout_start_ms)
        if recorder is not None:  # the recording's right leg: what the speaker plays
            recorder.attach_speaker(sink, self.uplink.frame_captured_at)
        self.info: CallInfo | None = None
        self.status = "creating"
        self.ended_reason: str | None = None
        self.summary: CallSummary | None = None
        self.malformed = 0
        self._ws: ClientConnection | None = None
        self._events: asyncio.Queue[messages.Event | None] = asyncio.Queue(maxsize=1000)
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = asyncio.Event()
        self._ended = asyncio.Event()
        self._ending = False
        self._started_mono = 0.0
        self._last_message = 0.0
        self._assistant_started_at = 0
        self.assistant_speaking = False
        self.interruptions = 0
        self._barge_in_rule = BargeInRule.for_call(profile.create_body())
        self._playout_at_close: PlayoutStats | None = None
        self.device_error: str | None = None
        self._device_base: DeviceStats | None = None

    # ---- lifecycle --------------------------------------------------------------------
    async def __aenter__(self) -> Call:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self.recorder is not None:
            self.recorder.check()  # before a call exists: a bad record.path costs nothing
        self.info = await self.api.create_call(self.profile.create_body(), fault=self.fault)
        log.info("call %s created (%s %d Hz)", self.short_id, self.profile.wire.format,
                 self.profile.wire.sample_rate)
        if not self._barge_in_rule.interrupted_sent:
            log.info("call %s: clientMessages leave out user-interrupted, so the speaker is "
                     "flushed whenever the visitor starts speaking, even where Vapi does not "
                     "interrupt (add user-interrupted to clientMessages)", self.short_id)
        if self.recorder is not None:
            self.recorder.open(self.info.id)
        self.status = "connecting"
        self._ws = await self._connect(self.info.websocket_url)
        self._started_mono = self._last_message = time.monotonic()
        self.status = "connected"
        self._device_base = self._device_totals()  # count from here: the call's share
        self._tasks = [
            asyncio.create_task(self._run_uplink(), name="uplink"),
            asyncio.create_task(self._receive(), name="downlink"),
            asyncio.create_task(self._watch_silence(), name="downlink-watchdog"),
        ]
        for backend in (self.source, self.sink):
            if backend.is_device:
                self._tasks.append(asyncio.create_task(self._watch_device(backend.supervise),
                                                       name="device"))

    async def _connect(self, url: str) -> ClientConnection:
        last = ""
        policy = SOCKET_CONNECT
        for attempt in range(1, policy.attempts + 1):
            try:
                return await connect(url, user_agent_header=USER_AGENT, compression=None,
                                     max_size=MAX_MESSAGE, ping_interval=5, ping_timeout=10,
                                     close_timeout=1, open_timeout=10, **ws_options(url))
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                refusal = untrusted(exc, "the call socket")
                if refusal is not None:
                    raise refusal from None
                last = exc.__class__.__name__
                log.warning("call %s: cannot open the call socket (%s); attempt %d of %d",
                            self.short_id, last, attempt, policy.attempts)
                if attempt < policy.attempts:
                    await asyncio.sleep(policy.delay(attempt))
            except InvalidURI:
                raise NetworkError("Vapi returned an unusable websocketCallUrl") from None
        raise NetworkError(f"cannot open the call socket ({last}) — check the network; the "
                           f"call will time out on Vapi's side")

    async def events(self) -> AsyncIterator[messages.Event]:
        """Every server event of the call, until the call is over."""
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event

    @property
    def done(self) -> bool:
        return self._closed.is_set()

    @property
    def short_id(self) -> str:
        # Vapi's ids are UUIDv7: the head is a timestamp shared by calls a minute apart
        return self.info.id[-8:] if self.info else "--------"

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._started_mono if self._started_mono else 0.0

    async def send_command(self, command: dict[str, Any]) -> None:
        if self._ws is None or self._closed.is_set():
            raise NetworkError("no call in progress")
        async with asyncio.timeout(SEND_TIMEOUT_S):
            await self._ws.send(messages.encode(command))
        log.debug("call %s: sent %s", self.short_id, command.get("type"))

    async def end(self) -> None:
        """Ask Vapi to end the call, wait briefly for it, then close our side."""
        if self._ending or self._ws is None:
            return
        self._ending = True
        self.status = "ending"
        if not self._closed.is_set():
            with contextlib.suppress(Exception):
                await self.send_command(messages.end_call(self.profile.call.end_command))
            await wait_any(self._ended, self._closed,
                           timeout=self.profile.call.end_timeout_seconds)
        await self._close_socket()

    async def close(self) -> None:
        """End if needed, stop both paths, and read the outcome."""
        if self.summary is not None:
            return
        try:
            if self._ws is not None:
                await self.end()
        finally:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._closed.set()
            self._push(None)
            if self.recorder is not None:
                self.recorder.close()
        try:
            await self._summarise()
        finally:
            if self.info is not None:
                self.info.release_secrets()

    async def _close_socket(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._ws.close()

    # ---- the two paths ----------------------------------------------------------------
    async def _send_audio(self, frame: bytes) -> None:
        assert self._ws is not None
        async with asyncio.timeout(SEND_TIMEOUT_S):
            await self._ws.send(frame)

    async def _run_uplink(self) -> None:
        try:
            await self.uplink.run()
        except (ConnectionClosed, TimeoutError) as exc:
            if not self._ending and not self._ended.is_set():
                self._lost(f"uplink: {exc.__class__.__name__}")
            await self._close_socket()

    async def _receive(self) -> None:
        assert self._ws is not None
        try:
            async for message in self._ws:
                self._last_message = time.monotonic()
                if len(message) > MAX_USEFUL:
                    self.malformed += 1
                    log.debug("call %s: dropped an oversized message (%d bytes)",
                              self.short_id, len(message))
                elif isinstance(message, bytes):
                    self.downlink.on_audio(message)
                else:
                    self._on_event(messages.parse_event(message))
        except ConnectionClosed:
            pass
        finally:
            # the stream is over: what the speaker does from here (running dry) is no fault
            self._playout_at_close = self.sink.playout_stats()
            code = self._ws.close_code
            if self.ended_reason is None and not self._ending:
                if code == 1000:
                    self.ended_reason = "remote-closed"
                    log.info("call %s: the call socket was closed by Vapi", self.short_id)
                else:
                    self._lost(f"socket closed with code {code}")
            self._closed.set()
            self._push(None)

    async def _watch_device(self, supervise: Any) -> None:
        """A device that fails for good (its reopen attempts spent) ends the call."""
        try:
            await supervise()
        except AudioDeviceError as exc:
            if self.device_error is None and not self._ending:
                self.device_error = str(exc)
                log.error("call %s: %s — ending the call", self.short_id, exc)
                await self.end()

    def _device_totals(self) -> DeviceStats | None:
        stats = [s for s in (self.source.device_stats, self.sink.device_stats) if s is not None]
        return sum(stats[1:], stats[0]) if stats else None

    async def _watch_silence(self) -> None:
        """Ping/pong catches a dead TCP link; this catches a live one that carries nothing."""
        while not self._closed.is_set():
            await asyncio.sleep(1.0)
            quiet = time.monotonic() - self._last_message
            if quiet > SILENCE_TIMEOUT_S and not self._ending:
                self._lost(f"nothing received for {quiet:.0f} s")
                await self._close_socket()
                return

    def _lost(self, detail: str) -> None:
        if self.ended_reason is None:
            self.ended_reason = CONNECTION_LOST
            log.warning("call %s: connection lost (%s)", self.short_id, detail)
        self._closed.set()

    # ---- events -----------------------------------------------------------------------
    def _on_event(self, event: messages.Event) -> None:
        if isinstance(event, messages.MalformedEvent):
            self.malformed += 1  # the first is worth a warning; a stream of them is not
            log.log(logging.WARNING if self.malformed == 1 else logging.DEBUG,
                    "call %s: ignored a malformed message (%s)%s", self.short_id, event.reason,
                    "; the call goes on, more are logged with -v" if self.malformed == 1
                    else "")
            return
        if isinstance(event, messages.StatusUpdate):
            self._on_status(event)
        elif self._barge_in_rule.is_barge_in(event):
            self._barge_in(event)
        elif isinstance(event, messages.SpeechUpdate) and event.role == "assistant":
            self.assistant_speaking = event.status == "started"
            if self.assistant_speaking:
                self._assistant_started_at = self.sink.played_samples
        elif isinstance(event, messages.Transcript) and event.final and event.text \
                and self.recorder:
            self.recorder.on_transcript(event.role, event.text)
        elif isinstance(event, messages.UnknownEvent):
            log.debug("call %s: %s", self.short_id, event.type)
        self._push(event)

    def _on_status(self, event: messages.StatusUpdate) -> None:
        if event.status and event.status != self.status:
            log.info("call %s: %s", self.short_id, event.status
                     + (f" ({event.ended_reason})" if event.ended_reason else ""))
        self.status = event.status or self.status
        if event.status == "ended":
            self.ended_reason = event.ended_reason or self.ended_reason or "ended"
            self._ended.set()

    def _barge_in(self, event: messages.Event) -> None:
        dropped = self.downlink.barge_in()
        if not self.assistant_speaking:
            log.debug("call %s: visitor started speaking; flushed %.0f ms of playout",
                      self.short_id, dropped)
            return
        self.interruptions += 1
        heard = (self.sink.played_samples - self._assistant_started_at) / self.sink.sample_rate
        log.info("call %s: visitor interrupted the assistant (%s) after %.1f s of its reply; "
                 "dropped %.0f ms still queued", self.short_id, event.type, max(heard, 0.0),
                 dropped)

    def _push(self, event: messages.Event | None) -> None:
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:  # nobody is reading events: keep the newest
            with contextlib.suppress(asyncio.QueueEmpty):
                self._events.get_nowait()
            self._events.put_nowait(event)

    async def _summarise(self) -> None:
        reason = self.ended_reason or "ended"
        devices, base = self._device_totals(), self._device_base
        if devices is not None and base is not None:  # this call's share (devices outlive it)
            devices = DeviceStats(devices.input_overflows - base.input_overflows,
                                  devices.output_underflows - base.output_underflows,
                                  devices.reopens - base.reopens,
                                  devices.reopen_attempts - base.reopen_attempts)
        duration = self.elapsed_s
        cost: float | None = None
        if self.info is not None and reason != CONNECTION_LOST:
            try:
                async with asyncio.timeout(5):
                    final = await self.api.get_call(self.info.id, attempts=2)
                reason, cost = outcome(final.raw, reason)
            except Exception as exc:
                log.warning("call %s: could not read the call's outcome (%s)", self.short_id,
                            exc)
        self.summary = CallSummary(
            call_id=self.info.id if self.info else "", ended_reason=reason,
            duration_s=duration, cost=cost, uplink=self.uplink.stats,
            playout=self._playout_at_close or self.sink.playout_stats(),
            received_s=self.downlink.received_seconds, malformed=self.malformed,
            interruptions=self.interruptions, devices=devices, device_error=self.device_error,
            recording_error=self.recorder.failure if self.recorder else None)
        if self.device_error:
            self.summary.ended_reason = self.device_error
        if self.recorder is not None and self.info is not None:
            self.recorder.note_end(self.info.id, self.summary.ended_reason)
