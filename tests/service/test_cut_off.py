"""A call cut off with the daemon (SIGKILL mid-call) still counts against the daily
spending limit: a kiosk restarted in a loop does not pass its limit call after call."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, ProfileBuilder, bridge_cmd, bridge_env, run_bridge

LIMIT = 0.001  # dollars: the simulator bills $0.05/min, so 1.2 s of call reaches it


def until(condition, timeout: float = 20.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


@pytest.mark.timeout(120)
def test_a_call_cut_off_by_sigkill_counts_at_the_next_start(
        start_sim, profiles: ProfileBuilder, tmp_path: Path) -> None:
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, call={"max_daily_cost": LIMIT,
                                                 "max_duration_seconds": 60})
    state = tmp_path / "state"
    record = state / "vapi-bridge" / "open-call-kiosk.json"
    totals = state / "vapi-bridge" / "spending-kiosk.json"
    env = bridge_env(XDG_STATE_HOME=str(state))
    proc = subprocess.Popen(bridge_cmd("run", "--profile", str(profile)), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        sim.wait_streaming(150)  # 3 s of the call: $0.0025 billed
        until(record.exists, what="the open call's record")
        assert record.stat().st_mode & 0o777 == 0o600, "a live call's id: the user's alone"
    finally:
        proc.kill()
        proc.communicate()
    call = sim.only_call()
    until(lambda: sim.only_call()["status"] == "ended", what="Vapi ends the call")
    assert not totals.exists(), "the killed daemon never counted its call"

    restarted = run_bridge("run", "--profile", str(profile), XDG_STATE_HOME=str(state))
    assert restarted.returncode == 3, restarted.stderr  # the limit: no second call
    assert len(sim.calls()) == 1
    assert "a call cut off when the daemon last stopped" in restarted.stderr
    assert "spending limit reached" in restarted.stderr
    assert call["id"] not in restarted.stderr + restarted.stdout, "a call id is a secret"
    kept = json.loads(totals.read_text())
    assert kept["calls"] == 1 and kept["cost"] >= LIMIT, kept
    assert kept["minutes"] * 60 >= 3, kept
    assert not record.exists(), "settled once: not counted again at the next start"

    again = run_bridge("run", "--profile", str(profile), XDG_STATE_HOME=str(state))
    assert again.returncode == 3 and json.loads(totals.read_text()) == kept
