"""A daily spending limit on a kiosk whose state directory cannot take the day's totals (a
full disk, read-only, a file size limit). Before, the totals were read back from the file
for every call, so a call whose write failed was lost from them (and one placed with the
disk full was never counted at all: not on the open list, its end took it for another
daemon's): the next call was placed over the limit, and the one after, all day.

A file size limit on the daemon (RLIMIT_FSIZE, set on the running process with prlimit;
Python ignores SIGXFSZ, so the write fails with EFBIG) stands in for the full disk. Each
test takes about 5 s (one call of 2 s against the simulator, or none)."""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.control.conftest import Daemon, control_profile, wait_for
from tests.e2e.conftest import ROOT, ProfileBuilder, SimHandle, bridge_cmd, bridge_env
from tests.service.test_cut_off import billed

LIMIT = 0.001  # dollars: the simulator bills $0.05/min, so 1.2 s of call reaches it
SAVE_FAILED = "cannot save the spending totals to"
FULL = (0, resource.RLIM_INFINITY)  # soft limit 0: no file may grow (the hard one kept)
MENDED = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)


def disk(daemon: Daemon, limits: tuple[int, int]) -> None:
    resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE, limits)


def spending(daemon: Daemon) -> dict:
    return json.loads(daemon.ok("--json", "status"))["spending"]


def saved(state: Path) -> dict:
    path = state / "vapi-bridge" / "spending-kiosk.json"
    return json.loads(path.read_text()) if path.exists() else {}


@pytest.mark.timeout(90)
def test_the_limit_holds_while_the_disk_is_full_and_the_file_catches_up(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon: Callable[..., Daemon]) -> None:
    sim: SimHandle = start_sim(assistant="echo")
    profile = control_profile(profiles, sim, short_dir / "ctl.sock",
                              call={"max_daily_cost": LIMIT})
    state = tmp_path / "state"
    daemon = start_daemon(profile, XDG_STATE_HOME=str(state))
    wait_for(lambda: daemon.ctl("status").returncode == 0, 10, "the daemon to answer")
    disk(daemon, FULL)

    assert daemon.ctl("call").returncode == 0
    sim.wait_streaming(100)  # 2 s of call: $0.0017, over the limit
    assert daemon.ctl("end").returncode == 0
    wait_for(lambda: json.loads(daemon.ok("--json", "status"))["state"].startswith(
             "waiting for trigger"), 15, "the call's end")
    # the state (systemd's STATUS= line, ctl status) says the kiosk refuses calls, dated
    said = json.loads(daemon.ok("--json", "status"))["state"]
    assert re.fullmatch(r"waiting for trigger; on \d{4}-\d\d-\d\d, calls refused: spending "
                        r"limit reached: today's calls have cost \$0\.00\d+, at or over "
                        r"call\.max_daily_cost \(\$0\.001\)", said), said

    refused = daemon.ctl("call")
    assert refused.returncode == 1, (refused.stdout, refused.stderr)
    assert "spending limit reached: today's calls have cost $0.00" in refused.stderr
    assert len(sim.calls()) == 1, "a second call was placed over the limit"
    assert spending(daemon)["calls"] == 1
    assert saved(state).get("calls", 0) == 0, "the disk is full: nothing saved"

    disk(daemon, MENDED)  # space freed: the next look saves what memory held
    assert daemon.ctl("call").returncode == 1
    kept = saved(state)
    assert kept["calls"] == 1 and kept["open"] == [], kept
    assert kept["cost"] == pytest.approx(billed(sim), abs=1e-6), kept
    assert daemon.stop() == 0
    assert daemon.err.count(SAVE_FAILED) == 1, daemon.err  # said once, for every write
    [line] = [x for x in daemon.err.splitlines() if SAVE_FAILED in x]
    assert "raise the file size limit (ulimit -f; under systemd, LimitFSIZE=)" in line
    assert daemon.err.count("the spending totals are saved to") == 1, daemon.err


FILE_SIZE_LIMIT = """
import os, resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""


@pytest.mark.timeout(90)
def test_a_daemon_started_with_the_disk_full_places_no_call_until_it_can_save(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path) -> None:
    """What an earlier run counted but could not save is unknown (a kiosk restarted in a
    loop would place a call a run): refused with the cause and the fix, until the totals
    can be saved again (no restart needed)."""
    sim: SimHandle = start_sim(assistant="echo")
    sock = short_dir / "ctl.sock"
    profile = control_profile(profiles, sim, sock, call={"max_daily_cost": LIMIT})
    env = bridge_env(XDG_STATE_HOME=str(tmp_path / "state"))
    proc = subprocess.Popen([sys.executable, "-c", FILE_SIZE_LIMIT,
                             *bridge_cmd("run", "--profile", str(profile))[1:]],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    daemon = Daemon(proc, sock, env)
    try:
        wait_for(lambda: daemon.ctl("status").returncode == 0, 15, "the daemon to answer")
        refused = daemon.ctl("call")
        assert refused.returncode == 1, (refused.stdout, refused.stderr)
        assert "spending limit unknown: today's totals cannot be saved to" in refused.stderr
        assert "raise the file size limit" in refused.stderr
        assert spending(daemon)["limitReached"]
        assert sim.calls() == [], "a call was placed with the day's spending unknown"

        disk(daemon, MENDED)
        placed = daemon.ctl("call")
        assert placed.returncode == 0 and "started" in placed.stdout, placed.stderr
        assert daemon.ctl("end").returncode == 0
    finally:
        daemon.stop()
    assert daemon.err.count("spending limit unknown") == 1, daemon.err
    assert daemon.err.count(SAVE_FAILED) == 1, daemon.err


def test_check_fails_as_run_would_when_the_totals_cannot_be_saved(
        start_sim, profiles: ProfileBuilder, tmp_path: Path) -> None:
    """`check` said ✓ while `run` refused every call (about 2 s)."""
    sim: SimHandle = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, call={"max_daily_cost": LIMIT})
    state = tmp_path / "state"
    done = subprocess.run([sys.executable, "-c", FILE_SIZE_LIMIT,
                           *bridge_cmd("check", "--profile", str(profile))[1:]],
                          cwd=ROOT, env=bridge_env(XDG_STATE_HOME=str(state)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stdout + done.stderr
    [line] = [x for x in done.stdout.splitlines() if "spending guard" in x]
    assert line.startswith(" ✗ spending guard allows a call — spending limit unknown: today's "
                           f"totals cannot be saved to {state}/vapi-bridge/spending-kiosk.json "
                           "(File too large): run places no call — raise the file size limit"
                           ), line
    assert not state.exists() or not any(state.rglob("*")), "check leaves nothing behind"
