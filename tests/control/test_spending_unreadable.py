"""A daily spending limit with a totals file that is there but cannot be read (garbage, cut
short, a field of the wrong type, a directory in its place). Before, it counted as zero: a
kiosk whose file was corrupted placed calls past its limit, and the first call's end wrote
over the file, so what it held was lost too. Now, a limit set, no call is placed and the
file is left as it is; without a limit the kiosk goes on and keeps the file, renamed.
`check` fails as `run` would. About 6 s in all (one call of ~1 s against the simulator)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.control.conftest import Daemon, control_profile, wait_for
from tests.e2e.conftest import ProfileBuilder, SimHandle, run_bridge

TODAY = dt.date.today().isoformat()
BROKEN = {
    "garbage": "{garbage",
    "cut short": f'{{"day": "{TODAY}", "minutes": 3.5, "co',
    "wrong types": json.dumps({"day": TODAY, "minutes": "3.5", "cost": 9, "calls": 2}),
    "a list": "[]",
    "no date": json.dumps({"day": "Sunday", "minutes": 3.5, "cost": 0.2, "calls": 2}),
    # the clock set back (a Pi without its clock, a time zone moved west): today's spending
    # is in a file dated after the clock's day, and counted as zero it would be written over
    "a later day": json.dumps({"day": "2999-01-01", "minutes": 3.5, "cost": 0.2, "calls": 2}),
}


def status(daemon: Daemon) -> dict:
    return json.loads(daemon.ok("--json", "status"))


@pytest.mark.timeout(60)
def test_an_unreadable_file_places_no_call_under_a_limit_and_is_kept_without_one(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon: Callable[..., Daemon]) -> None:
    sim: SimHandle = start_sim(assistant="echo")
    profile = control_profile(profiles, sim, short_dir / "ctl.sock",
                              call={"max_daily_cost": 5})
    state = tmp_path / "state"
    totals = state / "vapi-bridge" / "spending-kiosk.json"
    totals.parent.mkdir(parents=True)
    totals.write_text(BROKEN["garbage"])
    daemon = start_daemon(profile, XDG_STATE_HOME=str(state))

    refused = daemon.ctl("call")
    assert refused.returncode == 1, (refused.stdout, refused.stderr)
    assert f"spending limit unknown: today's totals in {totals} cannot be read (not JSON" \
        in refused.stderr, refused.stderr
    assert "remove it to count today from zero" in refused.stderr
    assert status(daemon)["spending"]["limitReached"]
    assert sim.calls() == [], "a call was placed with the day's spending unknown"
    assert totals.read_text() == BROKEN["garbage"], "the file was written over"

    data = yaml.safe_load(profile.read_text())  # the limit taken off: a warning, and on
    del data["call"]["max_daily_cost"]
    profile.write_text(yaml.safe_dump(data))
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: status(daemon)["spending"]["maxDailyCost"] is None, 10, "the reload")
    assert daemon.ctl("call").returncode == 0
    sim.wait_streaming(50)
    assert daemon.ctl("end").returncode == 0
    wait_for(lambda: json.loads(totals.read_text()).get("calls") == 1, 15, "the call counted")
    [kept] = totals.parent.glob("spending-kiosk.json.unreadable-*")
    assert kept.read_text() == BROKEN["garbage"], "what the file held is kept"
    assert daemon.stop() == 0
    assert daemon.err.count("spending limit unknown") == 1, daemon.err
    assert f"cannot be read (not JSON: Expecting property name enclosed in double quotes: " \
        f"line 1 column 2 (char 1)): kept as {kept}" in daemon.err, daemon.err


def test_check_fails_on_an_unreadable_file_under_a_limit(
        start_sim, profiles: ProfileBuilder, tmp_path: Path) -> None:
    """`check` said ✓ "used today: 0.0 min" for a file whose minutes were a string (about
    3 s)."""
    sim: SimHandle = start_sim(assistant="echo")
    state = tmp_path / "state"
    totals = state / "vapi-bridge" / "spending-kiosk.json"
    totals.parent.mkdir(parents=True)
    totals.write_text(BROKEN["wrong types"])
    profile = profiles.write(sim.base_url, call={"max_daily_minutes": 10})
    done = run_bridge("check", "--profile", str(profile), XDG_STATE_HOME=str(state),
                      STATE_DIRECTORY="")
    assert done.returncode == 3, done.stdout + done.stderr
    [line] = [x for x in done.stdout.splitlines() if "spending guard" in x]
    assert line == (" ✗ spending guard allows a call — spending limit unknown: today's totals "
                    f"in {totals} cannot be read (minutes, cost or calls not a number ≥ 0): "
                    "what this kiosk spent today is not known; no call is placed until it can "
                    "be (it is left as it is) — see today's calls in Vapi's dashboard, then "
                    "mend the file, or remove it to count today from zero"), line
    assert totals.read_text() == BROKEN["wrong types"]


@pytest.mark.parametrize("case", [*BROKEN, "a directory", "no permission"])
def test_each_kind_of_unreadable_file_is_unreadable_not_zero(case: str, tmp_path: Path) -> None:
    """In-process, on real files (milliseconds)."""
    from bridge.service import day_totals  # (here: on the old code the daemon's tests run)
    from bridge.service.day_totals import Totals, Unreadable

    path = tmp_path / "spending-kiosk.json"
    if case == "a directory":
        path.mkdir()
    else:
        path.write_text(BROKEN.get(case, "{}"))
    if case == "no permission":
        path.chmod(0)
        if os.access(path, os.R_OK):
            pytest.skip("root reads a file of mode 000")
    with pytest.raises(Unreadable) as caught:
        day_totals.load(path, TODAY)
    assert caught.value.path == path and caught.value.why and caught.value.fix
    path.chmod(0o600)
    assert day_totals.load(tmp_path / "none.json", TODAY) == Totals(TODAY)
    other_day = tmp_path / "old.json"
    other_day.write_text(json.dumps({"day": "2001-01-01", "minutes": 9, "cost": 9, "calls": 9}))
    assert day_totals.load(other_day, TODAY) == Totals(TODAY)


def test_loop_mode_says_the_limit_is_unknown_not_reached(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon: Callable[..., Daemon]) -> None:
    """Its state (and systemd's STATUS=) said "spending limit reached: waiting for tomorrow",
    which tomorrow would not mend (about 3 s)."""
    sim: SimHandle = start_sim(assistant="echo")
    profile = control_profile(profiles, sim, short_dir / "ctl.sock", call={
        "max_daily_cost": 5}, service={"mode": "loop", "loop_delay_seconds": 0.2})
    state = tmp_path / "state"
    (state / "vapi-bridge").mkdir(parents=True)
    (state / "vapi-bridge" / "spending-kiosk.json").write_text(BROKEN["cut short"])
    daemon = start_daemon(profile, XDG_STATE_HOME=str(state))
    wait_for(lambda: status(daemon)["state"].startswith("spending limit"), 10, "the refusal")
    assert status(daemon)["state"] == ("spending limit unknown: no call until the totals can "
                                       "be read and saved")
    assert sim.calls() == []
