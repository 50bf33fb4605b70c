"""The daemon under a service manager's eyes: sd_notify, modes, signals, reload.

Each test runs the real `vapi-bridge run` process against the simulator, with a datagram
socket the test owns as NOTIFY_SOCKET (the way systemd runs the unit's ExecStart).
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import ProfileBuilder, bridge_cmd, bridge_env
from tests.faults.harness import Notify

ROOT = Path(__file__).resolve().parents[2]
SHORT_CALL = {"firstMessage": "", "maxDurationSeconds": 2}


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[Notify]:
    listener = Notify(tmp_path)
    yield listener
    listener.close()


def start_daemon(profile: Path, notify: Notify, *args: str,
                 **env: str) -> subprocess.Popen[str]:
    environment = bridge_env(NOTIFY_SOCKET=str(notify.path), **env)
    return subprocess.Popen(bridge_cmd("run", "--profile", str(profile), *args), cwd=ROOT,
                            env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(proc: subprocess.Popen[str], sig: int | None = signal.SIGTERM) -> tuple[str, str]:
    if sig is not None and proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.communicate(timeout=20)
    finally:
        proc.kill()


def unit_exec_start(profile: Path) -> list[str]:
    """The unit's own ExecStart line, pointed at this venv and a test profile."""
    unit = (ROOT / "systemd" / "vapi-bridge@.service").read_text()
    argv = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    argv_list = argv.split("=", 1)[1].split()
    assert argv_list[0] == "/opt/vapi-bridge/venv/bin/vapi-bridge"
    argv_list[0] = str(Path(sys.executable).parent / "vapi-bridge")
    return [str(profile) if a == "/etc/vapi-bridge/%i.yaml" else a for a in argv_list]


def test_notify_sequence_across_a_call(start_sim, profiles: ProfileBuilder,
                                       notify: Notify, tmp_path: Path) -> None:
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, assistant={"overrides": SHORT_CALL})
    # stderr is the stream JOURNAL_STREAM names (device:inode), as under systemd
    journal = tmp_path / "journal-stream"
    with open(journal, "w") as stream:
        st = os.fstat(stream.fileno())
        env = bridge_env(NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="400000",
                         JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        proc = subprocess.Popen(unit_exec_start(profile), cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=stream, text=True)
        out, _ = finish(proc, sig=None)
    err = journal.read_text()
    assert proc.returncode == 0, err
    messages = notify.messages
    assert messages[0] == "READY=1", messages
    stopping = messages.index("STOPPING=1")
    assert all(m.startswith("STATUS=") for m in messages[stopping + 1:]), \
        "after STOPPING=1 only a last status line"
    assert messages[:stopping].count("WATCHDOG=1") >= 3, \
        "the event loop pinged the watchdog during the call"
    statuses = [m for m in notify.messages if m.startswith("STATUS=")]
    assert any("calling" in s for s in statuses), statuses
    assert "exceeded-max-duration" in out
    lines = err.strip().splitlines()
    assert lines and all(re.match(r"<[0-7]>", line) for line in lines), \
        "under the journal every log line carries a syslog priority"
    assert not any(re.match(r"<\d>\d\d:\d\d:\d\d", line) for line in lines), \
        "and no timestamp (the journal has its own)"


def test_status_stays_current_through_a_call_and_the_loop_pause(
        start_sim, profiles: ProfileBuilder, notify: Notify) -> None:
    """systemd's STATUS= line follows the call second by second, says how it ended, and
    counts the loop's pause down (not a value from seconds or minutes ago); after the pause
    the loop calls again."""
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, name="desk",
                             assistant={"overrides": {"firstMessage": "",
                                                      "maxDurationSeconds": 4}},
                             service={"mode": "loop", "loop_delay_seconds": 3})
    proc = start_daemon(profile, notify)
    try:
        notify.wait_for("STATUS=desk: call ended: exceeded-max-duration", timeout=30)
        notify.wait_for("STATUS=desk: next call in 1 s", timeout=10)
        notify.wait_for("STATUS=desk: calling", count=2, timeout=10)
        deadline = time.monotonic() + 10
        while len(sim.calls()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        _out, err = finish(proc)
    assert len(sim.calls()) >= 2, "the loop placed its next call"
    statuses = [m.removeprefix("STATUS=desk: ") for m in notify.messages
                if m.startswith("STATUS=desk: ")]
    ended = statuses.index("call ended: exceeded-max-duration")
    clock = [m for m in statuses[:ended] if m.startswith("in call 00:0")]  # the first call's
    sent = [int(m[len("in call 00:0")]) for m in clock]  # in order; a line said again
    seconds = [t for i, t in enumerate(sent) if i == 0 or t != sent[i - 1]]  # (`again`): once
    # each second's line, or the next one's when the loop woke late on a loaded machine (00:00,
    # 00:02, 00:03 seen in a CI run): never a value held on, nor one going back
    steps = [b - a for a, b in itertools.pairwise(seconds)]
    assert all(1 <= step <= 2 for step in steps) and len(seconds) >= 3, statuses
    assert all(m.endswith("0 audible underruns") for m in clock), clock
    assert statuses[ended + 1:ended + 4] == ["next call in 3 s", "next call in 2 s",
                                             "next call in 1 s"], statuses
    assert proc.returncode == 0, err


def test_standby_waits_for_a_trigger_and_waits_again(start_sim, profiles: ProfileBuilder,
                                                     notify: Notify) -> None:
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, assistant={"overrides": SHORT_CALL},
                             service={"mode": "standby"})
    proc = start_daemon(profile, notify)
    try:
        notify.wait_for("STATUS=kiosk: waiting for trigger")
        time.sleep(0.5)
        assert sim.calls() == [], "standby places no call by itself"
        for n in (1, 2):
            proc.send_signal(signal.SIGUSR1)
            notify.wait_for("STATUS=kiosk: calling", count=n)
            notify.wait_for("STATUS=kiosk: waiting for trigger", count=n + 1)
        assert [c["endedReason"] for c in sim.calls()] == ["exceeded-max-duration"] * 2
    finally:
        _out, err = finish(proc)
    assert proc.returncode == 0, err


