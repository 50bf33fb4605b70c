"""`vapi-bridge check` beside a running daemon (the control tests' fixtures: a daemon of
its own, its socket in a short private directory)."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from bridge.control.paths import SYSTEM_RUNTIME_DIR
from bridge.extras import program
from tests.control.conftest import control_profile, wait_for
from tests.e2e.conftest import ROOT, ProfileBuilder, bridge_cmd, bridge_env, run_bridge


def test_check_says_when_a_daemon_already_runs_the_profile(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    """`run` is refused while a daemon holds the profile's control socket: check says so,
    as a warning (checking beside a running kiosk is usual), and passes. The kiosk screen's
    port is the daemon's own: before, check failed it (exit 2, address already in use)."""
    sim = start_sim(assistant="echo")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        listen = f"127.0.0.1:{probe.getsockname()[1]}"
    wav = short_dir / "out.wav"  # a file: output, written (and locked) by the daemon
    profile = control_profile(profiles, sim, short_dir / "ctl.sock", http={"listen": listen},
                              audio={"output": f"file:{wav}"})
    alone = run_bridge("check", "--profile", str(profile))
    assert alone.returncode == 0 and " ! daemon" not in alone.stdout, alone.stdout
    daemon = start_daemon(profile)
    beside = run_bridge("check", "--profile", str(profile))
    assert beside.returncode == 0, beside.stdout
    assert (f" ! daemon — one is running with this profile now (its control socket "
            f"{short_dir / 'ctl.sock'} answers): `run` is refused while it runs"
            in beside.stdout), beside.stdout
    assert (f" ✓ kiosk screen (http.listen {listen}) available — held by the daemon running "
            "with this profile" in beside.stdout), beside.stdout
    assert f"can be written — {wav}, written by the daemon running with this profile" \
        in beside.stdout, beside.stdout  # its own file: not "another process"

    # another kiosk's profile given the same socket and port (a copied profile): its `run`
    # would stop at once (exit 2) and serve no screen. Before, check took the first kiosk's
    # daemon for its own: "! daemon — one is running with this profile", the port "✓ held
    # by the daemon running with this profile", exit 0 (fleet probe)
    lobby = control_profile(profiles, sim, short_dir / "ctl.sock", name="lobby",
                            http={"listen": listen}, audio={"output": f"file:{wav}"})
    copied = run_bridge("check", "--profile", str(lobby))
    assert copied.returncode == 2, copied.stdout
    assert (f" ✗ control socket — {short_dir / 'ctl.sock'} is the one the daemon of profile "
            f"'kiosk' answers on: `run` would stop at once — give this profile (lobby) a "
            f"service.control_socket of its own" in copied.stdout), copied.stdout
    assert f" ✗ kiosk screen (http.listen {listen}) available" in copied.stdout, copied.stdout
    assert f"can be written — {wav} is being written by another process now" \
        in copied.stdout, copied.stdout
    assert daemon.stop() == 0


