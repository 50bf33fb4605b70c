"""`ctl call` when a call not counted yet (lost with its link: its cost unknown at its end)
turns out, as the daemon asks Vapi just before placing the next, to have reached the daily
spending limit. The request was accepted, the call refused a moment later: before, `ctl`
waited its 15 s and said "call requested (still connecting)", exit 0, and a script took
the call for placed. Now it says the limit, exit 1, as a refusal at once does."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from tests.control.conftest import control_profile, wait_for
from tests.e2e.conftest import ROOT, ProfileBuilder, SimHandle, bridge_cmd


def vapi_ended_them(sim: SimHandle) -> bool:
    return all(call["status"] == "ended" for call in sim.calls())


@pytest.mark.timeout(120)
def test_ctl_call_says_the_limit_found_as_the_call_is_placed(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    # the link dies 2 s into the call and Vapi bills it 5 s more, $0.0058 at $0.05/min: its
    # controlUrl, told to end it, answers too late (5 s), so its cost is not known at its end
    sim = start_sim(assistant="echo", faults=("ws-close-1006=2@5", "control-slow=5000"))
    profile = control_profile(profiles, sim, short_dir / "ctl.sock",
                              call={"max_daily_cost": 0.001})
    daemon = start_daemon(profile, XDG_STATE_HOME=str(tmp_path / "state"))
    wait_for(lambda: daemon.ctl("status").returncode == 0, 10, "the daemon to answer")

    first = daemon.ctl("call")
    assert first.returncode == 0 and "started" in first.stdout, first.stderr

    def status() -> dict:
        return json.loads(daemon.ok("--json", "status"))

    wait_for(lambda: status()["state"].startswith("waiting for trigger"), 30, "the lost call's end")
    spending = status()["spending"]
    assert spending["uncounted"] == 1 and spending["cost"] == 0, spending
    assert not spending["limitReached"], "its cost unknown, nothing says the limit is reached"
    wait_for(lambda: vapi_ended_them(sim), 20, "Vapi to end the lost call")

    second = daemon.ctl("call", timeout=40)
    assert second.returncode == 1, (second.stdout, second.stderr)
    assert "spending limit reached" in second.stderr, second.stderr
    assert "still connecting" not in second.stdout + second.stderr
    assert len(sim.calls()) == 1, "no second call was placed"
    spending = status()["spending"]
    assert spending["limitReached"] and spending["uncounted"] == 0, spending


@pytest.mark.timeout(120)
def test_a_limit_reached_by_a_call_is_said_at_once_and_shown_by_status(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    """The call that reaches the limit ends: the log says so then, once, and `ctl status`
    shows why no call will be placed. Before, both waited for the next call to be asked
    for by a visitor (a `ctl call` refused at once said nothing to either)."""
    sim = start_sim(assistant="echo")
    profile = control_profile(profiles, sim, short_dir / "ctl.sock",
                              call={"max_daily_cost": 0.001})
    state = tmp_path / "state"
    daemon = start_daemon(profile, XDG_STATE_HOME=str(state))
    wait_for(lambda: daemon.ctl("status").returncode == 0, 10, "the daemon to answer")
    assert daemon.ctl("call").returncode == 0
    sim.wait_streaming(100)  # 2 s of call: $0.0017 at $0.05/min
    assert daemon.ctl("end").returncode == 0
    wait_for(lambda: "spending limit reached" in daemon.ok("status"), 15,
             "status to say why no call will be placed")
    refused = daemon.ctl("call")
    assert refused.returncode == 1 and "spending limit reached" in refused.stderr
    assert daemon.stop() == 0
    assert daemon.err.count("spending limit reached") == 1, daemon.err

    again = start_daemon(profile, XDG_STATE_HOME=str(state))  # a restart: said at start
    assert "spending limit reached" in again.ok("status")
    assert again.stop() == 0
    assert again.err.count("spending limit reached") == 1, again.err


@pytest.mark.timeout(120)
def test_the_limit_is_said_once_though_the_totals_move_after(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    """A call lost 2 s in reaches a 0.02 min limit as it ends (said then); once Vapi has
    ended it, the settler counts the 5 s Vapi billed beyond (a reload asks at once), and the
    words' minutes change. A visitor's trigger is refused after: not said again."""
    sim = start_sim(assistant="echo", faults=("ws-close-1006=2@5", "control-slow=5000"))
    profile = control_profile(profiles, sim, short_dir / "ctl.sock",
                              call={"max_daily_minutes": 0.02})
    daemon = start_daemon(profile, XDG_STATE_HOME=str(tmp_path / "state"))
    wait_for(lambda: daemon.ctl("status").returncode == 0, 10, "the daemon to answer")
    assert daemon.ctl("call").returncode == 0

    def spending() -> dict:
        return json.loads(daemon.ok("--json", "status"))["spending"]

    wait_for(lambda: spending()["limitReached"], 30, "the lost call to reach the limit")
    first = spending()["refused"]
    wait_for(lambda: vapi_ended_them(sim), 20, "Vapi to end the lost call")
    daemon.proc.send_signal(signal.SIGHUP)  # the settler asks now
    wait_for(lambda: spending()["uncounted"] == 0, 20, "Vapi's length to be counted")
    assert spending()["refused"] != first, "the minutes said moved"
    watching = subprocess.Popen(bridge_cmd("ctl", "--socket", str(daemon.socket), "events"),
                                stdout=subprocess.PIPE, text=True, env=daemon.env, cwd=ROOT)
    try:
        assert watching.stdout is not None
        json.loads(watching.stdout.readline())  # the current state: subscribed
        daemon.proc.send_signal(signal.SIGUSR1)  # a visitor's trigger: refused
        for line in watching.stdout:  # (the test's timeout bounds it)
            if json.loads(line).get("cause") == "spending-limit":
                break
    finally:
        watching.kill()
        watching.communicate()
    assert daemon.stop() == 0
    assert daemon.err.count("spending limit reached") == 1, daemon.err
