"""The examples of docs/events.md, run as written against a real daemon and the simulator:
the LED ring follows the call a one-button kiosk places and ends (the button pressed by
writing a line to the script's stdin, as a FIFO would)."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.control.conftest import control_profile, wait_for
from tests.e2e.conftest import ROOT, ProfileBuilder

EXAMPLES = ROOT / "docs" / "examples"
DEBOUNCE_S = 0.5  # one-button.py's


class Script:
    """An example script in a subprocess, its stdout lines collected."""

    def __init__(self, name: str, socket: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(EXAMPLES / name), "--socket", str(socket)], cwd=ROOT,
            env={**env, "VAPI_BRIDGE_CMD": f"{shlex.quote(sys.executable)} -m bridge"},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)  # its `ctl` children are stopped with it (close)
        self.lines: list[str] = []
        self.answered_at = 0.0  # when its latest line came (time.monotonic)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.answered_at = time.monotonic()
            self.lines.append(line.rstrip("\n"))

    def press(self) -> None:
        """A press, at least the script's debounce after the last one (closer together they
        are one press, by design: a bouncing contact). Counted from the last press's answer,
        which the script prints after it took that press: so on the script's own clock too,
        however late it read either."""
        assert self.proc.stdin is not None
        time.sleep(max(0.0, self.answered_at + DEBOUNCE_S - time.monotonic()))
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):  # the script and a `ctl` it runs
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.communicate(timeout=10)


def test_the_led_ring_follows_what_the_one_button_kiosk_does(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    sim = start_sim(assistant="echo")
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock",
                                          overrides={"firstMessage": "Hello there."}))
    ring = Script("led-ring.py", daemon.socket, daemon.env)
    button = Script("one-button.py", daemon.socket, daemon.env)
    try:
        wait_for(lambda: "ring: blue breathe (standby)" in ring.lines, 20, "the ring")
        button.press()
        wait_for(lambda: button.lines, 30, "the first press")
        assert button.lines[0].startswith("call: call ") and "started" in button.lines[0]
        wait_for(lambda: "ring: cyan pulse (assistant-speaking)" in ring.lines, 15,
                 "the ring to show the assistant speaking")
        call = wait_for(lambda: sim.calls(), 5, "the call")[0]
        assert call["status"] == "in-progress"

        button.press()
        wait_for(lambda: len(button.lines) == 2, 30, "the second press")
        assert button.lines[1].startswith("end: call ") and "ended" in button.lines[1]
        assert sim.calls()[0]["endedReason"] == "customer-ended-call"
        wait_for(lambda: ring.lines[-1] == "ring: blue breathe (standby)", 15, "standby")
        shown = ring.lines
        assert shown[:5] == ["ring: blue breathe (standby)", "ring: white flash (triggered)",
                             "ring: amber spin (connecting)", "ring: green solid (in-call)",
                             "ring: cyan pulse (assistant-speaking)"], shown
        assert shown[-2:] == ["ring: off - (ended)", "ring: blue breathe (standby)"], shown

        assert daemon.stop() == 0
        wait_for(lambda: ring.lines[-1] == "ring: off - (no daemon)", 15,
                 "the ring to go dark when the daemon stops")
        assert ring.proc.poll() is None, "and to wait for it to come back"
    finally:
        ring.close()
        button.close()
