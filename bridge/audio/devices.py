"""Microphone and speaker through sounddevice (PortAudio) callback streams.

The callbacks run on PortAudio's thread. They never block, never take a lock and never
touch the event loop: the input callback writes into a single-producer ring the uplink
drains, the output callback pulls from the playout buffer, and both only bump counters and
set flags that the event loop reads. Each stream is opened at the wire rate when the device
takes it (no resampling then), else at the device's default rate (the uplink and downlink
resample with soxr).

A device that fails during a call is noticed from the event loop (`supervise()`, run by
the call as a task): the stream's finished callback fired, PortAudio says it is no longer
active, the callback raised, or no callback came for `STALL_S`. The stream is then closed
and reopened on a worker thread, up to `REOPEN_ATTEMPTS` times in a row; after that
`supervise()` raises `AudioDeviceError` and the call ends with that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

from bridge.audio.base import Backend, DeviceStats, level_dbfs
from bridge.audio.buffered import BufferedSink
from bridge.audio.device_lookup import find_device, pick_rate, sounddevice
from bridge.audio.playout import PlayoutBuffer, PlayoutSettings
from bridge.audio.pulse import is_pulse
from bridge.audio.ring import SampleRing
from bridge.errors import AudioDeviceError
from bridge.retry import DEVICE_REOPEN
from bridge.words import plural

log = logging.getLogger("bridge.devices")

POLL_S = 0.1  # how often the event loop looks at a stream's health
STALL_S = 2.0  # no callback for this long: the device hangs
# attempts in a row; a stream that runs SETTLE_S after a reopen resets the count
REOPEN = DEVICE_REOPEN
REOPEN_ATTEMPTS = REOPEN.attempts
SETTLE_S = 5.0
XRUN_REPORT_S = 2.0  # overflows/underflows are logged at most this often
OPEN_TIMEOUT_S = 5.0  # an open or close that takes longer counts as failed

CLOSE_TIMEOUT_S = 2.0

# PortAudio's API is not thread-safe: opening, starting, stopping and closing streams is
# serialised (reopens run on worker threads). Callbacks never take it.
_PA_LOCK = threading.Lock()


@contextlib.contextmanager
def _portaudio_lock(what: str) -> Iterator[None]:
    if not _PA_LOCK.acquire(timeout=OPEN_TIMEOUT_S):
        raise AudioDeviceError(f"{what}: PortAudio is stuck in another call")
    try:
        yield
    finally:
        _PA_LOCK.release()

T = TypeVar("T")


def _monotonic(time_info: Any, stream_time: float) -> float:
    """A PortAudio stream time (ADC or DAC time of a block) on the time.monotonic() clock."""
    return time.monotonic() + (stream_time - time_info.currentTime)


async def _in_thread(fn: Callable[[], T], timeout: float, what: str) -> T:
    """Run a blocking PortAudio call on a daemon thread (a hung device must not freeze the
    event loop, nor keep the process from exiting)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def deliver(ok: bool, value: Any) -> None:
        if not fut.done():
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    def run() -> None:
        try:
            result: Any = (True, fn())
        except BaseException as exc:  # handed to the event loop
            result = (False, exc)
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
            loop.call_soon_threadsafe(deliver, *result)

    threading.Thread(target=run, name=f"portaudio-{what}", daemon=True).start()
    try:
        async with asyncio.timeout(timeout):
            return await fut
    except TimeoutError:
        raise AudioDeviceError(f"{what} did not finish within {timeout:.0f} s") from None


