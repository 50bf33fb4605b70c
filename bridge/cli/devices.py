"""`vapi-bridge devices`: the ALSA devices PortAudio sees, and the sound server's sources and
sinks (`pulse:NAME`); with none, what to check."""

from __future__ import annotations

import json
from typing import Any

from bridge.audio.device_lookup import list_devices
from bridge.audio.pulse import list_nodes
from bridge.errors import ExitCode

NO_DEVICES_HINT = (
    "no audio devices found. Check that a sound card or USB audio device is plugged in and "
    "that `aplay -l` / `arecord -l` list it; that this user may use it (in the group audio: "
    "`id -nG`); and, in a container or VM, that /dev/snd is passed through. Without devices, "
    "set audio.input/audio.output to file:PATH.wav or null.")


def _row(d: dict[str, Any]) -> str:
    mark = (" <- default input" if d["default_input"] else "") + \
           (" <- default output" if d["default_output"] else "")
    index = "-" if d["index"] is None else d["index"]
    return (f"{index:>3}  {d['inputs']:>2} {d['outputs']:>3}  {int(d['default_rate']):>6}  "
            f"{d['hostapi'][:10]:<10} {d['name']}{mark}")


def show_devices(as_json: bool) -> int:
    devices = list_devices()
    nodes = list_nodes() or []
    if as_json:
        print(json.dumps(devices + nodes, indent=2))
        return ExitCode.OK
    usable = [d for d in devices if d["inputs"] or d["outputs"]]
    if not usable and not nodes:
        print(NO_DEVICES_HINT)
        return ExitCode.OK
    print(f"{'idx':>3}  {'in':>2} {'out':>3}  {'rate':>6}  {'host API':<10} name")
    for d in devices + nodes:
        print(_row(d))
    if nodes:
        print("PulseAudio/PipeWire sources and sinks: name them as they are listed, e.g. "
              f"audio.input: {next(n['name'] for n in nodes)}")
    return ExitCode.OK
