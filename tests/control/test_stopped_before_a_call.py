"""Ctrl-C before `run` has placed its call: it exits 0, as any stop does, and said only
"SIGINT: stopping" — a new user who pressed it as the daemon started could not tell
whether a call had gone out (and would be billed). The line says none was."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.control.conftest import ProfileBuilder
from tests.e2e.conftest import ROOT, bridge_env


def test_sigint_before_any_call_says_no_call_was_placed(
        profiles: ProfileBuilder, short_dir: Path, start_daemon, tmp_path: Path) -> None:
    """The moment in `once` mode lasts a fraction of a second (the daemon's start-up, up to
    the call's creation); a `loop` daemon whose spending limit is reached stays in it (no
    call is created), so the signal lands there for sure: the same daemon, the same stop."""
    sock = short_dir / "ctl.sock"
    profile = profiles.write("http://127.0.0.1:9", call={"max_daily_minutes": 0},
                             service={"mode": "loop", "control_socket": str(sock)})
    daemon = start_daemon(profile, STATE_DIRECTORY=str(tmp_path))  # (its signals are set)
    daemon.proc.send_signal(signal.SIGINT)
    _, err = daemon.proc.communicate(timeout=20)
    assert daemon.proc.returncode == 0, err
    assert "INFO    SIGINT: stopping — no call was placed\n" in err, err


# The child process sends itself SIGINT at one moment of `run`'s start, found by Python's
# own audit events (an import, the profile's open): the moment is hit every time, however
# loaded the machine (a timer missed it, or landed after the daemon took the signal).
AT_A_MOMENT = """
import os, runpy, signal, sys
kind, name = sys.argv[1], sys.argv[2]
sys.argv = ["vapi-bridge", "run", "--profile", sys.argv[3]]
sent = []
def hook(event, args):
    if event == kind and not sent and str(args[0]).endswith(name):
        sent.append(event)
        os.kill(os.getpid(), signal.SIGINT)
sys.addaudithook(hook)
runpy.run_module("bridge", run_name="__main__")
"""


@pytest.mark.parametrize(("kind", "name"), [
    ("import", "bridge.cli.parsing"),  # the CLI's modules loading
    ("import", "bridge.cli.listen_args"),  # the command line parsed (its lazy imports)
    ("open", "kiosk.yaml"),  # `run` reading its profile
])
def test_sigint_as_run_starts_says_no_call_was_placed(kind: str, name: str,
                                                      profiles: ProfileBuilder) -> None:
    """Before `run`'s daemon takes the signal (its first second or more: modules, then the
    profile), a Ctrl-C exited 130 and said nothing; at any later moment before the call it
    says the line above and exits 0 (README, "Exit codes"). Now the same line, the same 0."""
    profile = profiles.write("http://127.0.0.1:9")
    result = subprocess.run([sys.executable, "-c", AT_A_MOMENT, kind, name, str(profile)],
                            capture_output=True, text=True, cwd=ROOT, env=bridge_env(),
                            timeout=60)
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert re.fullmatch(r"\d\d:\d\d:\d\d INFO    SIGINT: stopping — no call was placed\n",
                        result.stderr), result.stderr


def test_a_second_signal_before_any_call_says_no_summary_is_lost(
        profiles: ProfileBuilder, short_dir: Path, start_daemon, tmp_path: Path) -> None:
    """A second signal while stopping exits at once; with no call placed there is no
    summary to lose, yet it said "exiting at once, without the call's summary". (Two
    signals of two kinds, sent back to back, so that neither is lost: the one handled second
    comes while the first stops.)"""
    sock = short_dir / "ctl.sock"
    profile = profiles.write("http://127.0.0.1:9", call={"max_daily_minutes": 0},
                             service={"mode": "loop", "control_socket": str(sock)})
    daemon = start_daemon(profile, STATE_DIRECTORY=str(tmp_path))
    daemon.proc.send_signal(signal.SIGINT)
    daemon.proc.send_signal(signal.SIGTERM)
    _, err = daemon.proc.communicate(timeout=20)
    second = re.search(r"WARNING (SIGINT|SIGTERM) again while stopping: exiting at once "
                       r"\(exit (\d+)\)\n", err)  # (either may be handled first)
    assert second is not None, err
    assert daemon.proc.returncode == int(second[2]) == {"SIGINT": 130, "SIGTERM": 143}[
        second[1]], err
