#!/usr/bin/env python3
"""A one-button kiosk: press to call, press again to end.

    one-button.py [--profile NAME | --socket PATH]     # any `vapi-bridge ctl` options

The daemon runs in standby mode (`service.mode: standby`); this script, beside it, turns
each press into `vapi-bridge ctl call` or `vapi-bridge ctl end`, whichever fits what
`vapi-bridge ctl --json status` says. Here a press is a line on stdin (Enter, or a line
written to a FIFO: `mkfifo /run/kiosk-button; one-button.py < /run/kiosk-button`); with a
real button, replace `presses()`, e.g. with gpiozero:

    from gpiozero import Button
    def presses():
        button = Button(17)
        while True:
            button.wait_for_press()
            yield

Set VAPI_BRIDGE_CMD to the command that runs vapi-bridge, if it is not on PATH.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
import time
from collections.abc import Iterator

DEBOUNCE_S = 0.5  # presses closer together than this, or while one is handled, are one
# beyond ctl's own longest wait (`ctl end`: 90 s, for an end Vapi is slow to confirm):
# ctl answers first, with its exit code, rather than this script dying with a traceback
CTL_TIMEOUT_S = 120


def ctl(ctl_args: list[str], *command: str) -> subprocess.CompletedProcess[str]:
    bridge = shlex.split(os.environ.get("VAPI_BRIDGE_CMD", "vapi-bridge"))
    return subprocess.run([*bridge, "ctl", *ctl_args, *command], capture_output=True,
                          text=True, timeout=CTL_TIMEOUT_S)


def in_call(ctl_args: list[str]) -> bool:
    status = ctl(ctl_args, "--json", "status")
    if status.returncode != 0:
        return False
    call = json.loads(status.stdout).get("call")
    return bool(call and call.get("live"))


def press(ctl_args: list[str]) -> str:
    """One press: end the call in progress, or place one. What happened, in a line."""
    command = "end" if in_call(ctl_args) else "call"
    result = ctl(ctl_args, command)
    said = (result.stdout or result.stderr).strip()
    return f"{command}: {said}" if said else command


def presses() -> Iterator[None]:
    """A line on stdin. A named FIFO reaches its end as each writer closes it (`echo >
    FIFO`): it is opened again, to wait for the next press."""
    named = os.readlink("/proc/self/fd/0") if os.path.exists("/proc/self/fd/0") else ""
    stream = sys.stdin
    while True:
        for _line in stream:
            yield
        try:
            fifo = named.startswith("/") and stat.S_ISFIFO(os.stat(named).st_mode)
        except OSError:  # removed
            fifo = False
        if not fifo:
            return  # a file, or a pipe whose writer is gone for good
        stream.close()
        stream = open(named)  # noqa: SIM115 - blocks until the next writer opens it


def main(argv: list[str]) -> int:
    last = 0.0
    for _ in presses():
        if time.monotonic() - last < DEBOUNCE_S:
            continue
        print(press(argv), flush=True)
        # from when the press was handled (`ctl call` waits for the call to connect): a
        # bounce that came meanwhile is read only now, and is still the same press
        last = time.monotonic()
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
