"""`ctl status` and `ctl events` whose stdout cannot be written (`> /dev/full`, a full
disk): one line naming it, exit 2, as for every command — through a standby daemon."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.control.conftest import control_profile
from tests.e2e.conftest import ROOT, ProfileBuilder, bridge_cmd
from tests.e2e.test_full_stdout import FULL


def test_ctl_status_and_events_to_a_full_disk(start_sim, profiles: ProfileBuilder,
                                              short_dir: Path, start_daemon) -> None:
    sim = start_sim(assistant="echo")
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock"))
    with open("/dev/full", "w") as full:
        status = subprocess.run(bridge_cmd("ctl", "--socket", str(daemon.socket), "status"),
                                cwd=ROOT, env=daemon.env, stdout=full, stderr=subprocess.PIPE,
                                text=True, timeout=30)
        events = subprocess.Popen(bridge_cmd("ctl", "--socket", str(daemon.socket), "events"),
                                  cwd=ROOT, env=daemon.env, stdout=full,
                                  stderr=subprocess.PIPE, text=True)
        try:
            daemon.ok("call")  # events to print
            _, err = events.communicate(timeout=30)
        finally:
            if events.poll() is None:
                events.kill()
                events.communicate()
    assert (status.returncode, status.stderr.strip()) == (2, FULL), status.stderr
    assert (events.returncode, err.strip()) == (2, FULL), err
    daemon.ok("end")
    assert daemon.stop() == 0, daemon.err


def test_ctl_events_ends_when_its_reader_goes_while_the_kiosk_is_idle(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    """`ctl events | head -n 1` on a kiosk in standby: the first line (the state, replayed)
    is read, head exits, and so does ctl events, exit 0 — before, it waited for the next
    event, which an idle kiosk may not publish for hours."""
    sim = start_sim(assistant="echo")
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock"))
    events = subprocess.Popen(bridge_cmd("ctl", "--socket", str(daemon.socket), "events"),
                              cwd=ROOT, env=daemon.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    assert events.stdout is not None
    first = events.stdout.readline()
    events.stdout.close()  # the reader goes, as `head -n 1` does
    try:
        code = events.wait(timeout=20)  # a hang guard: no event comes meanwhile
    finally:
        if events.poll() is None:
            events.kill()
            events.wait()
    assert b'"event"' in first, first
    assert code == 0, events.stderr.read() if events.stderr else ""
    assert daemon.stop() == 0, daemon.err
