"""Events out (#14): `vapi-bridge ctl events` and `service.on_event` follow a whole call in
standby mode against the simulator — the real daemon, the real `ctl` processes, a real
script run per event."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bridge.errors import ProfileError
from bridge.profile import load_profile
from bridge.service.on_event import command_line
from tests.control.conftest import Daemon, control_profile, wait_for
from tests.e2e.conftest import (
    ROOT,
    ProfileBuilder,
    SimHandle,
    bridge_cmd,
    bridge_env,
    run_bridge,
)
from tests.rig.signals import tone, write_wav

RATE = 16000
# the script of the on_event tests: the whole environment of each run, one file per event
RECORDER = """#!/bin/sh
env > "$EVENTS_OUT/$VAPI_BRIDGE_SEQ.env"
"""


class Follower:
    """`vapi-bridge ctl events` in a subprocess, its lines collected as they come."""

    def __init__(self, daemon: Daemon, *args: str) -> None:
        self.proc = subprocess.Popen(
            bridge_cmd("ctl", "--socket", str(daemon.socket), "events", *args), cwd=ROOT,
            env=daemon.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines)]

    def wait(self, predicate, what: str, timeout: float = 20) -> None:
        wait_for(lambda: predicate(self.events), timeout, what)

    def finish(self, timeout: float = 15) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(5)
        return code


def _kinds(evs: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in evs]


def _has(kind: str, **fields: Any):
    return lambda evs: any(e["event"] == kind and all(e.get(k) == v for k, v in fields.items())
                           for e in evs)


def _in_order(kinds: list[str], expected: list[str]) -> bool:
    """`expected` is a subsequence of `kinds`."""
    it = iter(kinds)
    return all(kind in it for kind in expected)


def _visitor_mic(tmp_path: Path) -> Path:
    """2 s of silence, 1 s of a 440 Hz tone (the simulator hears speech), 10 s of silence."""
    mic = tmp_path / "visitor.wav"
    silence = np.zeros(2 * RATE, np.int16)
    write_wav(mic, np.concatenate([silence, tone(440, 1000, RATE, level_db=-20),
                                   silence, silence, silence, silence[:RATE]]), RATE)
    return mic


def _recorded(out: Path) -> list[dict[str, str]]:
    runs = []
    for path in sorted(out.glob("*.env"), key=lambda p: int(p.stem)):
        runs.append(dict(line.split("=", 1) for line in path.read_text().splitlines()
                         if "=" in line))
    return runs


def test_ctl_events_and_on_event_see_the_whole_call(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    sim = start_sim(assistant="echo")
    script = tmp_path / "record.sh"  # beside the profile
    script.write_text(RECORDER)
    script.chmod(0o755)
    out = tmp_path / "runs"
    out.mkdir()
    profile = control_profile(
        profiles, sim, short_dir / "ctl.sock", overrides={"firstMessage": "Welcome."},
        audio={"input": f"file:{_visitor_mic(tmp_path)}", "output": "null"},
        service={"on_event": "./record.sh"})  # relative to the profile's directory
    daemon = start_daemon(profile, EVENTS_OUT=str(out))
    finals_only, everything = Follower(daemon), Follower(daemon, "--partials")
    for follower in (finals_only, everything):
        follower.wait(_has("standby"), "the state a new client starts from")

    assert daemon.ok("call").startswith("call ")
    finals_only.wait(_has("transcript", role="visitor", final=True), "the visitor's line")
    finals_only.wait(_has("transcript", role="assistant", text="(echo of 1.0 s)"), "the echo")
    daemon.ok("mute-mic")
    daemon.ok("unmute-mic")
    daemon.ok("end")
    finals_only.wait(lambda evs: _kinds(evs)[-2:] == ["ended", "standby"], "standby again")
    assert daemon.stop() == 0
    assert finals_only.finish() == 0 and everything.finish() == 0, \
        "the stream ends cleanly when the daemon stops"

    got = finals_only.events
    kinds = _kinds(got)
    assert _in_order(kinds, [
        "standby", "triggered", "connecting", "in-call", "assistant-speaking",
        "assistant-silent", "visitor-speaking", "visitor-silent", "assistant-speaking",
        "assistant-silent", "muted", "unmuted", "ended", "standby"]), kinds
    assert got[1] == {**got[1], "event": "triggered", "cause": "ctl"}
    assert [e["seq"] for e in got] == sorted({e["seq"] for e in got}), "in order, no repeat"
    lines = [(e["role"], e["text"]) for e in got if e["event"] == "transcript"]
    assert lines == [("assistant", "Welcome."), ("visitor", "(speech 1.0 s)"),
                     ("assistant", "(echo of 1.0 s)")], lines
    assert all(e["final"] for e in got if e["event"] == "transcript")
    assert {"event": "muted", "who": "visitor", "via": "mic"}.items() <= \
        next(e for e in got if e["event"] == "muted").items()
    ended = next(e for e in got if e["event"] == "ended")
    assert ended["reason"] == "customer-ended-call" and ended["outcome"] == "ok"
    assert ended["exit"] == 0 and ended["seconds"] > 4
    assert "lost" not in kinds

    # --partials: the same events, and the partial transcripts between them
    both = everything.events
    partials = [e for e in both if e["event"] == "transcript" and not e["final"]]
    assert any(e["role"] == "visitor" for e in partials), partials
    assert [e for e in both if e not in partials] == got

    # on_event: one run per event (partials aside), in order, the event in its environment
    runs = _recorded(out)
    assert [json.loads(r["VAPI_BRIDGE_EVENT_JSON"]) for r in runs] == got
    for run, event in zip(runs, got, strict=True):
        assert run["VAPI_BRIDGE_EVENT"] == event["event"]
        assert run["VAPI_BRIDGE_SEQ"] == str(event["seq"])
        assert run["VAPI_BRIDGE_PROFILE"] == "kiosk"
        assert "VAPI_API_KEY" not in run, "the API key is not handed to the script"
    trig = runs[kinds.index("triggered")]
    assert trig["VAPI_BRIDGE_CAUSE"] == "ctl"
    echo = next(r for r in runs if r.get("VAPI_BRIDGE_TEXT") == "(echo of 1.0 s)")
    assert echo["VAPI_BRIDGE_ROLE"] == "assistant" and echo["VAPI_BRIDGE_FINAL"] == "true"
    assert runs[kinds.index("muted")]["VAPI_BRIDGE_WHO"] == "visitor"
    assert runs[kinds.index("ended")]["VAPI_BRIDGE_REASON"] == "customer-ended-call"


def _raw_events(sock_path: Path, **request: Any) -> socket.socket:
    """A client that asks for the stream and then reads nothing at all."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(str(sock_path))
    client.sendall((json.dumps({"cmd": "events", **request}) + "\n").encode())
    return client


