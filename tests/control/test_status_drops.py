"""`ctl status` shows what the playout dropped, split into speech and silence: with a reply
delivered whole at once, the speaker plays all of it (no speech dropped) and the buffer
sheds the lead as near-silence afterwards."""

from __future__ import annotations

import json
from pathlib import Path

from tests.control.conftest import control_profile, wait_for
from tests.e2e.conftest import ProfileBuilder

LINE = "Welcome to the front desk. Please take a seat, someone will be with you shortly."


def test_status_shows_speech_and_silence_dropped(start_sim, profiles: ProfileBuilder,
                                                 short_dir: Path, start_daemon) -> None:
    sim = start_sim(assistant="echo", downlink_speed=float("inf"))
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock",
                                          overrides={"firstMessage": LINE}))
    daemon.ok("call")

    def shed() -> dict | None:
        answer = json.loads(daemon.ok("--json", "status"))
        playout = answer["playout"]
        return answer if playout and playout["silenceDroppedMs"] >= 1000 else None

    answer = wait_for(shed, 20, "the lead to be shed as silence")
    playout = answer["playout"]
    assert playout["speechDroppedMs"] == 0, playout
    line = next(x for x in answer["message"].splitlines() if x.startswith("playout "))
    assert "dropped 0 ms of speech and " in line and " ms of silence" in line, line
    daemon.ok("end")
    assert daemon.stop() == 0
