"""The uplink: microphone → gain → echo control → resampler → framer → encoder → one
frame every 20 ms.

A single task paced on absolute deadlines (`bridge.audio.pacing`: scheduling jitter never
accumulates) sends exactly one wire frame per tick, with digital silence whenever the source
has nothing, so Vapi sees an unbroken 20 ms cadence for the whole call. A tick up to 60 ms
late is caught up at once (the frames it delayed follow it); after a longer stall of the
event loop the schedule restarts instead of sending a burst, which would confuse Vapi's
turn detection (a file is only delayed by it). Each tick asks the source for what real time
owes since the last one.

A device source drives the uplink instead (`frame_wake`): its capture callback signals an
eventfd each time it has captured one more frame's worth, and the frame leaves at once
rather than on the next tick of a timer whose phase against the callbacks would add 0–20 ms
(different on every call). The timer stays as the fallback (`pacing.FrameGate`): silence
on an absolute 20 ms cadence when the device stalls, and a burst of blocks leaves at most
2× real time. One loop wake-up per 20 ms; files and the null device keep the timer.

When the loop was held up anyway (a flood of tiny downlink frames: 0.4-2 s; the first
call's setup: ~170 ms; a slow disk, GC), the device's ring kept what the visitor said
meanwhile, and the framer keeps it too (up to `MAX_BACKLOG_MS`, what the ring holds): the
gate above sends the backlog at its 2× real time until it is gone. The framer used to drop
all but 100 ms of it to stay on time: 0.7-3.1 s of a visitor's words lost per flood on the
rig, none now (`tests/faults/test_loop_hold.py`). At 2×, not all at once: bursts faster
than real time confuse Vapi's turn detection (../shared/PROTOCOL.md, [seen]); a 1 s hold-up
costs 1 s more delay, gone after 1 s more. A hold-up past `MAX_BACKLOG_MS` loses the oldest
of it, counted in `dropped_ms`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from bridge.audio.base import AudioSource, FrameTap, apply_gain
from bridge.audio.codec import Codec
from bridge.audio.echo import EchoControl
from bridge.audio.fades import fade_in
from bridge.audio.framing import Framer
from bridge.audio.pacing import FrameGate, Pacer, Sleep
from bridge.audio.resample import Resampler
from bridge.call.looplag import LoopLag

log = logging.getLogger("bridge.uplink")

FRAME_MS = 20
MAX_LATE_MS = 3 * FRAME_MS  # a tick later than this: the loop stalled, restart the schedule
EARLY_MS = FRAME_MS // 2  # capture-driven: frames at least 10 ms apart (a burst at ≤ 2×)
GRACE_MS = 2 * FRAME_MS  # capture-driven: silence once a frame is this late (a stalled
# device), not sooner: a capture thread starved 20-40 ms on a loaded machine is late, not
# stalled, and silence sent for it lands mid-word in what Vapi hears
MAX_BACKLOG_MS = 2000  # beyond this the oldest is dropped (the device ring holds no more)
STALE_MAX_MS, STALE_KEEP_MS = 100, 40  # the first read: the microphone before the call,
# not audio the call fell behind on, is cut to this (what it captured since `run` began is
# the call's: a loop held up before the first read, by the first call's setup, keeps it)


@dataclass
class UplinkStats:
    frames_sent: int = 0
    silence_frames: int = 0
    late_ticks: int = 0
    dropped_ms: float = 0.0
    max_lateness_ms: float = 0.0  # how late the worst tick fired after its deadline

    @property
    def sent_seconds(self) -> float:
        return self.frames_sent * FRAME_MS / 1000


class Uplink:
    def __init__(self, source: AudioSource, codec: Codec, wire_rate: int,
                 send: Callable[[bytes], Awaitable[None]], *, gain: float = 1.0,
                 tap: FrameTap | None = None,
                 clock: Callable[[], float] | None = None, sleep: Sleep = asyncio.sleep,
                 echo: EchoControl | None = None,
                 far_end: Callable[[], np.ndarray] | None = None,
                 own_sound: Callable[[], float] | None = None, lag: LoopLag | None = None) -> None:
        self.source = source
        self.lag = lag or LoopLag()  # how late the loop got to each frame: fed per frame
        self.codec, self.wire_rate = codec, wire_rate
        self._clock = clock or time.monotonic  # what the device stamps captures on
        self._send = self.lag.timing(send, self._clock)  # a send's wait: no lag
        self._gain = gain
        self._tap = tap
        self._pacer = Pacer(FRAME_MS / 1000, MAX_LATE_MS / 1000, clock=clock, sleep=sleep)
        self._gate = FrameGate(FRAME_MS / 1000, early=EARLY_MS / 1000, grace=GRACE_MS / 1000,
                               max_late=MAX_LATE_MS / 1000)
        self._echo = echo
        self._far_end = far_end
        # minimum phase: what the resampler holds back decides whether a sound captured near
        # a block's end leaves with that block's frame or waits for the next capture (a
        # whole block); the uplink goes to Vapi's speech recogniser, which does not use phase
        self._resampler = Resampler(source.sample_rate, wire_rate, minimum_phase=True)
        self._framer = Framer(wire_rate, FRAME_MS, max_backlog_ms=MAX_BACKLOG_MS,
                              keep_ms=MAX_BACKLOG_MS)
        self._silence = np.zeros(self._framer.frame_samples, dtype=np.int16)
        self.muted = False
        self._unmuted_at = -math.inf  # captured before: silence; after: faded in (not -inf)
        self._on_capture = False  # capture-driven (`_run_on_capture`): a monotonic clock
        # the kiosk's sound (the chime, the connecting tone) began before the call: no echo
        # control has its start, and its echo reached Vapi as the visitor talking. Until it
        # and its echo are over (`own_sound`'s time), the call starts with silence
        self._own_sound = own_sound
        self._frames_sent = 0
        # when the newest sample read was captured; None until the device's first block
        # (frames the gate sent before it are silence, sent as they leave)
        self._captured_until: float | None = None
        self._started = 0.0  # when `run` began (its clock): the call's audio from here
        self._stale_dropped = 0  # what the first read's backlog cut: the microphone before the
        # call (from the devices' opening), old by then, not audio the call fell behind on

    @property
    def stats(self) -> UplinkStats:
        """A snapshot; the framer keeps its own counters, read here, not copied per frame."""
        return UplinkStats(frames_sent=self._frames_sent,
                           silence_frames=self._framer.silence_frames,
                           late_ticks=self._pacer.restarts + self._gate.restarts,
                           dropped_ms=(self._framer.dropped_samples - self._stale_dropped)
                           * 1000.0 / self.wire_rate,
                           max_lateness_ms=max(self._pacer.max_lateness,
                                               self._gate.max_lateness) * 1000)

    def frame_captured_at(self) -> float:
        """When (the uplink's clock) the start of the latest frame sent was captured: the
        newest sample read's capture time, less what is held (`_held_ms`) and the frame."""
        if self._captured_until is None:  # nothing captured yet: the gate's silence, as
            # if captured (the device's latency estimate), so its first block follows on
            return self._clock() - (FRAME_MS + self.source.latency_ms) / 1000.0
        held_ms = self._held_ms() + FRAME_MS
        return self._captured_until - held_ms / 1000.0

    def mute(self, muted: bool) -> None:
        """Local microphone mute: the cadence goes on, with silence. What was captured while
        muted stays silence when it leaves after the unmute (a backlog: the loop held up)."""
        if self.muted and not muted:
            self._unmuted_at = self._clock()
        self.muted = muted

    async def run(self) -> None:
        dev_rate = self.source.sample_rate
        self._started = self._clock()
        self.lag.start()
        fd = self.source.frame_wake(dev_rate * FRAME_MS // 1000)
        if fd is not None:
            try:
                await self._run_on_capture(fd)
            finally:
                self.source.frame_wake(0)
        owed_total = 0  # device samples real time has owed since the schedule (re)started
        self._pacer.start()
        while True:
            tick = await self._pacer.tick()
            self.lag.note(tick.lateness)
            if tick.restarted:  # the loop stalled: the missed ticks are skipped, no burst
                owed_total = 0
                continue
            due_total = tick.index * dev_rate * FRAME_MS // 1000
            due, owed_total = due_total - owed_total, due_total
            await self._send(self._next_frame(due, tick.deadline))

    async def _run_on_capture(self, fd: int) -> None:
        """Capture-driven: wake on the device's eventfd or the gate's deadline, whichever
        comes first; one future per frame, no task, no timer that fires while all is well.
        Nothing is read before the device's first signal, so the framer's frame boundaries
        fall where the device completes a frame (with 10 ms blocks, every other block)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] | None = None
        signalled = False

        def wake() -> None:
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

        def captured() -> None:
            nonlocal signalled
            with contextlib.suppress(BlockingIOError):
                os.eventfd_read(fd)
            signalled = True
            wake()

        loop.add_reader(fd, captured)
        self._on_capture = True
        due = self.source.sample_rate * FRAME_MS // 1000
        try:
            self._gate.start(loop.time())
            while True:
                if signalled:
                    self._capture(due, skip_empty=True)
                while True:
                    now = loop.time()
                    ready = self._framer.buffered_ms >= FRAME_MS
                    wait = self._gate.wait(now, ready)
                    if wait > 0:
                        break
                    self._gate.sent(now, ready)
                    await self._send(self._frame())
                waiter = loop.create_future()
                timer = loop.call_at(now + wait, wake)
                try:
                    await waiter
                finally:
                    timer.cancel()
                    waiter = None
        finally:
            loop.remove_reader(fd)

    def _next_frame(self, due: int, deadline: float) -> bytes:
        self._capture(due, at=deadline)
        return self._frame()

    def _capture(self, due: int, skip_empty: bool = False, at: float | None = None) -> None:
        captured = apply_gain(self.source.read(due), self._gain)
        if skip_empty and not len(captured):  # a timer wake-up: the device had nothing
            return
        stamp = self.source.captured_until  # a device's own capture clock
        # else a timer's: what it reads was due at its deadline, however late the loop ran
        # (the deadline itself: a second clock read here, less the lateness measured at the
        # tick, would count a stall between the two as captured time no sample filled)
        if stamp is None:
            stamp = at if at is not None else self._clock()
        elif skip_empty and self._captured_until is not None:  # capture-driven, not the
            # first read: how long ago the oldest sample read was captured (`LoopLag`)
            self.lag.note(self._clock() - stamp + len(captured) / self.source.sample_rate)
        first, self._captured_until = self._captured_until is None, stamp
        if self._echo is not None and self._far_end is not None:
            captured = self._echo_control(self._echo, self._far_end(), captured)
        self._framer.push(self._resampler.process(captured))
        if first:
            keep = max(STALE_KEEP_MS, (stamp - self._started) * 1000)
            if self._framer.buffered_ms > max(STALE_MAX_MS, keep):
                self._framer.trim(keep)
            self._stale_dropped = self._framer.dropped_samples

    def _echo_control(self, echo: EchoControl, far: np.ndarray, near: np.ndarray
                      ) -> np.ndarray:
        """`near` cleaned of `far`, a frame's worth at a time: the echo control decides once
        per call, so a backlog (the loop held up) taken whole got one gain — a visitor heard
        at its end let all of the assistant's echo before it through, one at its start (over
        the gate's 0.5 s of history) was cut 30 dB with the echo."""
        step = self.source.sample_rate * FRAME_MS // 1000
        if len(near) <= 2 * step:  # a block or two: as captured
            echo.far(far)
            return echo.near(near)
        k = -(-len(near) // step)
        out = []
        for i in range(k):  # the far end (played meanwhile) in as many slices, in step
            echo.far(far[i * len(far) // k:(i + 1) * len(far) // k])
            out.append(echo.near(near[i * len(near) // k:(i + 1) * len(near) // k]))
        return np.concatenate(out)

    def _began(self) -> float:
        """When the next frame's audio began, by the capture's clock (the timer's: now)."""
        if self._captured_until is None or not self._on_capture:
            return self._clock()
        return self._captured_until - self._held_ms() / 1000

    def _held_ms(self) -> float:
        """What was captured and has not left yet: the echo control's look-back (held
        while it attenuates the echo), the resampler's and the framer's."""
        return self._echo_held_ms() + self._resampler.held_ms + self._framer.buffered_ms

    def _echo_held_ms(self) -> float:  # what the echo control's look-back holds
        return getattr(self._echo, "held_ms", 0.0) if self._far_end is not None else 0.0

    def _frame(self) -> bytes:
        # a backlog (the loop held up) leaves up to 2 s after it was captured, past the sound
        # or the mute it came under: judged by when its audio began, read only while either
        # is still to be judged (not on every frame of the call)
        watch = self._own_sound is not None or self._unmuted_at != -math.inf
        began = self._began() if watch else 0.0
        # the cadence's silence while the echo control's look-back holds what was captured
        # (the gate closing): not recorded, whose sent leg is the captured audio on its
        # clock (recorded, it sat on the frame before, and the leg slipped 20 ms each time)
        tap = self._tap if self._tap is None or self._framer.buffered_ms >= FRAME_MS \
            or not self._echo_held_ms() else None
        frame = self._framer.pop()
        if self._own_sound is not None:
            if began < self._own_sound():
                frame = self._silence
            else:
                self._own_sound = None  # over: never again this call
        if self.muted or began < self._unmuted_at:
            frame = self._silence
        elif self._unmuted_at != -math.inf:  # what was captured under the mute has left:
            # what follows comes back mid-word, a step out of the silence (a click): faded in
            frame, self._unmuted_at = fade_in(frame, self.wire_rate), -math.inf
        if tap is not None:
            tap(frame)
        self._frames_sent += 1
        return self.codec.encode(frame)