class _DeviceStream(Backend):
    """What the microphone and the speaker share: opening, health, reopening, closing."""

    is_device = True

    kind = "input"
    role = "microphone"
    xrun_name = "input overflows"

    def __init__(self, spec: str | int, wire_rate: int, *, latency: str | float,
                 block_ms: int, device_rate: int | None) -> None:
        self.stats = DeviceStats()
        self.device_stats = self.stats
        self.spec = spec
        self._sd = sounddevice()
        self.device = find_device(spec, self.kind)
        self.name = str(spec) if is_pulse(spec) else \
            str(self._sd.query_devices(self.device, self.kind)["name"])
        self.sample_rate = pick_rate(self.device, self.kind, wire_rate, device_rate)
        self._latency = latency
        self._blocksize = self.sample_rate * block_ms // 1000
        self._stream: Any = None
        self._gen = 0  # which stream is current; the finished callback reports its own
        self._lock = threading.Lock()  # this device's open/close; never taken by callbacks
        self._closing = False
        # written by PortAudio's thread, read by the event loop (plain attribute stores)
        self._finished_gen = -1
        self._callbacks = 0
        self._callback_error: str | None = None
        # event loop only
        self._seen_callbacks = -1
        self._seen_at = 0.0
        self._attempts = 0
        self._reopened_at = 0.0
        self.failure: str | None = None
        self.latency_s = 0.0  # PortAudio's own estimate for the open stream

    @property
    def latency_ms(self) -> float:
        """PortAudio's latency estimate for the open stream (the AEC's stream delay)."""
        return self.latency_s * 1000.0

    # ---- opening and closing (event loop at start/close, a worker thread to reopen) ----
    def _new_stream(self, gen: int) -> Any:
        raise NotImplementedError

    def _open(self) -> None:
        gen = self._gen + 1
        with _portaudio_lock(f"opening the {self.role}"):
            stream = self._new_stream(gen)
            self._callback_error = None
            try:
                stream.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    stream.close()
                raise
        self._stream, self._gen = stream, gen
        self.latency_s = float(stream.latency)

    def _shut(self, stream: Any) -> None:
        """Abort and close a stream (any thread). Abort, not stop: stopping waits for the
        callback thread, which never returns from a stalled device; and what abort drops
        (one PortAudio buffer) is the silence after the call."""
        try:
            with _portaudio_lock(f"closing the {self.role}"):
                for step in (stream.abort, stream.close):
                    try:
                        step()
                    except Exception as exc:
                        log.debug("%s: %s failed: %s", self.role, step.__name__, exc)
        except AudioDeviceError as exc:
            log.debug("%s", exc)

    def start(self) -> None:
        with self._lock:
            self._closing = False
            try:
                self._open()
            except Exception as exc:
                raise AudioDeviceError(f"cannot open the {self.role} {self.name!r}: "
                                       f"{exc}") from None
        self._seen_callbacks, self._seen_at = -1, time.monotonic()
        log.info("%s: %s at %d Hz, %d-frame blocks, %.0f ms PortAudio latency", self.role,
                 self.name, self.sample_rate, self._blocksize, self.latency_s * 1000)

    def close(self) -> None:
        """Stop the device; never hangs for longer than CLOSE_TIMEOUT_S (a stream stuck in
        PortAudio is left to the OS)."""
        self._closing = True
        if not self._lock.acquire(timeout=OPEN_TIMEOUT_S):
            log.warning("%s %s: a reopen hangs; leaving the stream to the OS", self.role,
                        self.name)
            return
        try:
            stream, self._stream = self._stream, None
        finally:
            self._lock.release()
        if stream is None:
            return
        closer = threading.Thread(target=self._shut, args=(stream,), daemon=True,
                                  name=f"portaudio-close-{self.role}")
        closer.start()
        closer.join(CLOSE_TIMEOUT_S)
        if closer.is_alive():
            log.warning("%s %s: closing the stream hangs; leaving it to the OS", self.role,
                        self.name)

    def _reopen(self) -> None:
        """Close the failed stream and open a new one (a worker thread)."""
        if not self._lock.acquire(timeout=OPEN_TIMEOUT_S):
            raise AudioDeviceError("an earlier attempt still hangs")
        try:
            if self._closing:
                raise AudioDeviceError("the device was closed meanwhile")
            stream, self._stream = self._stream, None
            if stream is not None:
                self._shut(stream)
            self._open()
        finally:
            self._lock.release()

    # ---- PortAudio's thread -------------------------------------------------------------
    def _on_finished(self, gen: int) -> None:
        self._finished_gen = gen

    def _failed_in_callback(self, exc: BaseException) -> None:
        self._callback_error = f"{exc.__class__.__name__}: {exc}"

    # ---- event loop ---------------------------------------------------------------------
    def problem(self) -> str | None:
        """Why the stream is not delivering audio, or None while it is healthy."""
        stream = self._stream
        if stream is None:
            return "the stream is closed"
        if self._callback_error is not None:
            return f"the audio callback failed ({self._callback_error})"
        if self._finished_gen == self._gen:
            return "the stream stopped"
        try:
            active = bool(stream.active)
        except Exception as exc:
            return f"PortAudio: {exc}"
        if not active:
            return "the stream is no longer active"
        now = time.monotonic()
        count = self._callbacks
        if count != self._seen_callbacks:
            self._seen_callbacks, self._seen_at = count, now
        elif now - self._seen_at > STALL_S:
            return f"no audio for {now - self._seen_at:.1f} s"
        return None

    async def supervise(self) -> None:
        """Watch the stream for the whole call (an event-loop task; cancel it to stop).
        Reopens a failed stream; raises AudioDeviceError when that keeps failing."""
        self._seen_callbacks, self._seen_at = -1, time.monotonic()
        xruns, reported_at = self._xruns(), time.monotonic()
        while True:
            await asyncio.sleep(POLL_S)
            why = self.problem()
            if why is not None:
                await self._recover(why)
            now = time.monotonic()
            if now - reported_at >= XRUN_REPORT_S and self._xruns() > xruns:
                log.info("%s %s: %s in the last %.0f s", self.role, self.name,
                         plural(self._xruns() - xruns, "PortAudio " + self.xrun_name[:-1]),
                         now - reported_at)
                xruns, reported_at = self._xruns(), now

    def _xruns(self) -> int:
        return self.stats.input_overflows + self.stats.output_underflows

    async def _recover(self, why: str) -> None:
        if time.monotonic() - self._reopened_at > SETTLE_S:
            self._attempts = 0  # the last reopen held: a new failure starts a new series
        log.warning("%s %s: %s; reopening it", self.role, self.name, why)
        last = why
        while self._attempts < REOPEN_ATTEMPTS:
            await asyncio.sleep(REOPEN.delay(self._attempts + 1))
            self._attempts += 1
            self.stats.reopen_attempts += 1
            try:
                await _in_thread(self._reopen, OPEN_TIMEOUT_S, f"reopening the {self.role}")
            except Exception as exc:
                last = str(exc) or exc.__class__.__name__
                log.warning("%s %s: reopen attempt %d of %d failed: %s", self.role, self.name,
                            self._attempts, REOPEN_ATTEMPTS, last)
                continue
            self.stats.reopens += 1
            self._reopened_at = time.monotonic()
            self._seen_callbacks, self._seen_at = -1, self._reopened_at
            self.failure = None
            log.warning("%s %s: reopened (attempt %d of %d)", self.role, self.name,
                        self._attempts, REOPEN_ATTEMPTS)
            return
        self.failure = (f"{self.role} lost: {self.name}: {why}; "
                        f"{plural(REOPEN_ATTEMPTS, 'reopen attempt')} failed ({last})")
        raise AudioDeviceError(self.failure)