def test_loop_backs_off_when_calls_fail(start_sim, profiles: ProfileBuilder,
                                       notify: Notify) -> None:
    """(That the loop calls again after a call: the status test above.)"""
    sim = start_sim(assistant="echo")
    failing = profiles.write(sim.base_url, name="failing", api={"retry_attempts": 1},
                             service={"mode": "loop", "max_backoff_seconds": 1})
    proc = start_daemon(failing, notify, "--fault", "http-500")
    try:
        notify.wait_for("STATUS=failing: next call", count=3, timeout=40)
    finally:
        _, err = finish(proc)
    assert proc.returncode == 0, "a stop during the backoff is a clean end"
    assert any(m.startswith("STATUS=failing: next call in ") and " s (backing off after 1 "
               "failed call)" in m for m in notify.messages), "the wait after a failed call says so"
    assert err.count("kept failing") >= 3 and "not the network" in err, err
    assert "could not reach Vapi" not in err, "an HTTP 500 is not the network's fault"
    assert "Traceback" not in err


def test_sighup_with_a_broken_profile_keeps_the_old_one(start_sim, profiles: ProfileBuilder,
                                                        notify: Notify) -> None:
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, assistant={"overrides": SHORT_CALL},
                             call={"name": "first"}, service={"mode": "standby"})
    good = profile.read_text()
    proc = start_daemon(profile, notify)

    def call_and_wait(n: int) -> None:
        proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            calls = sim.calls()
            if len(calls) == n and calls[-1]["status"] == "ended":
                return
            time.sleep(0.1)
        raise AssertionError(f"call {n} did not happen")

    try:
        notify.wait_for("STATUS=kiosk: waiting for trigger")
        broken = yaml.safe_load(good)
        broken["audio"]["outptu"] = broken["audio"].pop("output")
        profile.write_text(yaml.safe_dump(broken))
        proc.send_signal(signal.SIGHUP)
        notify.wait_for("READY=1", count=2)
        # `systemctl status` says so, and why (a daemon in a terminal has no journal)
        notify.wait_for("STATUS=kiosk: waiting for trigger (reload failed: the old profile "
                        "is kept — ")
        said = [m for m in notify.messages if "reload failed" in m][-1]
        assert said.endswith(": audio.outptu: unknown key (did you mean 'output'?))"), said
        call_and_wait(1)
        data = yaml.safe_load(good)
        data["call"]["name"] = "second"
        profile.write_text(yaml.safe_dump(data))
        notify.wait_for("STATUS=kiosk: waiting for trigger", count=3)
        proc.send_signal(signal.SIGHUP)
        notify.wait_for("READY=1", count=3)
        call_and_wait(2)
        statuses = [m for m in list(notify.messages) if m.startswith("STATUS=")]
        assert "reload failed" not in statuses[-1], "a good reload clears it"
    finally:
        _out, err = finish(proc)
    assert proc.returncode == 0, err
    assert "reload failed, keeping the old profile" in err
    assert "audio.outptu: unknown key" in err
    # each call's name is the profile's call.name plus the bridge's " #<marker>"
    names = [c["createBody"]["name"].rsplit(" #", 1)[0] for c in sim.calls()]
    assert names == ["first", "second"], "the broken profile changed nothing; the good one did"


def test_standby_with_an_assistant_vapi_does_not_have_says_so_at_start(
        start_sim, profiles: ProfileBuilder, notify: Notify) -> None:
    """Not at a visitor's first call: the daemon reads the assistant when it starts (for its
    clientMessages), and a 404 is a warning naming the key, while the daemon waits on."""
    sim = start_sim(assistant="echo")
    missing = "11111111-2222-3333-4444-555555555555"
    profile = profiles.write(sim.base_url, assistant={"id": missing},
                             service={"mode": "standby"})
    proc = start_daemon(profile, notify)
    lines: list[str] = []
    assert proc.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True)
    reader.start()
    try:
        notify.wait_for("STATUS=kiosk: waiting for trigger")
        deadline = time.monotonic() + 20
        while not any("assistant.id" in line for line in lines) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the daemon waits on: the id may be fixed by a reload"
    finally:
        proc.send_signal(signal.SIGTERM)  # stderr is the reader's: no communicate()
        try:
            proc.wait(timeout=20)
        finally:
            proc.kill()
        reader.join(5)
    warned = [line for line in lines if "assistant.id" in line]
    assert len(warned) == 1, lines
    assert f"WARNING {profile}: assistant.id {missing}: " in warned[0]
    assert "(404)" in warned[0] and "calls will be refused until it is fixed" in warned[0]
    assert sim.calls() == []
