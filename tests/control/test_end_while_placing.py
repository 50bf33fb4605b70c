"""`ctl end` (and the screen's End button, the same request) while the call is still being
placed: `status` already says it is live, and the one-button script ends what is live.
Before, `end` was refused ("the call is still being set up; try again in a moment", exit 1)
and the assistant then started talking. Now the setup is stopped as a stop signal stops it,
and the daemon goes back to waiting."""

from __future__ import annotations

import json
import re
import subprocess
import time
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
    # as "connecting", the controlUrl answering the first End's end-call 2 s late: the
    # second End surely arrives while the first stop is under way, and waits for it
    "connecting, a slow controlUrl": (("connect-delay=6000", "control-slow=2000"),
                                      "stopped while it was being set up "
                                      "(stopped-while-connecting)"),
}


@pytest.mark.parametrize("stage", STAGES)
def test_end_while_the_call_is_being_placed_stops_it(start_sim, profiles: ProfileBuilder,
                                                     short_dir: Path, start_daemon,
                                                     stage: str) -> None:
    faults, said = STAGES[stage]
    sim = start_sim(assistant="echo", faults=(faults,) if isinstance(faults, str) else faults)
    status = stage.split(",")[0]  # what `ctl status` says of the call meanwhile
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock",
                                          overrides={"firstMessage": "Hello."}))
    wait_for(lambda: daemon.ctl("status").returncode == 0, 10, "the daemon to answer")
    calling = subprocess.Popen(bridge_cmd("ctl", "--socket", str(daemon.socket), "call"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=daemon.env, cwd=ROOT)  # it waits for the call to be up

    def placing() -> dict | None:
        call = json.loads(daemon.ok("--json", "status")).get("call") or {}
        return call if call.get("status") == status else None

    call = wait_for(placing, 10, f"the call to be {status}")
    assert call["live"] is True, "status says the call is live: an End is for it"
    assert call["link"] is None, "no link to Vapi yet: neither ok nor stalled"

    first = subprocess.Popen(bridge_cmd("ctl", "--socket", str(daemon.socket), "end"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=daemon.env, cwd=ROOT)
    if "slow" in stage:  # the first End's end-call is held at the controlUrl: status says
        wait_for(lambda: json.loads(daemon.ok("--json", "status"))["call"]["status"]
                 == "ending", 10, "the first End to be under way")
    # a second press as the first is under way (or just after), asked for JSON: its
    # endedReason is the reason its words give
    second = daemon.ctl("--json", "end")
    if second.returncode == 0:
        answer = json.loads(second.stdout)
        assert f"({answer['endedReason']})" in answer["message"], answer
    out, err = first.communicate(timeout=30)
    answers = [(first.returncode, out, err),  # (--json: a refusal is said on stdout)
               (second.returncode, second.stdout, second.stderr or second.stdout)]
    stopped = [a for a in answers if a[0] == 0 and said in a[1]]
    assert stopped, answers
    for code, told, why in answers:  # the other: the same, or (if it came after) no call
        assert "try again in a moment" not in why, "a second End waits as the first"
        assert code == 0 or "no call in progress" in why, why
        if "slow" in stage:  # it came while the first stop was under way: it waited
            assert code == 0 and said in told, answers
    _, waited = calling.communicate(timeout=20)
    assert calling.returncode == 1, "`ctl call` says the call did not come up"
    assert "the call was ended while it was being set up" in waited, waited
    wait_for(lambda: "waiting for trigger" in daemon.ok("status"), 10,
             "the daemon to go back to waiting")
    after = json.loads(daemon.ok("--json", "status"))
    assert after["call"]["live"] is False, after
    calls = sim.calls()
    if status == "connecting":
        (record,) = calls
        assert not record["downlink"]["chunks"], "the assistant never spoke"
    assert daemon.stop() == 0, daemon.err
    assert "Traceback" not in daemon.err


def test_a_second_end_while_the_first_is_ending_the_call_answers_the_same(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    """Two Ends on a call that is up (two operators, a script and the screen): the link
    goes dead 1 s into the call, so the first End's end-call is never answered and the
    call stays ending (up to call.end_timeout_seconds); the second arrives meanwhile.
    Before, it said "no call in progress (… ended: ending)", exit 1."""
    sim = start_sim(assistant="echo", faults=("ws-drop=1@30",))
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock",
                                          call={"end_timeout_seconds": 4}))
    wait_for(lambda: daemon.ctl("status").returncode == 0, 10, "the daemon to answer")
    assert daemon.ctl("call").returncode == 0  # it waits for the call to be up

    def dead() -> bool:  # the simulator reads nothing more: its uplink count stands still
        before = sim.only_call()["uplink"]["frames"]
        time.sleep(0.5)  # (25 frames' time: a sampling window, not a bound)
        return before > 0 and sim.only_call()["uplink"]["frames"] == before

    wait_for(dead, 15, "the link to die 1 s into the call")
    first = subprocess.Popen(bridge_cmd("ctl", "--socket", str(daemon.socket), "end"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=daemon.env, cwd=ROOT)
    wait_for(lambda: json.loads(daemon.ok("--json", "status"))["call"]["status"] == "ending",
             10, "the first End to be under way")
    second = daemon.ctl("end")
    out, err = first.communicate(timeout=30)
    assert first.returncode == second.returncode == 0, (err, second.stderr)
    assert re.fullmatch(r"call \w+ ended \([\w-]+\)\n", out), out
    assert second.stdout == out, "the second End answers as the first"
    assert daemon.stop() == 0, daemon.err