class DeviceSource(_DeviceStream):
    kind = "input"
    role = "microphone"
    xrun_name = "input overflows"

    def __init__(self, spec: str | int, wire_rate: int, *, latency: str | float = "low",
                 block_ms: int = 20, device_rate: int | None = None) -> None:
        super().__init__(spec, wire_rate, latency=latency, block_ms=block_ms,
                         device_rate=device_rate)
        self._ring = SampleRing(self.sample_rate * 2)
        self._ring.rate = self.sample_rate
        self._level = -120.0
        self.captured_until: float | None = None  # when the newest sample read was captured

    def _new_stream(self, gen: int) -> Any:
        return self._sd.InputStream(
            device=self.device, samplerate=self.sample_rate, channels=1, dtype="int16",
            latency=self._latency, blocksize=self._blocksize, callback=self._callback,
            finished_callback=functools.partial(self._on_finished, gen))

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        try:
            self._callbacks += 1
            if status.input_overflow:
                self.stats.input_overflows += 1
            self._ring.put(indata[:, 0])
            if time_info.inputBufferAdcTime > 0:  # PortAudio's capture time of the block
                self._ring.stamp = (_monotonic(time_info, time_info.inputBufferAdcTime),
                                    self._ring.w - frames)
        except Exception as exc:
            self._failed_in_callback(exc)
            raise self._sd.CallbackAbort from None

    def read(self, due: int) -> np.ndarray:
        samples = self._ring.take()
        self.captured_until = self._ring.time_of(self._ring.r)
        if len(samples):
            self._level = level_dbfs(samples)
        return samples

    @property
    def level_db(self) -> float:
        return self._level


class DeviceSink(BufferedSink, _DeviceStream):
    kind = "output"
    role = "speaker"
    xrun_name = "output underflows"

    def __init__(self, spec: str | int, wire_rate: int, *, latency: str | float = "low",
                 block_ms: int = 20, device_rate: int | None = None,
                 playout: PlayoutSettings | None = None) -> None:
        super().__init__(spec, wire_rate, latency=latency, block_ms=block_ms,
                         device_rate=device_rate)
        self.buffer = PlayoutBuffer(self.sample_rate, playout)

    def _new_stream(self, gen: int) -> Any:
        return self._sd.OutputStream(
            device=self.device, samplerate=self.sample_rate, channels=1, dtype="int16",
            latency=self._latency, blocksize=self._blocksize, callback=self._callback,
            finished_callback=functools.partial(self._on_finished, gen))

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        try:
            self._callbacks += 1
            if status.output_underflow:
                self.stats.output_underflows += 1
            dac = time_info.outputBufferDacTime
            self.buffer.read_into(outdata[:, 0],
                                  _monotonic(time_info, dac) if dac > 0 else None)
        except Exception as exc:
            outdata.fill(0)
            self._failed_in_callback(exc)
            raise self._sd.CallbackAbort from None

