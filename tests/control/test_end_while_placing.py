"""`ctl end` (and the screen's End button, the same request) while the call is still being
placed: `status` already says it is live, and the one-button script ends what is live.
Before, `end` was refused ("the call is still being set up; try again in a moment", exit 1)
and the assistant then started talking. Now the setup is stopped as a stop signal stops it,
and the daemon goes back to waiting."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.control.conftest import control_profile, wait_for
from tests.e2e.conftest import ROOT, ProfileBuilder, bridge_cmd

STAGES = {
    # the call socket's upgrade held 6 s: the call exists, its socket is connecting
    "connecting": ("connect-delay=6000",
                   "stopped while it was being set up (stopped-while-connecting)"),
    # POST /call held open: nothing is created yet
    "creating": ("http-hang", "the call was stopped while it was being created (not placed)"),
}


@pytest.mark.parametrize("stage", STAGES)
def test_end_while_the_call_is_being_placed_stops_it(start_sim, profiles: ProfileBuilder,
                                                     short_dir: Path, start_daemon,
                                                     stage: str) -> None:
    fault, said = STAGES[stage]
    sim = start_sim(assistant="echo", faults=(fault,))
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock",
                                          overrides={"firstMessage": "Hello."}))
    wait_for(lambda: daemon.ctl("status").returncode == 0, 10, "the daemon to answer")
    calling = subprocess.Popen(bridge_cmd("ctl", "--socket", str(daemon.socket), "call"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=daemon.env, cwd=ROOT)  # it waits for the call to be up

    def placing() -> dict | None:
        call = json.loads(daemon.ok("--json", "status")).get("call") or {}
        return call if call.get("status") == stage else None

    call = wait_for(placing, 10, f"the call to be {stage}")
    assert call["live"] is True, "status says the call is live: an End is for it"

    first = subprocess.Popen(bridge_cmd("ctl", "--socket", str(daemon.socket), "end"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=daemon.env, cwd=ROOT)
    second = daemon.ctl("end")  # a second press as the first is under way (or just after)
    out, err = first.communicate(timeout=30)
    answers = [(first.returncode, out, err), (second.returncode, second.stdout, second.stderr)]
    stopped = [a for a in answers if a[0] == 0 and said in a[1]]
    assert stopped, answers
    for code, _, why in answers:  # the other: the same, or (if it came after) no call now
        assert "try again in a moment" not in why, "a second End waits as the first"
        assert code == 0 or "no call in progress" in why, why
    _, waited = calling.communicate(timeout=20)
    assert calling.returncode == 1, "`ctl call` says the call did not come up"
    assert "the call was ended while it was being set up" in waited, waited
    wait_for(lambda: "waiting for trigger" in daemon.ok("status"), 10,
             "the daemon to go back to waiting")
    after = json.loads(daemon.ok("--json", "status"))
    assert after["call"]["live"] is False, after
    calls = sim.calls()
    if stage == "connecting":
        (record,) = calls
        assert not record["downlink"]["chunks"], "the assistant never spoke"
    assert daemon.stop() == 0, daemon.err
    assert "Traceback" not in daemon.err
