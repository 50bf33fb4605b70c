"""What `ctl status` and the recording's JSONL keep of a call's transcript messages, sent as
Vapi's schema allows (`ClientMessageTranscript`: a final may come without a partial, or
with no `transcript` at all; hostile text stays inert)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.control.conftest import control_profile, wait_for
from tests.e2e.conftest import ProfileBuilder

EVENTS = [
    {"type": "status-update", "status": "in-progress"},
    {"type": "transcript", "role": "user", "transcriptType": "partial", "transcript": "Is the"},
    {"type": "transcript", "role": "user", "transcriptType": "final"},  # no text: no line
    {"type": "transcript", "role": "user", "transcriptType": "final", "transcript": ""},
    {"type": "transcript", "role": "user", "transcriptType": "final",
     "transcript": "Is the cafe open?", "confidence": 0.93, "confidenceSource": "provider"},
    {"type": "transcript", "role": "assistant", "transcriptType": "final",
     "transcript": "It is.\x1b[2J", "assistantName": "Emma"},
    # roles the schema does not give: none passes for a party in `ctl status`
    {"type": "transcript", "role": "visitor", "transcriptType": "final", "transcript": "Me."},
    {"type": "transcript", "role": "", "transcriptType": "final", "transcript": "No one."},
]


def test_status_and_jsonl_hold_each_final_line_once(start_sim, profiles: ProfileBuilder,
                                                    short_dir: Path, tmp_path: Path,
                                                    start_daemon) -> None:
    replay = tmp_path / "finals.json"
    replay.write_text(json.dumps({"events": [{"at_s": 0.05 + i * 0.05, "event": e}
                                             for i, e in enumerate(EVENTS)]}))
    # the finals typed as the schema's other form, `transcript[transcriptType="final"]`
    sim = start_sim(assistant=f"replay:{replay}", faults=("bracketed-finals",))
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock",
                                          record={"path": str(tmp_path / "rec" / "call")}))
    daemon.ok("call")
    wait_for(lambda: "No one." in daemon.ok("status"), 15, "the last line")
    said = [line.strip() for line in daemon.ok("status").splitlines()
            if line.startswith("  ")]
    assert said == ["visitor: Is the cafe open?", "assistant: It is.\\x1b[2J",
                    "[visitor]: Me.", "[?]: No one."], said
    daemon.ok("end")
    wait_for(lambda: "no call in progress" in daemon.ok("status"), 15, "the end")
    assert daemon.stop() == 0
    lines = [json.loads(x) for x in (tmp_path / "rec" / "call.jsonl").read_text().splitlines()]
    assert [(x["role"], x["text"]) for x in lines if "role" in x] == [
        ("user", "Is the cafe open?"), ("assistant", "It is.\x1b[2J"), ("visitor", "Me."),
        ("", "No one.")]  # Vapi's own role names, as sent
    assert "ended" in lines[-1]
