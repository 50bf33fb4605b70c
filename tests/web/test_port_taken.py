"""A kiosk whose screen's port another process holds at start (or whose LAN address is not
up yet at boot) runs on without its screen and takes visitors' calls; it serves the screen
as soon as the port is free. Before, it exited 2, which the unit does not restart: an
optional screen kept the kiosk down."""

from __future__ import annotations

import signal
import socket
import subprocess

import httpx

from tests.control.conftest import wait_for
from tests.e2e.conftest import (
    ROOT,
    ProfileBuilder,
    SimHandle,
    StderrLines,
    bridge_cmd,
    bridge_env,
)
from tests.web.conftest import web_profile


def test_a_taken_port_leaves_the_kiosk_taking_calls_and_is_served_once_free(
        profiles: ProfileBuilder, start_sim) -> None:
    sim: SimHandle = start_sim()
    holder = socket.create_server(("127.0.0.1", 0))  # another process's server on the port
    port = int(holder.getsockname()[1])
    env = bridge_env()
    profile = web_profile(profiles, sim, port)
    proc = subprocess.Popen(bridge_cmd("run", "--profile", str(profile)), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = StderrLines(proc)
    try:
        wait_for(lambda: err.has("cannot listen") or proc.poll() is not None, 30,
                 "the daemon's word on the taken port")
        assert proc.poll() is None, f"the daemon exited {proc.returncode}: {err.join()}"

        # `ctl status` says the screen is down, why (the OS's words), and that it is retried
        status = subprocess.run(bridge_cmd("ctl", "status", "--profile", "kiosk"), cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stdout + status.stderr
        down = [line for line in status.stdout.splitlines() if "kiosk screen" in line]
        assert down == [f"kiosk screen and /metrics NOT served: cannot listen on 127.0.0.1:"
                        f"{port}: Address already in use — trying again every 5 s"], status.stdout

        # `check` beside it says the port is not the daemon's, not "held by the daemon" (it
        # took the port held for the daemon's own: ✓ "held by the daemon running with this
        # profile", while another process's server answered on it)
        check = subprocess.run(bridge_cmd("check", "--profile", str(profile)), cwd=ROOT,
                               env=env, capture_output=True, text=True, timeout=60)
        screen = [line for line in check.stdout.splitlines() if "kiosk screen" in line]
        assert screen == [f" ✗ kiosk screen (http.listen 127.0.0.1:{port}) available — "
                          f"http.listen: cannot listen on 127.0.0.1:{port}: Address already in "
                          f"use — choose another port or address; not by the daemon running "
                          f"with this profile, which cannot listen there (it tries again every "
                          f"5 s)"], check.stdout

        # the kiosk still takes a visitor's call
        ctl = subprocess.run(bridge_cmd("ctl", "call", "--profile", "kiosk"), cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=60)
        assert ctl.returncode == 0, ctl.stdout + ctl.stderr
        wait_for(lambda: sim.calls(), 30, "the call the kiosk placed")
        ctl = subprocess.run(bridge_cmd("ctl", "end", "--profile", "kiosk"), cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=60)

        holder.close()  # the port is free: the screen comes up by itself

        def served() -> bool:
            try:
                state = httpx.get(f"http://127.0.0.1:{port}/state", timeout=5).json()
            except (httpx.HTTPError, ValueError):
                return False
            return bool(state.get("profile"))

        wait_for(served, 30, "the screen once the port is free")
        status = subprocess.run(bridge_cmd("ctl", "status", "--profile", "kiosk"), cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=60)
        assert f"kiosk screen and /metrics: http://127.0.0.1:{port}/\n" in status.stdout, \
            status.stdout
    finally:
        holder.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    said = err.join()
    warnings = [line for line in err.lines if "cannot listen" in line]
    assert len(warnings) == 1, said  # said once, not at every retry
    assert f"127.0.0.1:{port}" in warnings[0] and "without its screen" in warnings[0], said
    assert "Traceback" not in said, said
    assert proc.returncode == 0, said
    assert said.count("the kiosk screen is at") == 1, said


def test_check_says_the_screen_is_not_served_though_its_port_is_free_now() -> None:
    """`check` beside a daemon whose screen could not listen, the port free by now (the
    other program gone): the screen comes at the daemon's next try, which `check` says, with
    how often it tries (its status's `retrySeconds`), not "held by the daemon"."""
    import asyncio

    from bridge.cli.check_kiosk import kiosk_items
    from bridge.profile import parse_profile

    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = int(probe.getsockname()[1])
    profile = parse_profile(f"assistant: {{id: echo}}\nhttp: {{listen: '127.0.0.1:{port}'}}\n")
    theirs = {"listen": f"127.0.0.1:{port}", "served": False, "retrySeconds": 5.0,
              "error": "Address already in use"}
    (item,) = asyncio.run(kiosk_items(profile, running=True, theirs=theirs))
    assert (item.ok, item.warn) == (True, True), item
    assert item.detail == (f"NOT served: the daemon running with this profile could not "
                           f"listen on 127.0.0.1:{port}: Address already in use — it tries "
                           f"again every 5 s, and the port is free now"), item.detail
