"""`ctl status` shows the lines of the call in progress, never the previous call's."""

from __future__ import annotations

from pathlib import Path

from tests.control.conftest import control_profile, wait_for
from tests.e2e.conftest import ProfileBuilder


def test_status_lines_belong_to_the_current_call(start_sim, profiles: ProfileBuilder,
                                                 short_dir: Path, start_daemon) -> None:
    sim = start_sim(assistant="echo")
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock"))

    def live() -> bool:
        return "in-progress" in daemon.ok("status")

    daemon.ok("call")
    wait_for(live, 15, "the first call")
    daemon.ok("say", "Alpha from the first call.")
    wait_for(lambda: "assistant: Alpha from the first call." in daemon.ok("status"), 15,
             "the first call's line")
    daemon.ok("end")
    wait_for(lambda: "no call in progress" in daemon.ok("status"), 15, "the end")

    daemon.ok("call")
    wait_for(live, 15, "the second call")
    daemon.ok("say", "Bravo from the second call.")
    wait_for(lambda: "assistant: Bravo from the second call." in daemon.ok("status"), 15,
             "the second call's line")
    status = daemon.ok("status")
    assert "Alpha" not in status, status
    assert daemon.stop() == 0
