"""`ctl status` after a call that could not be placed (Vapi down, a 5xx outage): the
daemon goes back to waiting, and the status says that the last trigger failed and why."""

from __future__ import annotations

import json
import re
import signal
import socket
import urllib.request
from pathlib import Path

from tests.control.conftest import control_profile, wait_for
from tests.e2e.conftest import ProfileBuilder


def test_status_names_a_call_that_could_not_be_placed(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    """Before, a kiosk whose last trigger found Vapi unreachable said only "waiting for
    trigger" and "no call in progress (last: --------, ended)", or the summary of an older
    call that went well: `ctl status` hid that the kiosk was failing its visitors."""
    sim = start_sim(assistant="echo")
    with socket.socket() as probe:  # a port nothing listens on: Vapi unreachable
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    sock = short_dir / "ctl.sock"
    profile = control_profile(profiles, sim, sock, call={"max_duration_seconds": 10})
    good = profile.read_text()
    profile.write_text(good.replace(sim.base_url, f"http://127.0.0.1:{dead}"))
    daemon = start_daemon(profile)
    placed = daemon.ctl("call")
    assert placed.returncode == 1, placed.stdout + placed.stderr
    # the button's script learns why, not "failed; see the daemon's log"
    assert f"the call could not be placed: could not reach Vapi at 127.0.0.1:{dead} " \
        in placed.stderr, placed.stderr
    status = daemon.ok("status")
    assert re.search(r"^no call in progress; the last could not be placed \(at "
                     rf"\d\d:\d\d:\d\d\): could not reach Vapi at 127\.0\.0\.1:{dead} ",
                     status, re.M), status
    answer = json.loads(daemon.ok("--json", "status"))
    assert answer["lastError"]["cause"] == "network", answer
    # Vapi back (the profile reloaded): the next call is placed, and the failure is old news
    profile.write_text(good)
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: daemon.ctl("call").returncode == 0, 30, "a call placed after the reload")
    wait_for(lambda: daemon.ctl("end").returncode == 0, 10, "the call ended")
    wait_for(lambda: "no call in progress; last call " in daemon.ok("status"), 30,
             "the call's end")
    assert json.loads(daemon.ok("--json", "status"))["lastError"] is None
    assert daemon.stop() == 0


def test_vapi_failing_is_not_counted_as_the_network(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    """Vapi reached but answering 500 through every retry: the log says "the fault is on
    Vapi's side, not the network", and the error's cause (the `error` event, /metrics, the
    screen) is `vapi`. Before, it was `network`: a fleet alert on the kiosks' network fired
    for an outage at Vapi, and the screen said "Could not connect"."""
    sim = start_sim(assistant="echo", faults=("http-500",))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    profile = control_profile(profiles, sim, short_dir / "ctl.sock",
                              api={"retry_attempts": 2}, http={"listen": f"127.0.0.1:{port}"})
    daemon = start_daemon(profile)
    assert daemon.ctl("call").returncode == 1
    answer = json.loads(daemon.ok("--json", "status"))
    assert answer["lastError"]["cause"] == "vapi", answer
    assert "kept failing" in answer["lastError"]["message"], answer
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        metrics = reply.read().decode()
    assert 'vapi_bridge_call_errors_total{cause="vapi"} 1.0' in metrics, metrics
    assert 'vapi_bridge_call_errors_total{cause="network"} 0.0' in metrics, metrics
    assert daemon.stop() == 0
