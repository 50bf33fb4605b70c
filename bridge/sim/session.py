"""One connected call socket: the uplink (VAD, recording), the assistant's speech and
events, barge-in, timeouts and the end of the call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Coroutine
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

from bridge.sim import events as ev
from bridge.sim import longcall
from bridge.sim.assistants import make_assistant
from bridge.sim.calls import CallRecord
from bridge.sim.commands import handle_text, run
from bridge.sim.context import SimContext
from bridge.sim.downlink import DownlinkPump
from bridge.sim.faultrun import start_socket_faults
from bridge.sim.history import RollingAudio
from bridge.sim.interrupts import Interruptions
from bridge.sim.limits import enforce_limits
from bridge.sim.mouth import Bed
from bridge.sim.outbox import Outbox
from bridge.sim.vad import EnergyVad, OnsetDetector, VadEvent
from bridge.sim.voice import Voice
from bridge.sim.wirecodec import StreamDecoder

log = logging.getLogger("bridge.sim.session")
MAX_RECORD_SECONDS = 1800
PREROLL_S, TAIL_S = 0.2, 0.15


class CallSession:
    def __init__(
        self, ctx: SimContext, rec: CallRecord, ws: web.WebSocketResponse, request: web.Request
    ) -> None:
        self.ctx, self.cfg, self.rec, self.ws = ctx, ctx.config, rec, ws
        self.synth = ctx.synth
        self.fmt = rec.fmt
        self.rate = rec.fmt.rate
        self.rng = random.Random(self.cfg.seed)
        self.outbox = Outbox(ws, rec, request)
        self.voice = Voice(self, Bed(np.random.default_rng(self.cfg.seed)))
        self.mouth = self.voice.mouth
        self.say = self.voice.say
        self.assistant = make_assistant(rec.assistant, ctx)
        self.vad = EnergyVad(self.rate, self.cfg.vad_threshold_dbfs, self.cfg.vad_hangover_ms)
        self.interruptions = Interruptions(self, int(self.rate * self.cfg.backchannel_ms / 1000))
        self.onsets = (
            OnsetDetector(self.rate, self.cfg.vad_threshold_dbfs)
            if self.assistant.kind == "tone"
            else None
        )
        self.decoder = StreamDecoder(self.fmt)
        self.history = RollingAudio(self.rate)
        self.pump: DownlinkPump | None = None
        self.customer_muted = False
        self.user_turn = 0
        self.history_turns = 0  # long-history: conversation-updates sent so far
        self.ended = self.ended_sent = self.blackholed = False
        self.unblackhole = asyncio.Event()
        self.linger_s = 0.0
        self.last_uplink_mono: float | None = None
        self.uplink_wall0: float | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        aid = rec.create_body.get("assistantId")
        self.assistant_id = aid if isinstance(aid, str) else None

    # ---- plumbing -------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call %s: task failed", self.rec.id, exc_info=task.exception())

    def emit(self, event: dict[str, Any]) -> None:
        if self.ended_sent or not ev.allowed(event, self.rec.options.client_messages):
            return
        if event.get("type") == "status-update" and event.get("status") == "ended":
            self.ended_sent = True
        faults = self.rec.faults
        self.outbox.event(ev.decorate(event, self.rec.id, spec_shapes="spec-shapes" in faults,
                                      wrapped="wrapped-events" in faults,
                                      bracketed="bracketed-finals" in faults))

    def emit_conversation(self) -> None:
        event = ev.conversation_update(self.rec.conversation, "spec-shapes" in self.rec.faults)
        if (f := self.rec.faults.get("long-history")) is None:
            self.emit(event)
        elif not self.ended_sent and ev.allowed(event, self.rec.options.client_messages):
            self.history_turns += 1  # each one a turn longer than the last
            self.outbox.event(*longcall.padded(event, f.number(), self.history_turns))

    def command(self, msg: dict[str, Any], via: str = "socket") -> None:
        """Run a validated client command (``via`` "socket" or "control")."""
        run(self, msg, via)

    def send_raw(self, text: str) -> None:
        self.outbox.raw(text)

    @property
    def lead_bytes(self) -> float:
        return self.pump.lead if self.pump is not None else 0.0

    def wall_at(self, stream_pos: int) -> float:
        return (self.rec.started_wall or time.time()) + stream_pos / self.rate

    def uplink_wall(self, pos: int) -> float:
        return (self.uplink_wall0 or time.time()) + pos / self.rate

    # ---- lifecycle ------------------------------------------------------------------
    async def run(self) -> None:
        rec = self.rec
        rec.mark_connected()
        rec.session = self
        assert rec.connected_mono is not None
        self.pump = DownlinkPump(
            self.fmt,
            self.mouth,
            self.outbox,
            chunking=self.cfg.downlink_chunking,
            faults=rec.faults,
            rng=self.rng,
            connected_mono=rec.connected_mono,
            sink=self._downlink_samples,
            speed=self.cfg.downlink_speed,
        )
        for coro in (
            self.outbox.run(),
            self.pump.run(),
            self.voice.run(),
            enforce_limits(self),
            self._startup(),
        ):
            self.spawn(coro)
        start_socket_faults(self)
        try:
            await self._read_loop()
        finally:
            server_closed = self.ended
            if rec.close_code is None and not server_closed and self.ws.close_code is not None:
                rec.close_code = self.ws.close_code
            if not self.ended and self.linger_s:  # Vapi has not noticed the loss yet
                await asyncio.sleep(self.linger_s)
            if not self.ended:
                self.end("customer-ended-call", notify=False)
            if server_closed:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.outbox.closed.wait(), 2.0)
            if rec.close_code is None:
                rec.close_code = self.ws.close_code if self.ws.close_code is not None else 1006
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            log.info(
                "call %s: socket closed (%s), %d uplink frames",
                rec.id,
                rec.close_code,
                rec.uplink.frames,
            )

    async def _read_loop(self) -> None:
        while True:
            if self.blackholed:
                await self.unblackhole.wait()
            if self.outbox.dead:  # the TCP connection was dropped on purpose
                return
            msg = await self.ws.receive()
            if msg.type == WSMsgType.BINARY:
                if not self.blackholed:
                    self.on_binary(msg.data)
            elif msg.type == WSMsgType.TEXT:
                self.rec.uplink.text_frames += 1
                if not self.blackholed:
                    handle_text(self, msg.data)
            elif msg.type in (
                WSMsgType.CLOSE,
                WSMsgType.CLOSING,
                WSMsgType.CLOSED,
                WSMsgType.ERROR,
            ):
                return

    async def _startup(self) -> None:
        delay = self.rec.faults.get("delay-in-progress")
        if delay:
            await asyncio.sleep(delay.number() / 1000.0)
        if not self.assistant.owns_status:
            self.emit(ev.status_update("in-progress"))
        await self.assistant.start(self)

    def end(self, reason: str, *, notify: bool = True) -> None:
        if self.ended:
            return
        self.ended = True  # (the controlUrl refuses the call from now on: 400)
        if self.pump is not None:
            self.pump.stop()
        slow = self.rec.faults.get("ended-slow") if notify else None
        if slow is not None:  # a timer, not a task: the socket's close cancels those
            asyncio.get_running_loop().call_later(slow.number() / 1000.0, self._said_ended,
                                                  reason)
            return
        self._said_ended(reason, notify)

    def _said_ended(self, reason: str, notify: bool = True) -> None:
        """The end said: in the call's record (`GET /call/{id}`), and to the client."""
        self.rec.mark_ended(reason)
        log.info("call %s: ended (%s)", self.rec.id, self.rec.masked(reason, self.cfg))
        if notify and not self.outbox.dead:
            self.emit(ev.status_update("ended", reason))
            code = int(fault.number()) if (fault := self.rec.faults.get("end-close")) else 1000
            if code:  # 0: the socket is left open, for the client to close
                self.outbox.close(code)

    def end_later(self, reason: str, delay: float = 0.3) -> None:
        async def later() -> None:
            await asyncio.sleep(delay)
            self.end(reason)

        self.spawn(later())

    def shutdown(self) -> None:
        self.end("worker-shutdown")

    # ---- uplink ---------------------------------------------------------------------
    def on_binary(self, data: bytes) -> None:
        rec = self.rec
        mono = time.monotonic()
        assert rec.connected_mono is not None
        rec.uplink.record(len(data), mono, mono - rec.connected_mono)
        self.last_uplink_mono = mono
        if self.uplink_wall0 is None:
            self.uplink_wall0 = time.time()
        samples = self.decoder.feed(data)
        rec.uplink.samples += len(samples)
        if len(rec.uplink_pcm) < MAX_RECORD_SECONDS * self.rate * 2:
            rec.uplink_pcm += samples.astype("<i2").tobytes()
        rec.listen.push_uplink(samples)
        if self.onsets is not None:
            self.onsets.mark(samples, mono, rec.uplink.markers)
        self.history.append(samples)
        if self.assistant.scripted:
            return
        fed = np.zeros_like(samples) if self.customer_muted else samples
        for vev in self.vad.feed(fed):
            if vev.kind == "start":
                self.emit(ev.speech_update("started", "user", self.user_turn))
                self.interruptions.started()
            else:
                self._user_stopped(vev)
        if self.vad.in_speech:
            self.interruptions.progress(self.vad.last_voiced_end - self.vad.start)

    def _user_stopped(self, vev: VadEvent) -> None:
        backchannel = self.interruptions.stopped()
        dur = (vev.end - vev.start) / self.rate
        text = f"(speech {dur:.1f} s)"
        self.emit(ev.transcript("user", "partial", text))
        self.rec.conversation.append({"role": "user", "content": text})
        self.emit_conversation()
        self.emit(ev.transcript("user", "final", text))
        self.emit(ev.speech_update("stopped", "user", self.user_turn))
        if self.cfg.think_ms > 0:  # the reply's audio starts this long after that update
            self.voice.hold_until = time.monotonic() + self.cfg.think_ms / 1000.0
        self.rec.add_message("user", text, self.uplink_wall(vev.start), self.uplink_wall(vev.end))
        self.user_turn += 1
        if backchannel:
            return
        audio = self.history.get(
            vev.start - int(PREROLL_S * self.rate), vev.end + int(TAIL_S * self.rate)
        )
        self.spawn(self._reply(audio, dur))

    async def _reply(self, audio: np.ndarray, dur: float) -> None:
        hang = self.rec.faults.get("hang")
        if hang:
            await asyncio.sleep(hang.number() / 2000.0)
            self.emit(ev.hang())
            await asyncio.sleep(hang.number() / 2000.0)
        if not self.ended:
            await self.assistant.on_user_turn(self, audio, dur)
        self.voice.hold_until = None  # no reply given: nothing later waits for it

    # ---- downlink -------------------------------------------------------------------
    def _downlink_samples(self, samples: np.ndarray) -> None:
        if len(self.rec.downlink_pcm) < MAX_RECORD_SECONDS * self.rate * 2:
            self.rec.downlink_pcm += samples.astype("<i2").tobytes()
        self.rec.listen.push_downlink(samples)
