"""Each `ctl` command against a live simulator call: what the simulator received (and by
which path), what the assistant did, how the call ended."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from tests.control.conftest import control_profile, finals, received, wait_for
from tests.e2e.conftest import ProfileBuilder, SimHandle
from tests.rig.signals import tone, write_wav

LONG_LINE = ("one two three four five six seven eight nine ten eleven twelve thirteen "
             "fourteen fifteen sixteen seventeen eighteen")


def _call(sim: SimHandle, daemon) -> str:
    started = daemon.ok("call")
    assert started.startswith("call ") and started.strip().endswith(" started"), started
    short = started.split()[1]
    rec = wait_for(lambda: [c for c in sim.calls() if c["id"].endswith(short)], 10,
                   "the simulator to see the call")[0]
    return str(rec["id"])


def _rec(sim: SimHandle, call_id: str) -> dict:
    return sim.get(f"/_sim/calls/{call_id}")


def test_commands_over_the_call_socket(start_sim, profiles: ProfileBuilder, short_dir: Path,
                                       start_daemon) -> None:
    sim = start_sim(assistant="echo", first_message="Hi there.")
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock"))
    call_id = _call(sim, daemon)  # no greeting: firstMessage ""

    assert "say sent (socket)" in daemon.ok("say", "Welcome to the front desk.")
    daemon.ok("add-message", "The visitor is Ms Lee.", "--role", "system")
    daemon.ok("add-message", "She is early.", "--no-response")
    daemon.ok("mute-assistant")
    daemon.ok("mute-customer")
    state = _rec(sim, call_id)["state"]
    assert state["assistantMuted"] and state["customerMuted"]
    assert "muted: assistant, customer" in daemon.ok("status")
    daemon.ok("unmute-assistant")
    daemon.ok("unmute-customer")
    state = _rec(sim, call_id)["state"]
    assert not state["assistantMuted"] and not state["customerMuted"]
    daemon.ok("say-first-message")

    # in order: the line, the acknowledgement of the first add-message only, the greeting
    wait_for(lambda: "Hi there." in finals(_rec(sim, call_id)), 15, "the assistant's lines")
    assert finals(_rec(sim, call_id)) == ["Welcome to the front desk.", "Okay, noted.",
                                         "Hi there."]
    status = daemon.ok("status")
    assert f"call {call_id[-8:]}: in-progress" in status
    assert "  assistant: Welcome to the front desk.\n  assistant: Okay, noted." in status
    live = json.loads(daemon.ok("--json", "status"))
    assert live["call"]["id"] == call_id[-8:] and live["call"]["callId"] is None, \
        "a live call's full id opens it: not even the 0600 socket gives it"
    assert call_id not in json.dumps(live)

    out = daemon.ok("transfer", "+15551234567", "--message", "Transferring you now.",
                    "--extension", "204")
    assert "transfer to number +15551234567 extension 204 requested (socket)" in out
    rec = wait_for(lambda: (r := _rec(sim, call_id))["status"] == "ended" and r, 15,
                   "the transfer to end the call")
    assert rec["endedReason"] == "assistant-forwarded-call"
    assert "Transferring you now." in finals(rec)

    got = received(rec)
    assert {source for source, _ in got} == {"socket"}
    assert [m["type"] for _, m in got] == [
        "say", "add-message", "add-message", "control", "control", "control", "control",
        "control", "transfer"]
    say, add, quiet = got[0][1], got[1][1], got[2][1]
    assert say == {"type": "say", "content": "Welcome to the front desk.",
                   "endCallAfterSpoken": False, "interruptionsEnabled": True,
                   "interruptAssistantEnabled": False}
    assert add["message"] == {"role": "system", "content": "The visitor is Ms Lee."}
    assert add["triggerResponseEnabled"] is True and quiet["triggerResponseEnabled"] is False
    assert got[-1][1]["destination"] == {"type": "number", "number": "+15551234567",
                                         "extension": "204"}

    # the call is over: commands are refused with a clear line, the daemon waits again
    refused = daemon.ctl("say", "anyone there?")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (f"vapi-bridge ctl: no call in progress (call "
                                      f"{call_id[-8:]} ended: assistant-forwarded-call) — "
                                      f"start one with `vapi-bridge ctl call`")
    wait_for(lambda: "waiting for trigger" in daemon.ok("status"), 10, "standby again")
    ended = json.loads(daemon.ok("--json", "status"))
    assert ended["call"]["callId"] == call_id, "once over, the full id is given, for support"
    assert ended["lastCall"].startswith(f"call {call_id} ended: assistant-forwarded-call")
    # --json has the lines printed (asked again while the speaker's tail still changes
    # the playout line between the two answers, as it may on a loaded machine)
    wait_for(lambda: daemon.ok("status") == json.loads(daemon.ok("--json", "status"))[
        "message"] + "\n", 30, "the same lines with and without --json")
    assert daemon.stop() == 0, daemon.err
    assert call_id not in daemon.err, "never in the logs"


def test_say_while_the_assistant_speaks(start_sim, profiles: ProfileBuilder, short_dir: Path,
                                        start_daemon) -> None:
    sim = start_sim(assistant="echo")
    first = "Welcome to the front desk, how can I help you today?"
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock",
                                          overrides={"firstMessage": first}))
    call_id = _call(sim, daemon)
    wait_for(lambda: _rec(sim, call_id)["state"]["assistantSpeaking"], 10, "the greeting")

    # a plain say while it speaks is queued after the greeting, which is not cut
    daemon.ok("say", "Second line.", "--no-interrupt")
    assert _rec(sim, call_id)["state"]["assistantSpeaking"], "said while it was speaking"
    wait_for(lambda: "Second line." in finals(_rec(sim, call_id)), 15, "the queued line")
    assert finals(_rec(sim, call_id))[:2] == [first, "Second line."]

    # --interrupt-assistant cuts off what it is saying now
    daemon.ok("say", LONG_LINE)

    def speaking_long_line() -> bool:
        return any(e["event"].get("type") == "transcript"
                   and e["event"].get("transcriptType") == "partial"
                   and e["event"].get("transcript", "").startswith("one two")
                   for e in _rec(sim, call_id)["eventsSent"])

    wait_for(speaking_long_line, 10, "the long line to start")
    daemon.ok("say", "Stop here.", "--interrupt-assistant")
    wait_for(lambda: "Stop here." in finals(_rec(sim, call_id)), 10, "the interrupting line")
    said = finals(_rec(sim, call_id))
    cut = said[2]
    assert LONG_LINE.startswith(cut) and cut != LONG_LINE, said
    assert said[3] == "Stop here."
    says = [m for _, m in received(_rec(sim, call_id)) if m["type"] == "say"]
    assert says[0]["interruptionsEnabled"] is False
    assert says[2]["interruptAssistantEnabled"] is True

    # `ctl end` ends the call cleanly; the daemon stays in standby
    out = daemon.ok("end")
    assert out.strip() == f"call {call_id[-8:]} ended (customer-ended-call)"
    rec = _rec(sim, call_id)
    assert rec["endedReason"] == "customer-ended-call"
    assert received(rec)[-1] == ("socket", {"type": "end-call"})
    status = daemon.ok("status")
    assert "waiting for trigger" in status and "no call in progress; last call" in status
    assert daemon.proc.poll() is None
    assert daemon.stop() == 0


def test_commands_via_the_control_url_with_auth_and_local_mic_mute(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    sim = start_sim(assistant="echo")
    mic = tmp_path / "hum.wav"
    # longer than any call here: on a loaded machine each ctl command can take seconds, and
    # a file that ran out would be silence the test would take for the mute
    write_wav(mic, np.tile(tone(440, 1000, 16000, level_db=-20, fade_ms=0), 120), 16000)
    profile = control_profile(
        profiles, sim, short_dir / "ctl.sock",
        overrides={"monitorPlan": {"controlAuthenticationEnabled": True}},
        call={"commands_via": "control-url", "control_auth": True},
        audio={"input": f"file:{mic}", "output": "null"})
    daemon = start_daemon(profile, VAPI_PUBLIC_KEY="sim-public-key")
    call_id = _call(sim, daemon)

    assert "say sent (control-url)" in daemon.ok("say", "Hello over control.")
    daemon.ok("add-message", "Context.", "--role", "user", "--no-response")
    daemon.ok("mute-assistant")
    assert _rec(sim, call_id)["state"]["assistantMuted"]
    out = daemon.ok("handoff", "asst-next", "--context", "last:2", "--message", "Hi, next here.")
    assert "handoff to assistant asst-next requested (control-url)" in out
    wait_for(lambda: _rec(sim, call_id)["handoffs"], 5, "the handoff")

    time.sleep(0.4)
    muted_at = time.monotonic()
    assert "microphone muted" in daemon.ok("mute-mic")
    assert "muted: mic, assistant" in daemon.ok("status")
    time.sleep(1.0)
    daemon.ok("unmute-mic")
    unmuted_at = time.monotonic()
    time.sleep(0.4)
    daemon.ok("end")

    rec = _rec(sim, call_id)
    assert rec["endedReason"] == "customer-ended-call"
    got = received(rec)
    assert [(s, m["type"]) for s, m in got] == [
        ("control", "say"), ("control", "add-message"), ("control", "control"),
        ("control", "handoff"), ("socket", "end-call")]
    assert all(r["problem"] is None for r in rec["controlRequests"])
    assert rec["handoffs"][0]["destination"] == {
        "type": "assistant", "assistantId": "asst-next",
        "contextEngineeringPlan": {"type": "lastNMessages", "maxMessages": 2}}
    assert rec["handoffs"][0]["content"] == "Hi, next here."

    # mute-mic: the uplink carried exact digital silence for about as long as it was muted
    up = np.frombuffer(sim.get_bytes(f"/_sim/calls/{call_id}/uplink.wav")[44:], "<i2")
    silent = np.concatenate(([False], up == 0, [False])).astype(np.int8)
    starts, ends = np.flatnonzero(np.diff(silent) == 1), np.flatnonzero(np.diff(silent) == -1)
    runs = list(zip(starts, ends, strict=True))
    longest = max(runs, key=lambda r: r[1] - r[0])
    assert longest[0] > 16000 * 0.5 and longest[1] < len(up) - 16000 * 0.2, "tone around it"
    assert np.abs(up[longest[1]:longest[1] + 1600]).max() > 1000, "the tone came back"
    # muted between the two ctl commands: at least the 1 s slept (less a frame in flight),
    # by the frames' arrival times, the same clock as muted_at and unmuted_at (a sample
    # count would shrink when a stalled uplink skips ticks) ...
    arrivals = rec["uplink"]["arrivalMonotonic"]
    frame = 320  # 20 ms at 16 kHz
    seconds = arrivals[(longest[1] - 1) // frame] - arrivals[longest[0] // frame] + 0.02
    assert seconds >= 0.98, seconds
    # ... and at most the time from launching the first to the second's return, by samples:
    # a stalled uplink skips ticks and never bursts, so samples never outrun real time, where
    # arrival times also carry the transit's lag
    samples = (longest[1] - longest[0]) / 16000
    assert samples <= unmuted_at - muted_at + 0.1, (samples, unmuted_at - muted_at)
    assert daemon.stop() == 0


def test_a_refusal_from_the_control_url_is_one_line(start_sim, profiles: ProfileBuilder,
                                                    short_dir: Path, start_daemon) -> None:
    sim = start_sim(assistant="echo")
    profile = control_profile(
        profiles, sim, short_dir / "ctl.sock",
        overrides={"monitorPlan": {"controlAuthenticationEnabled": True}},
        call={"commands_via": "control-url"})  # but no control_auth: no public key sent
    daemon = start_daemon(profile)
    call_id = _call(sim, daemon)
    refused = daemon.ctl("say", "hello")
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith(
        "vapi-bridge ctl: the controlUrl refused say (401 Unauthorized) — it needs the public key")
    assert "http" not in refused.stderr, "no URL is printed"
    daemon.ok("end")  # over the socket: still fine
    assert _rec(sim, call_id)["endedReason"] == "customer-ended-call"
    assert daemon.stop() == 0
