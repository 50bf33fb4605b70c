"""Choose the audio backend a profile names: a device, a WAV file, or null."""

from __future__ import annotations

from bridge.audio.base import AudioSink, AudioSource
from bridge.audio.files import ClockedSink, NullSource, WavSource
from bridge.profile.fields import file_path
from bridge.profile.model import AudioSettings


def describe(spec: str | int) -> str:
    return f"device #{spec}" if isinstance(spec, int) else str(spec)


def open_source(audio: AudioSettings, wire_rate: int) -> AudioSource:
    spec = audio.input
    if spec == "null":
        return NullSource(wire_rate)
    if (wav := file_path(spec)) is not None:
        return WavSource(wav, audio.device_rate or wire_rate)
    from bridge.audio.devices import DeviceSource

    return DeviceSource(spec, wire_rate, latency=audio.latency, block_ms=audio.block_ms,
                        device_rate=audio.device_rate)


def open_sink(audio: AudioSettings, wire_rate: int) -> AudioSink:
    spec = audio.output
    if spec == "null":
        return ClockedSink(audio.device_rate or wire_rate, None, playout=audio.playout)
    if (wav := file_path(spec)) is not None:
        return ClockedSink(audio.device_rate or wire_rate, wav, playout=audio.playout)
    from bridge.audio.devices import DeviceSink

    return DeviceSink(spec, wire_rate, latency=audio.latency, block_ms=audio.block_ms,
                      device_rate=audio.device_rate, playout=audio.playout)
