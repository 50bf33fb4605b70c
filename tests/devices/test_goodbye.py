"""The assistant's goodbye, which ends the call (its endCall; Vapi ends the call once the
goodbye is sent), is heard whole on the speaker before `vapi-bridge run` closes it, however
far ahead of real time Vapi sent it. Sent whole, all but its first 0.3 s was lost: the
call ended 0.3 s after the goodbye arrived, and the speaker closed with the rest queued.

What the speaker played is the rig's recording of the speaker monitor, judged against what
the simulator said piece by piece (tests/rig/retiming.py): every word, in order, none cut.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.devices.conftest import require_espeak, running_bridge, summary_of, write_profile
from tests.e2e.replies import LINE, compare, the_reply
from tests.rig.pulse import PulseRig
from tests.rig.retiming import retimed_whole
from tests.rig.signals import resample, wav_bytes

SPEEDS = {"realtime": (), "whole": ("--downlink-speed", "whole")}


@pytest.mark.parametrize("speed", SPEEDS.values(), ids=SPEEDS.keys())
def test_a_goodbye_that_ends_the_call_is_heard_whole(rig: PulseRig, start_sim: Any,
                                                     tmp_path: Path,
                                                     speed: tuple[str, ...]) -> None:
    require_espeak()
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump([{"say": LINE, "wait": False, "endCall": True}]))
    sim = start_sim(f"script:{script}", *speed)
    profile = write_profile(tmp_path / "kiosk.yaml", sim.base_url,
                            assistant={"overrides": {}},
                            wire={"format": "pcm_s16le", "sample_rate": 16000},
                            audio={"device_rate": rig.rate})
    rig.start_speaker_recording()
    with running_bridge(rig, profile) as bp:
        code = bp.finish()
    played, played_rate, _ = rig.stop_speaker_recording()
    assert code == 0, bp.err
    summary = summary_of(bp.out)
    call = sim.calls()[0]
    said = wav_bytes(sim.get_bytes(f"/_sim/calls/{call['id']}/downlink.wav"))
    reply = resample(the_reply(said, 16000), 16000, played_rate)
    heard = retimed_whole(reply, played, played_rate)
    _, said_s, heard_s = compare(reply, played, played_rate)
    lead = call["downlink"]["leadSeconds"]
    print(f"\n{' '.join(speed) or 'real time'}: goodbye {said_s:.2f} s of speech sent "
          f"{lead:.2f} s ahead; the speaker played {heard_s:.2f} s: {heard}\n{summary['line']}")
    assert summary["reason"] == "assistant-ended-call", summary["line"]
    assert abs(heard_s - said_s) <= 0.03 * said_s, "every word reached the speaker"
    assert not heard.problems, str(heard)
    assert summary["audible"] == 0, summary["line"]
