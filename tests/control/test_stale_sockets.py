"""`ctl` among sockets that daemons killed (SIGKILL, a watchdog abort, a power cut) left
behind: the unit preserves its runtime directory, so they stay. A socket nothing answers
on is no daemon, whether `ctl` is given the profile or looks for one."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
from pathlib import Path

import pytest

from bridge.control import paths
from bridge.control.paths import answers, discover, prepare_directory, tmp_dir
from tests.e2e.conftest import ROOT, ProfileBuilder, bridge_cmd, bridge_env


def dead_socket(path: Path) -> Path:
    """A socket file bound and closed: nothing listens there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(path))
    return path


def test_ctl_with_only_sockets_a_crash_left_says_no_daemon_runs(short_dir: Path) -> None:
    """Before, it said "several daemons are running" (exit 2), and `led-ring.py`, which takes
    exit 2 as a mistake retrying cannot mend, quit for good instead of waiting (exit 5)."""
    for name in ("a.sock", "b.sock"):
        dead_socket(short_dir / name)
    env = bridge_env(RUNTIME_DIRECTORY=str(short_dir), XDG_RUNTIME_DIR=str(short_dir / "x"))
    found = subprocess.run(bridge_cmd("ctl", "status"), capture_output=True, text=True,
                           env=env, cwd=ROOT, timeout=30)
    assert found.returncode == 5, found
    assert found.stderr.startswith("vapi-bridge: no vapi-bridge daemon is running "
                                   "(nothing answers on "), found.stderr
    assert str(short_dir / "a.sock") in found.stderr and "Traceback" not in found.stderr


def test_ctl_with_a_profile_finds_the_live_daemon_past_a_dead_socket(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    """The system unit's /run/vapi-bridge, kept after a crash, holds the profile's dead
    socket; the profile now runs as a user service. Before, `ctl -p` took the first socket
    that existed and said no daemon was running (exit 5)."""
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, service={"mode": "standby"})  # the default socket
    daemon = start_daemon(profile, name="vapi-bridge/kiosk.sock",
                          XDG_RUNTIME_DIR=str(short_dir))
    dead = dead_socket(short_dir / "run" / "kiosk.sock")  # looked at first (as /run/…)
    env = {**daemon.env, "RUNTIME_DIRECTORY": str(dead.parent)}
    found = subprocess.run(bridge_cmd("ctl", "-p", "kiosk", "status"), capture_output=True,
                           text=True, env=env, cwd=ROOT, timeout=30)
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith("profile kiosk (standby mode)"), found.stdout
    assert daemon.stop() == 0


def test_ctl_with_no_profile_looks_past_a_dead_socket_for_the_live_daemon(
        short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A system daemon that crashed left its socket in /run/vapi-bridge; the kiosk now runs
    from a console, without XDG_RUNTIME_DIR, its socket in /tmp/vapi-bridge-UID. A login
    shell's `ctl status` (XDG_RUNTIME_DIR set: /tmp/vapi-bridge-UID only when its own
    places hold nothing) took the dead one and said "stale socket"; it finds the live one.
    (/run/vapi-bridge is the test's own directory here: other tests' daemons bind the real
    one; /tmp is shared, so the live socket has a name of its own.)"""
    monkeypatch.setattr(paths, "SYSTEM_RUNTIME_DIR", short_dir / "run")
    dead = dead_socket(short_dir / "run" / "kiosk.sock")
    live = tmp_dir() / f"t{os.getpid()}-{secrets.token_hex(3)}.sock"
    prepare_directory(live)
    session = {"XDG_RUNTIME_DIR": str(short_dir / "x"), "TMPDIR": str(short_dir / "t")}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as daemon:
        daemon.bind(str(live))
        daemon.listen()
        try:
            found = discover(session)
            # what `find_socket` then takes: those that answer (other tests' daemons may
            # answer in the shared /tmp too: "several daemons" is theirs, not this test's)
            answering = [path for path in found if answers(path)]
        finally:
            live.unlink()
    assert dead in found and live in answering and dead not in answering, found
