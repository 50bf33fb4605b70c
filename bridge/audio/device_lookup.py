"""Finding audio devices: PortAudio itself, the device list, a device by name or index,
and the rate to open it at. Opens nothing; `bridge.audio.devices` runs the streams."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bridge.audio.pulse import is_pulse, route, suggestion
from bridge.errors import AudioDeviceError

log = logging.getLogger("bridge.devices")

DEBIAN_PACKAGE = "libportaudio2"


def sounddevice() -> Any:
    """Import sounddevice, turning a missing PortAudio into a one-line fix."""
    try:
        import sounddevice as sd
    except OSError:
        raise AudioDeviceError(f"the PortAudio library is not installed — run: "
                               f"sudo apt-get install {DEBIAN_PACKAGE}") from None
    except Exception as exc:  # sd.PortAudioError from Pa_Initialize
        raise AudioDeviceError(f"PortAudio could not start: {exc}") from None
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


def find_device(spec: str | int, kind: str, key: str = "", none: str = "") -> int | None:
    """Resolve `default`, an index, an exact name, a name substring or `pulse:NAME` (see
    `bridge.audio.pulse`) to an index.
    `kind` is "input" or "output". Returns None for the system default. Errors name the
    setting `key` (default `audio.KIND`) and, where there is no device, the way to do
    without one, `none` (default: set it to null or file:PATH)."""
    key = key or f"audio.{kind}"
    none = none or f"set {key} to null or file:PATH"
    channels_key = "inputs" if kind == "input" else "outputs"
    devices = [d for d in list_devices() if d[channels_key] > 0]
    if is_pulse(spec):
        spec = route(str(spec), kind, [d["name"] for d in devices], key)
    if spec == "default":
        if not devices:
            raise AudioDeviceError(f"no audio {kind} device on this machine — plug one in, "
                                   f"or {none}")
        return None
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        index = int(spec)
        if any(d["index"] == index for d in devices):
            return index
        raise AudioDeviceError(f"{key}: no {kind} device with index {index}; "
                               f"{_available(devices, kind, none)}")
    exact = [d for d in devices if d["name"] == spec]
    if exact:
        return int(exact[0]["index"])
    partial = [d for d in devices if spec.lower() in d["name"].lower()]
    if len(partial) == 1:
        return int(partial[0]["index"])
    if len(partial) > 1:
        names = ", ".join(repr(d["name"]) for d in partial)
        raise AudioDeviceError(f"{key} {spec!r} matches several devices ({names}); "
                               f"use the full name or the index")
    raise AudioDeviceError(f"{key}: no {kind} device named {spec!r}; "
                           f"{_available(devices, kind, none)}"
                           f"{suggestion(spec, kind)}")


def _available(devices: list[dict[str, Any]], kind: str, none: str) -> str:
    if not devices:
        return f"this machine has no {kind} devices — plug one in, or {none}"
    names = "; ".join(f"{d['index']}: {d['name']}" for d in devices)
    return f"available {kind}s: {names} (see `vapi-bridge devices`)"


def pick_rate(device: int | None, kind: str, preferred: int, forced: int | None) -> int:
    """The stream rate for a device (see `choose_rate`), asking PortAudio."""
    sd = sounddevice()
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings

    def refusal(rate: int) -> str | None:
        try:
            check(device=device, samplerate=rate, channels=1, dtype="int16")
        except Exception as exc:
            return str(exc) or exc.__class__.__name__
        return None

    default = int(sd.query_devices(device, kind)["default_samplerate"])
    return choose_rate(kind, preferred, forced, default, refusal)


# A speaker is not opened below this rate when its default rate is higher and taken. At a
# µ-law wire's 8 kHz through a sound server (measured on the rig: the ALSA pulse plugin
# into PulseAudio at 48 kHz), its 160-frame blocks ran dry as it started (a burst of up
# to 246 "underrun occurred" lines, up to 260 output underflows), and the server's
# resampler held 30 ms beyond the 40 ms PortAudio reports (14 ms from 16 kHz, 5 ms from
# 44.1 kHz), which a barge-in's flush cannot reach: the speaker fell silent 82-102 ms
# after `user-interrupted` instead of 53-73 ms. Resampled here, before the playout
# buffer, that audio is flushed with the rest.
SPEAKER_MIN_RATE = 16000


def choose_rate(kind: str, preferred: int, forced: int | None, default: int,
                refusal: Callable[[int], str | None]) -> int:
    """`forced` (audio.device_rate) or an error; else the wire rate when the device takes
    it (a speaker's default rate instead when the wire rate is under SPEAKER_MIN_RATE);
    else the device's default rate (the uplink and downlink resample with soxr).
    `refusal(rate)` is None when the device takes `rate`, else why not."""
    role = "microphone" if kind == "input" else "speaker"
    if forced:
        why = refusal(forced)
        if why is not None:
            raise AudioDeviceError(f"the {role} refuses audio.device_rate {forced} Hz ({why}); "
                                   f"remove the setting or choose another rate")
        return forced
    if kind == "output" and preferred < SPEAKER_MIN_RATE <= default and refusal(default) is None:
        return default
    why = refusal(preferred)
    if why is None:
        return preferred
    if default != preferred and refusal(default) is None:
        log.info("the %s refuses %d Hz (%s); using its default %d Hz, resampled",
                 role, preferred, why, default)
        return default
    raise AudioDeviceError(f"the {role} refuses {preferred} Hz ({why}) and its default "
                           f"{default} Hz; set audio.device_rate to a rate it supports")
