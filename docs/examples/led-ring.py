#!/usr/bin/env python3
"""An LED ring that follows the kiosk: `vapi-bridge ctl events` in, a colour out.

    led-ring.py [--profile NAME | --socket PATH]     # any `vapi-bridge ctl` options

It runs beside the daemon (its own process, its own systemd unit if you like), reads the
event stream, and sets the ring for each change of state. Here `show()` prints what it
would set; on a real ring replace its body (e.g. with the `pi5neo` or `rpi_ws281x`
library, or an `echo` to a microcontroller's serial port). When the daemon stops or is
not running yet, it waits and connects again.

Set VAPI_BRIDGE_CMD to the command that runs vapi-bridge, if it is not on PATH.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time

# each kind of event → (colour, pattern); kinds not listed leave the ring as it is
RING = {
    "standby": ("blue", "breathe"),  # waiting for a visitor
    "triggered": ("white", "flash"),  # a call is on its way
    "connecting": ("amber", "spin"),
    "in-call": ("green", "solid"),
    "assistant-speaking": ("cyan", "pulse"),
    "assistant-silent": ("green", "solid"),
    "visitor-speaking": ("white", "solid"),
    "visitor-silent": ("green", "solid"),
    "hang": ("amber", "blink"),  # the assistant is taking its time
    "error": ("red", "blink"),  # the call could not be placed
    "ended": ("off", "-"),
}
MUTED = ("red", "solid")  # while the visitor or the assistant is muted
RETRY_S = 2.0


class Ring:
    def __init__(self) -> None:
        self.muted: set[str] = set()
        self.shown: tuple[str, str] | None = None
        self.base: tuple[str, str] = ("off", "-")

    def on_event(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "muted":
            self.muted.add(str(event.get("who")))
        elif kind == "unmuted":
            self.muted.discard(str(event.get("who")))
        elif kind in ("ended", "error", "standby"):
            self.muted.clear()
        if kind in RING:
            self.base = RING[kind]
        self.show(MUTED if self.muted and kind not in ("ended", "error") else self.base, kind)

    def show(self, look: tuple[str, str], why: object) -> None:
        if look == self.shown:
            return
        self.shown = look
        colour, pattern = look
        print(f"ring: {colour} {pattern} ({why})", flush=True)  # ← drive the LEDs here


def follow(ring: Ring, ctl_args: list[str]) -> int:
    """One `ctl events` stream, to its end: its exit code."""
    bridge = shlex.split(os.environ.get("VAPI_BRIDGE_CMD", "vapi-bridge"))
    with subprocess.Popen([*bridge, "ctl", *ctl_args, "events", "--json"],
                          stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                ring.on_event(event)
        return proc.wait()


def main(argv: list[str]) -> int:
    ring = Ring()
    while True:
        code = follow(ring, argv)
        if code not in (0, 5):  # 0: the daemon stopped; 5: not running (yet)
            return code  # a usage error or a refusal: retrying will not help
        ring.show(("off", "-"), "no daemon")
        time.sleep(RETRY_S)


if __name__ == "__main__":
    try:
        raise SystemExit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