def test_a_client_that_never_reads_stalls_neither_the_call_nor_other_clients(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    sim = start_sim(assistant="echo")
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock"))
    stalled = _raw_events(daemon.socket, partials=True)
    reader = Follower(daemon)
    reader.wait(_has("standby"), "the reading client")
    short = daemon.ok("call").split()[1]
    rec = wait_for(lambda: [c for c in sim.calls() if c["id"].endswith(short)], 10,
                   "the simulator to see the call")[0]
    sim.wait_streaming(25)

    # 1000 mute/unmute requests on one connection, each answered before the next: 2000
    # events (~150 kB of lines, its bounds hold ~70 kB) for a client that takes none of
    # them, in batches the reading client keeps up with
    pump = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    pump.connect(str(daemon.socket))
    pumped_from = time.monotonic()
    answers = pump.makefile("rb")
    for n in range(1, 1001):
        for cmd in ("mute-mic", "unmute-mic"):
            pump.sendall((json.dumps({"cmd": cmd}) + "\n").encode())
            assert json.loads(answers.readline())["ok"], n
        if n % 50 == 0:
            reader.wait(lambda evs, n=n: sum(e["event"] == "unmuted" for e in evs) == n,
                        "the reading client to keep up")
    pumped_to = time.monotonic()
    pump.close()

    # the call's uplink went on at its cadence on the simulator's arrival clock
    up = sim.get(f"/_sim/calls/{rec['id']}")["uplink"]
    during = np.asarray([t for t in up["arrivalMonotonic"] if pumped_from <= t <= pumped_to])
    assert len(during) > 10, "frames arrived while the events were pumped"
    # a write waiting on the stalled client would have held the loop for STALL_S (10 s);
    # the bound leaves room for a loaded machine
    gaps = np.diff(during)
    assert gaps.max() < 1.0, f"the uplink stalled {gaps.max() * 1000:.0f} ms"
    assert len(during) >= 0.8 * (during[-1] - during[0]) / 0.02, "its cadence kept"
    # the reading client got every one of them, nothing lost
    assert "lost" not in _kinds(reader.events)

    # the stalled client, reading at last: what fit in its bounded buffers, then a lost
    # notice (or the end of the stream, if its writes waited over 10 s: disconnected)
    stalled.settimeout(15)
    data = b""
    while not re.search(rb'"event":"lost"[^\n]*\n', data):
        chunk = stalled.recv(65536)
        if not chunk:
            break
        data += chunk
    lines = [json.loads(line) for line in data.split(b"\n")[:-1]]
    assert lines[0]["ok"] and lines[0]["stream"] == "events"
    delivered = [e for e in lines[1:] if e["event"] in ("muted", "unmuted")]
    assert len(delivered) < 1000, "the daemon held no more than its bounds for it"
    if b'"event":"lost"' in data:
        lost = next(e for e in lines if e.get("event") == "lost")
        assert lost["count"] > 500, lost
    stalled.close()
    daemon.ok("end")
    assert daemon.stop() == 0
    assert reader.finish() == 0


def test_a_hanging_or_failing_script_is_killed_or_logged_and_the_daemon_carries_on(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    sim = start_sim(assistant="echo")
    log = tmp_path / "ran.log"
    child = tmp_path / "child.pid"
    script = tmp_path / "hook.sh"
    script.write_text(f"""#!/bin/sh
echo "$VAPI_BRIDGE_EVENT" >> {log}
case "$VAPI_BRIDGE_EVENT" in
  triggered) printf 'no LED here\\033[31m\\n<3>forged line\\n' >&2; exit 3 ;;
  in-call) sleep 60 & echo $! > {child}; wait ;;
esac
""")
    script.chmod(0o755)
    profile = control_profile(profiles, sim, short_dir / "ctl.sock",
                              service={"on_event": str(script),
                                       "on_event_timeout_seconds": 1})
    daemon = start_daemon(profile)
    short = daemon.ok("call").split()[1]
    wait_for(lambda: log.exists() and "in-call" in log.read_text(), 10, "the in-call run")
    pid = int(wait_for(lambda: child.exists() and child.read_text().strip(), 5, "the child"))
    # killed at the timeout, its child with it; the next events still run
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 5, "the hung run to be killed")
    assert short in daemon.ok("status")
    daemon.ok("end")
    wait_for(lambda: log.read_text().split()[-2:] == ["ended", "standby"], 10, "later runs")
    assert daemon.stop() == 0
    err = daemon.err
    assert "service.on_event: hook.sh ran over 1.0 s on in-call" in err and "killed" in err
    failed = next(line for line in err.splitlines() if "exited with 3 on triggered" in line)
    assert "no LED here\\x1b[31m\\n<3>forged line" in failed, "stderr's tail, inert"
    assert not any(line.startswith("<3>") for line in err.splitlines())


def test_a_script_that_leaves_a_job_running_is_done_when_it_exits(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    """`gpioset … &`, `aplay … &`: the script exits at once and its job runs on, holding
    stderr. Each run was waited for until the timeout and then killed with its job, so
    every later event came that much later (the LEDs a call behind)."""
    sim = start_sim(assistant="echo")
    log, jobs = tmp_path / "ran.log", tmp_path / "jobs"
    script = tmp_path / "hook.sh"
    script.write_text(f"""#!/bin/sh
echo "$VAPI_BRIDGE_EVENT" >> {log}
sleep 30 &
echo $! >> {jobs}
""")
    script.chmod(0o755)
    profile = control_profile(profiles, sim, short_dir / "ctl.sock",
                              service={"on_event": str(script),
                                       "on_event_timeout_seconds": 3})
    daemon = start_daemon(profile)
    daemon.ok("call")
    wait_for(lambda: log.exists() and "in-call" in log.read_text(), 10, "the in-call run")
    daemon.ok("end")
    try:
        wait_for(lambda: log.read_text().split()[-2:] == ["ended", "standby"], 5,
                 "the runs after it without waiting on the jobs")
    except AssertionError:
        daemon.stop()
        raise AssertionError(log.read_text() + daemon.err) from None
    pids = [int(p) for p in jobs.read_text().split()]
    alive = [p for p in pids if os.path.exists(f"/proc/{p}")]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    assert daemon.stop() == 0
    assert "ran over" not in daemon.err, daemon.err
    assert alive == pids, "the jobs the script left running are its own business"


def test_an_on_event_command_that_cannot_run_is_a_profile_error(
        profiles: ProfileBuilder, tmp_path: Path, short_dir: Path) -> None:
    script = tmp_path / "leds.sh"
    script.write_text("#!/bin/sh\n")

    def profile(on_event: str) -> Path:
        return profiles.write("http://127.0.0.1:9", service={
            "mode": "standby", "on_event": on_event,
            "control_socket": str(short_dir / "x.sock")})

    result = subprocess.run(bridge_cmd("run", "--profile", str(profile("./leds.sh"))),
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env=bridge_env())
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"vapi-bridge: {tmp_path / 'kiosk.yaml'}: service.on_event: {script} is not "
        f"executable — run: chmod +x {script}"]
    for on_event, says in (("./missing.sh", "no such file"),
                           ("leds.sh", "write ./leds.sh for the one beside the profile"),
                           ("no-such-program-here", "on PATH — give its full path"),
                           ("'./leds.sh", "No closing quotation — quote it as a shell")):
        with pytest.raises(ProfileError, match=r"service\.on_event: ") as caught:
            command_line(load_profile(str(profile(on_event))))
        assert says in str(caught.value) and "\n" not in str(caught.value)


def test_a_call_that_cannot_be_placed_says_why_in_its_error_event(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    sim = start_sim(assistant="echo", faults=("http-402",))
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock"))
    follower = Follower(daemon)
    follower.wait(_has("standby"), "standby")
    assert daemon.ctl("call").returncode != 0
    follower.wait(_has("error"), "the error event")
    assert follower.finish() == 0, "the daemon stopped (a 402 needs a person): stream ended"
    error = next(e for e in follower.events if e["event"] == "error")
    assert error["cause"] == "payment" and error["exit"] == 3, error
    assert "402" in error["message"]
    assert daemon.proc.wait(timeout=20) == 3

    unreachable = SimHandle("http://127.0.0.1:9", lambda: None)  # nothing listens there
    profile = control_profile(profiles, unreachable, short_dir / "net.sock", name="net",
                              api={"retry_attempts": 1})
    daemon = start_daemon(profile, name="net.sock")
    follower = Follower(daemon)
    follower.wait(_has("standby"), "standby")
    daemon.ctl("call")
    follower.wait(lambda evs: _kinds(evs)[-2:] == ["error", "standby"], "standby again")
    error = next(e for e in follower.events if e["event"] == "error")
    assert error["cause"] == "network" and error["exit"] == 5, error
    assert daemon.stop() == 0 and follower.finish() == 0


TOOL_SCRIPT = r"""
- Welcome.
- tool: "open_door\e[2J"
  arguments: {door: main, note: "line one\nline two"}
  say: The door is open.
  wait: false
- say: Let me put you through to reception.
  transfer: "+15551234567"
  wait: false
"""


def test_a_client_side_tool_call_and_a_transfer_reach_on_event_terminal_and_recording(
        start_sim, profiles: ProfileBuilder, tmp_path: Path) -> None:
    """An assistant's tool without a server URL is the kiosk's to act on: its call is a
    `tool-call` event (to `on_event` and `ctl events`), a line on the terminal and one in
    the recording's JSONL — the name and arguments server text, so inert. The model's
    transfer is a `transfer` event, a line and a JSONL line too (a screen can say so)."""
    script_file = tmp_path / "door.yaml"
    script_file.write_text(TOOL_SCRIPT)
    sim = start_sim(assistant=f"script:{script_file}")
    hook = tmp_path / "record.sh"
    hook.write_text(RECORDER)
    hook.chmod(0o755)
    out = tmp_path / "runs"
    out.mkdir()
    profile = profiles.write(
        sim.base_url, assistant={"id": "echo", "overrides": {}},
        service={"on_event": str(hook)}, record={"path": str(tmp_path / "rec" / "call")},
        transcript={"print": "finals"})
    result = run_bridge("run", "--profile", str(profile), EVENTS_OUT=str(out))
    assert result.returncode == 0, result.stderr
    assert "ended: assistant-forwarded-call" in result.stdout, result.stdout
    args = {"door": "main", "note": "line one\nline two"}
    shown = json.dumps(args, separators=(",", ":"))
    lines = result.stdout.splitlines()
    tool_line = f"tool call: open_door\\x1b[2J {shown}"  # one line: the \n stays escaped
    assert {"assistant: Welcome.", tool_line} <= set(lines), lines
    assert lines.index(tool_line) < lines.index("assistant: The door is open."), lines
    assert lines.index("transfer: number +15551234567") > \
        lines.index("assistant: The door is open."), lines
    assert "\x1b" not in result.stdout + result.stderr

    runs = [r for r in _recorded(out) if r["VAPI_BRIDGE_EVENT"] == "tool-call"]
    assert len(runs) == 1, _recorded(out)
    assert runs[0]["VAPI_BRIDGE_NAME"] == "open_door\\x1b[2J"
    assert json.loads(runs[0]["VAPI_BRIDGE_ARGUMENTS"]) == args
    assert runs[0]["VAPI_BRIDGE_ID"].startswith("call_")
    # the script can reach `ctl` (docs/events.md's door.sh) where no vapi-bridge is on its
    # PATH, as under the documented unit, whose venv is in /opt
    ctl = subprocess.run([*shlex.split(runs[0]["VAPI_BRIDGE_CMD"]), "ctl", "--help"],
                         capture_output=True, text=True, env={"PATH": "/nonexistent"},
                         timeout=20)
    assert ctl.returncode == 0 and "usage: vapi-bridge ctl" in ctl.stdout, ctl.stderr
    (moved,) = [r for r in _recorded(out) if r["VAPI_BRIDGE_EVENT"] == "transfer"]
    assert (moved["VAPI_BRIDGE_DESTINATION"], moved["VAPI_BRIDGE_TO"]) == \
        ("number", "+15551234567")

    jsonl = [json.loads(line) for line in (tmp_path / "rec" / "call.jsonl").read_text()
             .splitlines()]
    said = [j.get("text") or j.get("tool") for j in jsonl if "text" in j or "tool" in j]
    assert sorted(said[:2]) == ["Welcome.", "open_door\\x1b[2J"], said
    assert said[2:] == ["The door is open.", "Let me put you through to reception."], said
    assert {"transfer": "number", "to": "+15551234567"}.items() <= \
        next(j for j in jsonl if "transfer" in j).items()
    tool = next(j for j in jsonl if "tool" in j)
    assert json.loads(tool["arguments"]) == args and tool["id"] == runs[0]["VAPI_BRIDGE_ID"]
