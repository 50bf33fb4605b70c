"""A PulseAudio or PipeWire source/sink named directly: `audio.input: pulse:ec_mic`.

PortAudio sees ALSA devices only, so a sound server's own sources and sinks (an echo-
cancelled microphone from `module-echo-cancel`, a Bluetooth speaker) are not among them.
The ALSA `pulse` plugin device (Debian: libasound2-plugins) is: it opens a stream on the
sound server's default source or sink, which libpulse takes from `PULSE_SOURCE` /
`PULSE_SINK` when the stream is created. So `pulse:NAME` sets that variable for this
process and opens the ALSA device `pulse`. PipeWire's pipewire-pulse serves it the same way.

The sources and sinks are listed with `pactl` (pulseaudio-utils) when it is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from bridge.errors import AudioDeviceError

PREFIX = "pulse:"
ALSA_DEVICE = "pulse"
PLUGIN_PACKAGE = "libasound2-plugins"
_ENV = {"input": "PULSE_SOURCE", "output": "PULSE_SINK"}
_PACTL_KIND = {"input": "sources", "output": "sinks"}


def is_pulse(spec: object) -> bool:
    return isinstance(spec, str) and spec.startswith(PREFIX)


def node_name(spec: str) -> str:
    return spec[len(PREFIX):].strip()


def _pactl_short(kind: str) -> list[list[str]] | None:
    """`pactl list short sources|sinks` rows, or None when pactl cannot tell."""
    pactl = shutil.which("pactl")
    if pactl is None:
        return None
    try:
        out = subprocess.run([pactl, "list", "short", _PACTL_KIND[kind]], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return [line.split("\t") for line in out.stdout.splitlines() if line.count("\t") >= 3]


def _spec_fields(sample_spec: str) -> tuple[int, int]:
    """'s16le 2ch 48000Hz' → (2, 48000)."""
    channels = rate = 0
    for part in sample_spec.split():
        if part.endswith("ch") and part[:-2].isdigit():
            channels = int(part[:-2])
        elif part.endswith("Hz") and part[:-2].isdigit():
            rate = int(part[:-2])
    return channels, rate


def list_nodes() -> list[dict[str, Any]] | None:
    """The server's sources and sinks in `vapi-bridge devices`' shape (monitors left out),
    or None when there is no pactl or no server."""
    found: list[dict[str, Any]] = []
    for kind in ("input", "output"):
        rows = _pactl_short(kind)
        if rows is None:
            return None
        for row in rows:
            name = row[1]
            if kind == "input" and name.endswith(".monitor"):
                continue
            channels, rate = _spec_fields(row[3])
            found.append({"index": None, "name": PREFIX + name, "hostapi": "PulseAudio",
                          "inputs": channels if kind == "input" else 0,
                          "outputs": channels if kind == "output" else 0,
                          "default_rate": float(rate), "default_input": False,
                          "default_output": False})
    return found


def suggestion(name: str, kind: str) -> str:
    """` — did you mean pulse:NAME?` when the sound server has a source/sink so named."""
    rows = _pactl_short(kind) or []
    return f" — did you mean {PREFIX}{name}?" if any(r[1] == name for r in rows) else ""


def route(spec: str, kind: str, alsa_names: list[str], key: str = "") -> str:
    """Point this process's pulse streams of `kind` at the node `spec` names; returns the
    ALSA device to open. `alsa_names` are the ALSA devices PortAudio lists for `kind`;
    errors name the setting `key` (default `audio.KIND`)."""
    key = key or f"audio.{kind}"
    name = node_name(spec)
    if ALSA_DEVICE not in alsa_names:
        raise AudioDeviceError(f"{key} {spec}: PortAudio has no ALSA 'pulse' device; "
                               f"install the ALSA PulseAudio plugin (sudo apt-get install "
                               f"{PLUGIN_PACKAGE}) and make sure PulseAudio or PipeWire runs")
    rows = _pactl_short(kind)
    if rows is not None:
        names = [row[1] for row in rows]
        if name not in names:
            what = "source" if kind == "input" else "sink"
            shown = ", ".join(n for n in names if not n.endswith(".monitor")) or "none"
            raise AudioDeviceError(f"{key}: no PulseAudio {what} named {name!r}; "
                                   f"available {what}s: {shown} (see `vapi-bridge devices`)")
    os.environ[_ENV[kind]] = name
    return ALSA_DEVICE
