"""Barge-in follows Vapi's signal, over loopback (WAV microphone and speaker, clocked like
devices): a visitor's "okay" over the greeting — which Vapi does not interrupt — leaves
the greeting whole at the speaker; only when the call's `clientMessages` leave
`user-interrupted` out does the visitor's speech start flush the speaker, as the one sign
there is. The simulator's record of what it sent is compared with what the speaker
played (tests/rig/heard.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.e2e.conftest import ProfileBuilder, run_bridge
from tests.rig.heard import heard
from tests.rig.signals import espeak, read_wav, resample, wav_bytes, write_wav

GREETING = ("Welcome to the front desk. Please tell me your name and who you are here to "
            "see, and I will let them know that you have arrived.")
OKAY_AT_S = 2.5  # into the call: the greeting is under way
RATE = 16000
NO_INTERRUPTED = ["status-update", "speech-update", "transcript", "conversation-update",
                  "model-output"]


def events(call: dict[str, Any], kind: str, **fields: Any) -> list[dict[str, Any]]:
    return [dict(e["event"], at=e["at"]) for e in call["eventsSent"]
            if e["event"].get("type") == kind
            and all(e["event"].get(k) == v for k, v in fields.items())]


def greeting_sent(sim: Any, call: dict[str, Any], rate: int) -> np.ndarray:
    """The greeting as the simulator sent it, from its downlink record."""
    start = events(call, "speech-update", role="assistant", status="started")[0]["at"]
    stop = events(call, "speech-update", role="assistant", status="stopped")[0]["at"]
    down = wav_bytes(sim.get_bytes(f"/_sim/calls/{call['id']}/downlink.wav"))
    return down[max(0, int((start - 0.1) * rate)):int((stop + 0.1) * rate)]


def okay_in_excerpt(call: dict[str, Any]) -> float:
    """When the visitor's speech start was sent, in the greeting excerpt's time."""
    spoke = events(call, "speech-update", role="user", status="started")[0]["at"]
    start = events(call, "speech-update", role="assistant", status="started")[0]["at"]
    return spoke - start + 0.1


def okay_over_the_greeting(start_sim: Any, profiles: ProfileBuilder, tmp_path: Path,
                           stored: list[str] | None = None,
                           **overrides: Any) -> tuple[dict[str, Any], Any, str]:
    """`stored`: the dashboard assistant's clientMessages (the simulator's store)."""
    sim = start_sim(assistant="echo", assistant_client_messages=stored)
    mic = tmp_path / "visitor.wav"
    okay = espeak("okay", RATE, peak_db=-6.0)
    write_wav(mic, np.concatenate([np.zeros(int(OKAY_AT_S * RATE), np.int16), okay]), RATE)
    speaker = tmp_path / "speaker.wav"
    profile = profiles.write(
        sim.base_url, call={"max_duration_seconds": 12},
        assistant={"overrides": {"firstMessage": GREETING, **overrides}},
        audio={"input": f"file:{mic}", "output": f"file:{speaker}", "device_rate": RATE})
    result = run_bridge("run", "--profile", str(profile))
    assert result.returncode == 0, result.stderr
    call = sim.only_call()
    said = events(call, "speech-update", role="assistant")
    spoke = events(call, "speech-update", role="user", status="started")
    assert spoke and said[0]["at"] < spoke[0]["at"] < said[1]["at"], \
        "the visitor spoke while the greeting played"
    finals = [e["transcript"] for e in events(call, "transcript", role="assistant",
                                              transcriptType="final")]
    assert finals[0] == GREETING, "Vapi went on with the greeting"
    assert not events(call, "user-interrupted")
    played, rate = read_wav(speaker)
    report = heard(resample(greeting_sent(sim, call, RATE), RATE, rate), played.ravel(), rate)
    print(f"\ngreeting: {report.voiced_ms:.0f} ms of speech sent, {report.lost_ms:.0f} ms "
          f"lost {report.losses}, gaps {report.gaps}")
    return call, report, result


def test_okay_over_the_greeting_leaves_it_whole(start_sim, profiles: ProfileBuilder,
                                                tmp_path: Path) -> None:
    call, report, result = okay_over_the_greeting(start_sim, profiles, tmp_path)
    assert report.voiced_ms > 3000
    okay = okay_in_excerpt(call)
    assert report.lost_between(okay - 0.3, okay + 0.5) < 5, "no flush at the visitor's okay"
    assert report.lost_ms < 5, f"speech lost at {report.losses} (not a flush: the playout's)"
    # a gap only where the speaker ran dry and the summary owns up to it
    underruns = int(re.search(r"(\d+) audible underruns?\b", result.stdout)[1])
    assert len(report.gaps) <= underruns
    assert "interrupted the assistant" not in result.stderr


@pytest.mark.parametrize("where", ["overrides", "dashboard"])
def test_without_user_interrupted_the_speech_start_flushes(
        start_sim, profiles: ProfileBuilder, tmp_path: Path, where: str) -> None:
    """The fallback: with `clientMessages` lacking `user-interrupted`, the visitor's speech
    start is taken as the interruption, and the speaker drops what it had queued — here
    over a line Vapi went on with: the skip the fallback costs. Also when the list is the
    dashboard assistant's (read with GET /assistant as the daemon starts), not the
    profile's: before, Vapi's default list was assumed and the speaker never stopped."""
    call, report, result = okay_over_the_greeting(
        start_sim, profiles, tmp_path, **({"clientMessages": NO_INTERRUPTED}
                                          if where == "overrides" else
                                          {"stored": NO_INTERRUPTED}))
    err = result.stderr
    assert "clientMessages leave out user-interrupted" in err
    assert "visitor interrupted the assistant (speech-update)" in err
    okay = okay_in_excerpt(call)
    assert report.lost_between(okay - 0.3, okay + 0.5) >= 5, \
        "the loss is where the visitor's speech start reached the bridge"
