"""Microphone and speaker through sounddevice (PortAudio) callback streams.

The callbacks run on PortAudio's thread. They never block, never take a lock, never
allocate a buffer and never touch the event loop: the input callback writes into a
single-producer ring the uplink drains, the output callback pulls from the playout buffer,
and both only bump counters, set flags and mark the ring's clock, which the event loop
reads. During a call the input callback also writes to an eventfd once per wire frame
captured (`frame_wake`): a syscall the loop's selector sees, the one wake-up per 20 ms that
sends the frame (it touches no asyncio object and allocates nothing).

Each stream is opened at the wire rate when the device takes it (no resampling
then), else at the device's default rate (the uplink and downlink resample with soxr); a
speaker on a wire under 16 kHz (µ-law's 8 kHz) at its default rate first
(`device_lookup.SPEAKER_MIN_RATE`).

Opening, closing and reopening a stream is `device_stream.DeviceStream`'s job; watching
it during a call and reopening it when it fails, `device_health.StreamSupervisor`'s.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

from bridge.audio.base import level_dbfs
from bridge.audio.buffered import BufferedSink
from bridge.audio.device_stream import DeviceStream, stream_monotonic
from bridge.audio.playout import PlayoutBuffer, PlayoutSettings
from bridge.audio.ring import SampleRing


class DeviceSource(DeviceStream):
    kind = "input"
    role = "microphone"
    xrun_name = "input overflows"

    def __init__(self, spec: str | int, wire_rate: int, *, latency: str | float = "low",
                 block_ms: int = 20, device_rate: int | None = None) -> None:
        super().__init__(spec, wire_rate, latency=latency, block_ms=block_ms,
                         device_rate=device_rate)
        self._ring = SampleRing(self.sample_rate * 2, self.sample_rate)
        self._level = -120.0
        self._last: np.ndarray | None = None  # the latest samples read, level not yet known
        self.captured_until: float | None = None  # when the newest sample read was captured
        self._wake_fd = -1  # eventfd, kept for the device's life (a callback may still see it)
        self._wake_every = 0  # samples per wake-up; 0: off (read by the callback)
        self._wake_count = 0  # samples since the last wake-up (callback only)

    def _new_stream(self, gen: int) -> Any:
        # (the last stream shut) a new stream's samples follow the last one's in the ring
        # after a gap (a reopen): undated until its first block is marked, not dated by the
        # old clock, which put them that gap early (the gap read as the loop running late:
        # "the CPU could not keep up", 309 ms, after a microphone reopened mid-call)
        self._ring.origin = None
        return self._sd.InputStream(
            device=self.device, samplerate=self.sample_rate, channels=1, dtype="int16",
            latency=self._latency, blocksize=self._blocksize, callback=self._callback,
            finished_callback=functools.partial(self._on_finished, gen))

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        try:
            self.callbacks += 1
            if status.input_overflow:
                self.stats.input_overflows += 1
            self._ring.put(indata[:, 0])
            # PortAudio's capture time of the block, when it has a usable one: marked before
            # the loop is woken, so its read finds the block dated by its own stream
            at = stream_monotonic(time_info, time_info.inputBufferAdcTime)
            if at is not None:
                self._ring.mark(at, self._ring.w - frames)
            every = self._wake_every
            if every:
                self._wake_count += frames
                if self._wake_count >= every:
                    self._wake_count %= every
                    try:  # noqa: SIM105 (suppress() allocates per block)
                        os.eventfd_write(self._wake_fd, 1)
                    except OSError:  # cannot happen short of 2⁶⁴ unread wake-ups
                        pass
        except Exception as exc:
            self._failed_in_callback(exc)
            raise self._sd.CallbackAbort from None

    def frame_wake(self, samples: int) -> int | None:
        if self._wake_fd < 0:
            self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._wake_count = 0
        self._wake_every = samples
        return self._wake_fd

    def __del__(self) -> None:  # no callback can run: the stream held a reference to us
        if getattr(self, "_wake_fd", -1) >= 0:
            os.close(self._wake_fd)

    def resume(self) -> None:
        if self.paused:
            self._ring.take()  # captured before the pause: not live, never sent
            # nor is its clock: until the new stream's first block is marked, nothing is
            # captured (a read before it gave the time of the last call's last sample, and
            # the recording of a standby kiosk's next call began that long before the call)
            self._ring.origin = self.captured_until = None
            self._last = None
        super().resume()

    def read(self, due: int) -> np.ndarray:
        samples = self._ring.take()
        self.captured_until = self._ring.time_of(self._ring.r)
        if len(samples):
            self._last = samples  # its level is worked out when asked (rarely, in a call)
        return samples

    @property
    def level_db(self) -> float:
        if self._last is not None:
            self._level, self._last = level_dbfs(self._last), None
        return self._level


class DeviceSink(BufferedSink, DeviceStream):
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
            self.callbacks += 1
            if status.output_underflow:
                self.stats.output_underflows += 1
            self.buffer.read_into(outdata[:, 0],
                                  stream_monotonic(time_info, time_info.outputBufferDacTime))
        except Exception as exc:
            outdata.fill(0)
            self._failed_in_callback(exc)
            raise self._sd.CallbackAbort from None
