"""One PortAudio stream of a microphone or a speaker: opening, closing and reopening it
without ever hanging the caller.

PortAudio's API is not thread-safe, so opening, starting, stopping and closing streams is
serialised by one lock (reopens run on worker threads; callbacks never take it). A close
aborts rather than stops (stopping waits for a callback thread that a stalled device never
returns from) and gives up after `CLOSE_TIMEOUT_S`, leaving a stuck stream to the OS.

What the callback thread reports (callbacks run, the stream finished, the callback raised)
is a plain attribute store each, read by the event loop's `problem()`; watching and
reopening are `device_health.StreamSupervisor`'s job.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from bridge.audio.base import Backend, DeviceStats
from bridge.audio.device_health import StreamSupervisor
from bridge.audio.device_lookup import find_device, pick_rate, sounddevice
from bridge.audio.pulse import is_pulse
from bridge.errors import AudioDeviceError

log = logging.getLogger("bridge.devices")

OPEN_TIMEOUT_S = 5.0  # an open or close that takes longer counts as failed
CLOSE_TIMEOUT_S = 2.0

_PA_LOCK = threading.Lock()


@contextlib.contextmanager
def _portaudio_lock(what: str) -> Iterator[None]:
    if not _PA_LOCK.acquire(timeout=OPEN_TIMEOUT_S):
        raise AudioDeviceError(f"{what}: PortAudio is stuck in another call")
    try:
        yield
    finally:
        _PA_LOCK.release()


def rescan() -> None:
    """PortAudio lists the devices once, as it starts: one that appeared since (a USB device
    plugged in again, a sound server up late at boot) is not found until it starts again.
    Restarted here; every stream of this process must be closed first. Not while another
    thread is inside PortAudio (a close left to finish): skipped then."""
    sd = sounddevice()
    if not _PA_LOCK.acquire(blocking=False):
        log.debug("PortAudio not restarted: a stream is still being opened or closed")
        return
    try:
        sd._terminate()
        sd._initialize()
    except Exception as exc:  # sd.PortAudioError: the next lookup says what is missing
        log.debug("PortAudio could not be restarted: %s", exc)
    finally:
        _PA_LOCK.release()


MAX_STAMP_SKEW_S = 2.0  # a block's ADC or DAC time lies within the device's latency of
# the stream's current time: one further off is on another clock, not a time to place by


def stream_monotonic(time_info: Any, stream_time: float) -> float | None:
    """A PortAudio stream time (ADC or DAC time of a block) on the time.monotonic() clock;
    None when there is none (0) or it is not on the stream's clock (over 2 s from its
    current time: it would place its audio that far away)."""
    skew = stream_time - time_info.currentTime
    if stream_time <= 0 or not -MAX_STAMP_SKEW_S < skew < MAX_STAMP_SKEW_S:
        return None
    return time.monotonic() + skew


class DeviceStream(Backend):
    """What the microphone and the speaker share: opening, closing, reopening, health."""

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
        self.callbacks = 0
        self._callback_error: str | None = None
        self.latency_s = 0.0  # PortAudio's own estimate for the open stream
        self._supervisor = StreamSupervisor(self)

    @property
    def latency_ms(self) -> float:
        """PortAudio's latency estimate for the open stream (the AEC's stream delay)."""
        return self.latency_s * 1000.0

    @property
    def xruns(self) -> int:
        return self.stats.input_overflows + self.stats.output_underflows

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

    def start(self, *, level: int = logging.INFO) -> None:
        with self._lock:
            self._closing = False
            try:
                self._open()
            except Exception as exc:
                raise AudioDeviceError(f"cannot open the {self.role} {self.name!r}: "
                                       f"{exc}") from None
        self.paused = False
        self._supervisor.restart_stall_clock()
        log.log(level, "%s: %s at %d Hz, %d-frame blocks, %.0f ms PortAudio latency",
                self.role, self.name, self.sample_rate, self._blocksize, self.latency_s * 1000)

    def pause(self) -> None:
        """Close the stream until `resume` (standby, nothing to hear or play): a stream
        open does the device's work 50 times a second even for silence, a few % of a core
        on a small machine all day. Closed, not stopped: one path with the reopen's."""
        if self._stream is not None:
            self.close()
            self.paused = True

    def resume(self) -> None:
        if self.paused:
            self.start(level=logging.DEBUG)

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

    def reopen(self) -> None:
        """Close the failed stream and open a new one (blocking: a worker thread)."""
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
        """What is wrong with the stream itself, or None (a stall is the supervisor's)."""
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
        return None

    async def supervise(self) -> None:
        """Watch the stream for the whole call (an event-loop task; cancel it to stop).
        Reopens a failed stream; raises AudioDeviceError when that keeps failing."""
        await self._supervisor.run()