def test_check_beside_another_users_daemon_names_the_ctl_that_it_answers(
        start_sim, profiles: ProfileBuilder, short_dir: Path) -> None:
    """The system unit's daemon answers its own user only: root's `check` beside it said
    "`vapi-bridge ctl --socket … status` shows it", which the daemon refuses for root (and
    which is on no PATH under /opt). It now gives the command the daemon answers: ctl as
    the daemon's user, through the installed program's path. (A daemon of another uid:
    the control socket's own test double, allowed_uid.)"""
    from bridge.control.server import ControlServer
    from tests.control.test_socket import _runs_ctl_as

    sim = start_sim(assistant="echo")
    sock = short_dir / "ctl.sock"
    profile = control_profile(profiles, sim, sock)

    async def scenario() -> subprocess.CompletedProcess[str]:
        server = ControlServer(respond=None, path=sock,  # type: ignore[arg-type]
                               allowed_uid=os.getuid() + 1)
        await server.start()
        try:
            proc = await asyncio.create_subprocess_exec(
                *bridge_cmd("check", "--profile", str(profile)), cwd=ROOT, env=bridge_env(),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await proc.communicate()
            return subprocess.CompletedProcess([], proc.returncode or 0, out.decode(),
                                               err.decode())
        finally:
            await server.stop()

    beside = asyncio.run(scenario())
    said = next((row for row in beside.stdout.splitlines() if " daemon — " in row), "")
    assert said.startswith(f" ! daemon — one is running with this profile now (its control "
                           f"socket {sock} answers): `run` is refused while it runs; `"), said
    ctl, _, rest = said.partition("`run` is refused while it runs; `")[2].partition(
        " --socket ")
    assert rest == f"{sock} status` shows it", said
    _runs_ctl_as(os.getuid() + 1, ctl)


def test_ctl_without_a_profile_skips_sockets_a_crash_left_behind(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    """A daemon killed (SIGKILL, a watchdog abort) leaves its socket file in the runtime
    directory, which the unit preserves. Before, `ctl status` with no --profile then said
    "several daemons are running" (exit 2) beside the one live daemon."""
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, service={"mode": "standby"})  # the default socket
    with socket.socket(socket.AF_UNIX) as stale:  # bound, closed: nothing listens there
        stale.bind(str(short_dir / "crashed.sock"))
    daemon = start_daemon(profile, name="kiosk.sock", RUNTIME_DIRECTORY=str(short_dir))
    found = subprocess.run(bridge_cmd("ctl", "status"), capture_output=True, text=True,
                           env=daemon.env, cwd=ROOT, timeout=30)
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith("profile kiosk (standby mode)"), found.stdout
    assert daemon.stop() == 0
    assert "WARNING" not in daemon.err and "Traceback" not in daemon.err, daemon.err


@pytest.mark.skipif(os.geteuid() != 0, reason="the system unit's /run/vapi-bridge is root's")
def test_check_finds_the_system_units_daemon(
        start_sim, profiles: ProfileBuilder, start_daemon) -> None:
    """The system unit's daemon binds /run/vapi-bridge/NAME.sock ($RUNTIME_DIRECTORY); the
    operator's `check -p NAME` from a shell has no $RUNTIME_DIRECTORY. Before, check looked
    only where a `run` from that shell would bind, missed the daemon, and failed the kiosk
    screen's port as "Address already in use" (exit 2) beside a healthy kiosk."""
    sim = start_sim(assistant="echo")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        listen = f"127.0.0.1:{probe.getsockname()[1]}"
    name = f"t{os.getpid()}-{secrets.token_hex(3)}"  # runs in parallel never meet
    profile = profiles.write(sim.base_url, name=name, service={"mode": "standby"},
                             http={"listen": listen})
    made = not SYSTEM_RUNTIME_DIR.exists()
    sock = SYSTEM_RUNTIME_DIR / f"{name}.sock"
    daemon = start_daemon(profile, wait=False, RUNTIME_DIRECTORY=str(SYSTEM_RUNTIME_DIR))
    try:
        wait_for(sock.exists, 15, "the control socket")
        beside = run_bridge("check", "--profile", str(profile))
        assert beside.returncode == 0, beside.stdout
        assert (f" ! daemon — one is running with this profile now (its control socket "
                f"{sock} answers): `run` is refused while it runs" in beside.stdout
                ), beside.stdout
        assert (f" ✓ kiosk screen (http.listen {listen}) available — held by the daemon "
                "running with this profile" in beside.stdout), beside.stdout
        # and a `run` from that shell (which would bind elsewhere) is refused: before, it
        # started a second daemon on the same devices, spending files and profile
        second = run_bridge("run", "--profile", str(profile), timeout=30)
        assert second.returncode == 2, second.stderr
        assert second.stderr.strip().splitlines()[-1] == (
            f"vapi-bridge: a vapi-bridge daemon is already running this profile (its control "
            f"socket {sock} answers); a second would open the same devices — stop it first "
            f"(kill {daemon.proc.pid}: its process, not a systemd unit), or use "
            f"`{program()} ctl --socket {sock}`")  # (a test's daemon: no unit to stop)
        assert daemon.stop() == 0
    finally:
        if made:
            shutil.rmtree(SYSTEM_RUNTIME_DIR, ignore_errors=True)


def test_check_says_a_port_the_daemon_does_not_hold_is_free(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    """http.listen edited and reloaded: the daemon keeps its old port until a restart.
    Before, check said of the new one "held by the daemon running with this profile",
    which nothing held; it says the daemon listens elsewhere (a warning)."""
    sim = start_sim(assistant="echo")
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    old, new = (f"127.0.0.1:{port}" for port in ports)
    profile = control_profile(profiles, sim, short_dir / "ctl.sock", http={"listen": old})
    daemon = start_daemon(profile)
    profile.write_text(profile.read_text().replace(old, new))
    beside = run_bridge("check", "--profile", str(profile))
    assert beside.returncode == 0, beside.stdout
    assert (f" ! kiosk screen (http.listen {new}) available — free: the daemon running with "
            "this profile listens elsewhere (a reload does not move http.listen; a restart "
            "does)" in beside.stdout), beside.stdout
    assert daemon.stop() == 0
