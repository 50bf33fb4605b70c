"""Microphone and speaker through sounddevice (PortAudio) callback streams.

The callbacks run on PortAudio's thread. They never block and never touch the event loop:
the input callback writes into a single-producer ring the uplink drains, and the output
callback pulls from the playout buffer. Each stream is opened at the wire rate when the
device takes it (no resampling then), else at the device's default rate.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from bridge.audio.base import DeviceStats, level_dbfs
from bridge.audio.playout import PlayoutBuffer, PlayoutSettings, PlayoutStats
from bridge.errors import AudioDeviceError

log = logging.getLogger("bridge.devices")


def sounddevice() -> Any:
    """Import sounddevice, turning a missing PortAudio into a one-line fix."""
    try:
        import sounddevice as sd
    except OSError:
        raise AudioDeviceError("the PortAudio library is not installed — run: "
                               "sudo apt-get install libportaudio2") from None
    return sd


def list_devices() -> list[dict[str, Any]]:
    sd = sounddevice()
    apis = sd.query_hostapis()
    try:
        default_in, default_out = sd.default.device
    except Exception:  # no defaults on a machine without devices
        default_in = default_out = -1
    out = []
    for dev in sd.query_devices():
        out.append({
            "index": dev["index"], "name": dev["name"],
            "hostapi": apis[dev["hostapi"]]["name"],
            "inputs": dev["max_input_channels"], "outputs": dev["max_output_channels"],
            "default_rate": dev["default_samplerate"],
            "default_input": dev["index"] == default_in,
            "default_output": dev["index"] == default_out,
        })
    return out


def find_device(spec: str | int, kind: str) -> int | None:
    """Resolve `default`, an index, an exact name or a name substring to an index.
    `kind` is "input" or "output". Returns None for the system default."""
    channels_key = "inputs" if kind == "input" else "outputs"
    devices = [d for d in list_devices() if d[channels_key] > 0]
    if spec == "default":
        if not devices:
            raise AudioDeviceError(f"no audio {kind} device on this machine — plug one in, "
                                   f"or set audio.{kind} to null or file:PATH")
        return None
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        index = int(spec)
        if any(d["index"] == index for d in devices):
            return index
        raise AudioDeviceError(f"no {kind} device with index {index}; "
                               f"{_available(devices, kind)}")
    exact = [d for d in devices if d["name"] == spec]
    if exact:
        return int(exact[0]["index"])
    partial = [d for d in devices if spec.lower() in d["name"].lower()]
    if len(partial) == 1:
        return int(partial[0]["index"])
    if len(partial) > 1:
        names = ", ".join(repr(d["name"]) for d in partial)
        raise AudioDeviceError(f"audio.{kind} {spec!r} matches several devices ({names}); "
                               f"use the full name or the index")
    raise AudioDeviceError(f"no {kind} device named {spec!r}; {_available(devices, kind)}")


def _available(devices: list[dict[str, Any]], kind: str) -> str:
    if not devices:
        return f"this machine has no {kind} devices"
    names = "; ".join(f"{d['index']}: {d['name']}" for d in devices)
    return f"available {kind}s: {names} (see `vapi-bridge devices`)"


def pick_rate(device: int | None, kind: str, preferred: int, forced: int | None) -> int:
    sd = sounddevice()
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    for rate in ([forced] if forced else [preferred]):
        try:
            check(device=device, samplerate=rate, channels=1, dtype="int16")
            return rate
        except Exception as exc:
            if forced:
                raise AudioDeviceError(f"the {kind} device refuses audio.device_rate "
                                       f"{forced} Hz ({exc}); remove the setting") from None
    info = sd.query_devices(device, kind)
    return int(info["default_samplerate"])


class _CaptureRing:
    """Single producer (PortAudio thread) / single consumer (event loop) sample ring."""

    def __init__(self, capacity: int) -> None:
        self.buf = np.zeros(capacity, dtype=np.int16)
        self.cap = capacity
        self.w = 0
        self.r = 0

    def put(self, samples: np.ndarray) -> None:
        n = min(len(samples), self.cap)
        start = self.w % self.cap
        first = min(n, self.cap - start)
        self.buf[start:start + first] = samples[:first]
        if first < n:
            self.buf[: n - first] = samples[first:n]
        self.w += n

    def take(self) -> np.ndarray:
        w = self.w
        n = w - self.r
        if n > self.cap:  # the consumer fell behind a whole ring: skip to the newest
            self.r = w - self.cap
            n = self.cap
        out = np.empty(n, dtype=np.int16)
        start = self.r % self.cap
        first = min(n, self.cap - start)
        out[:first] = self.buf[start:start + first]
        if first < n:
            out[first:] = self.buf[: n - first]
        self.r = w
        return out


class DeviceSource:
    def __init__(self, spec: str | int, wire_rate: int, *, latency: str | float = "low",
                 block_ms: int = 20, device_rate: int | None = None) -> None:
        self.stats = DeviceStats()
        self.device = find_device(spec, "input")
        self.sample_rate = pick_rate(self.device, "input", wire_rate, device_rate)
        self._latency = latency
        self._blocksize = self.sample_rate * block_ms // 1000
        self._ring = _CaptureRing(self.sample_rate * 2)
        self._stream: Any = None
        self._level = -120.0

    def _callback(self, indata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        if status.input_overflow:
            self.stats.input_overflows += 1
        self._ring.put(indata[:, 0])

    def start(self) -> None:
        sd = sounddevice()
        try:
            self._stream = sd.InputStream(device=self.device, samplerate=self.sample_rate,
                                          channels=1, dtype="int16", latency=self._latency,
                                          blocksize=self._blocksize, callback=self._callback)
            self._stream.start()
        except Exception as exc:
            raise AudioDeviceError(f"cannot open the microphone: {exc}") from None
        log.info("microphone: %s at %d Hz", self.name, self.sample_rate)

    @property
    def name(self) -> str:
        return str(sounddevice().query_devices(self.device, "input")["name"])

    def read(self, due: int) -> np.ndarray:
        samples = self._ring.take()
        if len(samples):
            self._level = level_dbfs(samples)
        return samples

    @property
    def level_db(self) -> float:
        return self._level

    def close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            try:
                stream.stop()
            finally:
                stream.close()


class DeviceSink:
    def __init__(self, spec: str | int, wire_rate: int, *, latency: str | float = "low",
                 block_ms: int = 20, device_rate: int | None = None,
                 playout: PlayoutSettings | None = None) -> None:
        self.stats = DeviceStats()
        self.device = find_device(spec, "output")
        self.sample_rate = pick_rate(self.device, "output", wire_rate, device_rate)
        self._latency = latency
        self._blocksize = self.sample_rate * block_ms // 1000
        self.buffer = PlayoutBuffer(self.sample_rate, playout)
        self._stream: Any = None

    def _callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        if status.output_underflow:
            self.stats.output_underflows += 1
        self.buffer.read_into(outdata[:, 0])

    def start(self) -> None:
        sd = sounddevice()
        try:
            self._stream = sd.OutputStream(device=self.device, samplerate=self.sample_rate,
                                           channels=1, dtype="int16", latency=self._latency,
                                           blocksize=self._blocksize, callback=self._callback)
            self._stream.start()
        except Exception as exc:
            raise AudioDeviceError(f"cannot open the speaker: {exc}") from None
        log.info("speaker: %s at %d Hz", self.name, self.sample_rate)

    @property
    def name(self) -> str:
        return str(sounddevice().query_devices(self.device, "output")["name"])

    def capture_frame(self, samples: np.ndarray) -> None:
        self.buffer.write(samples)

    def clear_buffer(self) -> None:
        self.buffer.flush()

    def set_playout_target(self, ms: float, floor_ms: float = 0.0) -> None:
        self.buffer.set_target_ms(ms, floor_ms)

    def playout_stats(self) -> PlayoutStats:
        return self.buffer.stats()

    @property
    def played_samples(self) -> int:
        return self.buffer.played_samples

    def close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            try:
                stream.stop()
            finally:
                stream.close()
