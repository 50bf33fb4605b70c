"""`ctl status` reads one clock for a call: the state line's `in call MM:SS`, the call's
own line and `--json`'s `elapsedSeconds` agree while it lasts, and once it is over
`elapsedSeconds` stops at the length the summary line gives (`after N s`)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from tests.control.conftest import control_profile, wait_for
from tests.e2e.conftest import ProfileBuilder


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60:02d}:{s % 60:02d}"


def test_status_clocks_agree_during_and_after_the_call(start_sim, profiles: ProfileBuilder,
                                                       short_dir: Path, start_daemon) -> None:
    sim = start_sim(assistant="echo")
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock"))
    daemon.ok("call")
    wait_for(lambda: "in-progress" in daemon.ok("status"), 15, "the call")
    time.sleep(2.2)  # past the first whole seconds: a stale state line would show 00:00/01
    for _ in range(3):
        answer = json.loads(daemon.ok("--json", "status"))
        shown = _clock(answer["call"]["elapsedSeconds"])
        assert answer["call"]["cpuBehind"] is None, answer  # it keeps up: nothing said
        assert answer["state"].startswith(f"in call {shown}, "), answer["state"]
        first, second = answer["message"].splitlines()[:2]
        assert f"in call {shown}, " in first and f": in-progress, {shown}" in second, \
            answer["message"]
        time.sleep(0.4)

    daemon.ok("end")
    wait_for(lambda: "no call in progress" in daemon.ok("status"), 15, "the end")
    after = json.loads(daemon.ok("--json", "status"))
    said = re.search(r" after (\d+\.\d) s", after["lastCall"])
    assert said, after["lastCall"]
    assert abs(after["call"]["elapsedSeconds"] - float(said.group(1))) <= 0.1, after
    time.sleep(1.2)
    later = json.loads(daemon.ok("--json", "status"))
    assert later["call"]["elapsedSeconds"] == after["call"]["elapsedSeconds"], \
        "an ended call's length no longer grows"
    assert daemon.stop() == 0
