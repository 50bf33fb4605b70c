"""The examples of docs/events.md, run as written against a real daemon and the simulator:
the LED ring follows the call a one-button kiosk places and ends (the button pressed by
writing a line to the script's stdin), and the one-button kiosk behind a named FIFO, each
press written by a writer of its own (`echo > FIFO`), as the doc shows."""

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


def test_the_one_button_kiosk_takes_every_press_written_to_its_fifo(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    """`echo > FIFO` opens, writes and closes it: the script's stdin then ends. Before, the
    script exited after the first press and the second `echo` waited for a reader forever,
    the call left running."""
    sim = start_sim(assistant="echo")
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock"))
    fifo = short_dir / "button"
    os.mkfifo(fifo)
    command = shlex.join([sys.executable, str(EXAMPLES / "one-button.py"), "--socket",
                          str(daemon.socket)])
    proc = subprocess.Popen(["sh", "-c", f"exec {command} < {shlex.quote(str(fifo))}"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            env={**daemon.env, "VAPI_BRIDGE_CMD":
                                 f"{shlex.quote(sys.executable)} -m bridge"})
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(line.rstrip("\n") for line in proc.stdout),
                     daemon=True).start()  # type: ignore[union-attr]

    def press() -> None:  # `echo > FIFO`, which waits for a reader as echo does
        with open(fifo, "w") as writer:
            writer.write("\n")

    try:
        press()
        wait_for(lambda: lines, 30, "the first press")
        assert lines[0].startswith("call: call ") and "started" in lines[0], lines
        time.sleep(DEBOUNCE_S)
        writer = threading.Thread(target=press, daemon=True)
        writer.start()
        writer.join(20)
        assert not writer.is_alive(), "a reader took the second press"
        wait_for(lambda: len(lines) == 2, 30, "the second press")
        assert lines[1].startswith("end: call ") and "ended" in lines[1], lines
        assert sim.calls()[0]["endedReason"] == "customer-ended-call"
        assert proc.poll() is None, "and it waits for the next press"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(OSError), open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)):
            pass  # (a reader blocked in open() is let go)
        proc.communicate(timeout=10)
    assert daemon.stop() == 0


def test_a_bounce_read_while_the_press_is_handled_is_the_same_press(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    """Two presses written at once (a bouncing contact): one call, not a call ended at
    once. The script read the bounce only after `ctl call` returned (here 1 s: the call's
    socket is slow to connect), more than the debounce later, and took it for a second
    press. The next real press ends the call."""
    sim = start_sim(assistant="echo", faults=("connect-delay=1000",))
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock"))
    kiosk = Script("one-button.py", daemon.socket, daemon.env)
    try:
        assert kiosk.proc.stdin is not None
        kiosk.proc.stdin.write("\n\n")  # the bounce
        kiosk.proc.stdin.flush()
        wait_for(lambda: kiosk.lines, 30, "the first press")
        kiosk.press()  # a real press, the debounce after the last answer
        pressed = time.monotonic()
        wait_for(lambda: kiosk.answered_at > pressed, 30, "the real press's answer")
        assert len(kiosk.lines) == 2, kiosk.lines  # the bounce was no press of its own
        assert kiosk.lines[0].startswith("call: call ") and "started" in kiosk.lines[0]
        assert kiosk.lines[1].startswith("end: call "), kiosk.lines
        assert len(sim.calls()) == 1, kiosk.lines
    finally:
        kiosk.close()
    assert daemon.stop() == 0
