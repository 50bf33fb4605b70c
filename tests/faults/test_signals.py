"""SIGTERM, SIGINT and SIGHUP at each moment of a call's lifecycle, on the real process.

The documented behaviour (README, "Exit codes"; bridge/service/signals.py):

- a first SIGINT/SIGTERM ends the call cleanly (end-call, a short wait for Vapi's `ended`,
  the recording finalized) and the daemon: exit 0;
- a second one while the call is already ending exits at once: 130 (SIGINT) or 143
  (SIGTERM) — the recording stays a valid file (its header is rewritten on every block);
- SIGHUP never ends the daemon: it asks for a reload, applied between calls (in `once`
  mode, the harness's, it is ignored with a warning: the daemon exits after its call).

Moments: *creating* (`POST /call` held open: `http-hang`), *connecting* (the websocket
upgrade held: the simulator's `connect-delay`), *mid-call*, *ending* (the call socket has
gone silent — `ws-drop` — so the end waits for Vapi's `ended` that never comes). Each case
checks that the process is gone within a bounded time, that stderr shows no traceback,
destroyed task or unclosed resource, and that any recording is a complete, valid file.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, bridge_cmd
from tests.faults.harness import (
    Daemon,
    Result,
    Sim,
    assert_clean,
    case_dir,
    check_recording,
    env,
    parallel,
    recordings,
    selected_params,
    write_profile,
)

pytestmark = pytest.mark.timeout(300)

TERM, INT, HUP = signal.SIGTERM, signal.SIGINT, signal.SIGHUP
FAULT = {"creating": "http-hang", "connecting": "connect-delay=4000", "mid-call": None,
         "ending": "ws-drop=1@60"}
PROFILE: dict[str, dict[str, Any]] = {
    "creating": {"api": {"timeout_seconds": 60, "retry_attempts": 1}},
    "connecting": {},
    "mid-call": {},
    "ending": {"assistant": {"overrides": {"maxDurationSeconds": 60}},
               "call": {"end_timeout_seconds": 4}},
}


@dataclass(frozen=True)
class SignalCase:
    moment: str
    signals: tuple[signal.Signals, ...]
    code: int
    ctl_end: bool = False  # the call is ending because `ctl end` asked, not a signal


CASES: dict[str, SignalCase] = {
    "creating-TERM": SignalCase("creating", (TERM,), 0),
    "creating-INT": SignalCase("creating", (INT,), 0),
    "creating-HUP": SignalCase("creating", (HUP,), 0),
    "connecting-TERM": SignalCase("connecting", (TERM,), 0),
    "connecting-INT": SignalCase("connecting", (INT,), 0),
    "connecting-HUP": SignalCase("connecting", (HUP,), 0),
    "mid-call-TERM": SignalCase("mid-call", (TERM,), 0),
    "mid-call-INT": SignalCase("mid-call", (INT,), 0),
    "mid-call-HUP": SignalCase("mid-call", (HUP,), 0),
    "ending-TERM-TERM": SignalCase("ending", (TERM, TERM), 143),
    "ending-INT-INT": SignalCase("ending", (INT, INT), 130),
    "ending-TERM-INT": SignalCase("ending", (TERM, INT), 130),
    "ending-TERM-HUP": SignalCase("ending", (TERM, HUP), 0),
    "ending-ctl-end-TERM": SignalCase("ending", (TERM,), 0, ctl_end=True),
}


def wait_until(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"never reached: {what}")


def reach(moment: str, daemon: Daemon, sim: Sim) -> None:
    """Block until the daemon is at `moment`."""
    if moment == "creating":
        daemon.notify.wait_for("STATUS=kiosk: calling")
        time.sleep(0.5)  # the POST is out; the simulator holds it (http-hang)
        assert sim.get("/_sim/calls")["calls"] == [], "no call exists yet"
    elif moment == "connecting":
        daemon.wait_err("recording to ")  # created; the upgrade is held for 4 s
        time.sleep(0.3)
        assert ": in-progress" not in daemon.err
    else:
        daemon.wait_err(": in-progress")
        wait_until(lambda: sim.calls()[0]["uplink"]["frames"] >= 25, "0.5 s of uplink")
        if moment == "ending":  # the socket goes dead 1 s after connecting (ws-drop=1@60)
            connected = sim.calls()[0]["connectedMonotonic"]  # this host's monotonic clock
            wait_until(lambda: time.monotonic() > connected + 1.3, "the dead socket")


def run_case(case: SignalCase) -> Result:
    with Sim() as sim, case_dir() as d:
        profile = write_profile(d, sim.base_url, **PROFILE[case.moment])
        fault = FAULT[case.moment]
        daemon = Daemon(profile, d, "-v", *(["--fault", fault] if fault else []))
        ctl: subprocess.Popen[str] | None = None
        try:
            reach(case.moment, daemon, sim)
            if case.ctl_end:
                ctl = subprocess.Popen(bridge_cmd("ctl", "--socket", str(d / "ctl.sock"), "end"),
                                       cwd=ROOT, env=env(), text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                daemon.wait_err("sent end-call")  # the call is in its end wait
            first, *second = case.signals
            sent = time.monotonic()
            daemon.send(first)
            if case.moment == "ending" and not case.ctl_end:
                daemon.wait_err(f"{first.name}: stopping")
                daemon.wait_err("sent end-call")  # now waiting for Vapi's `ended`
                time.sleep(0.3)
                assert daemon.alive(), "the first signal waits for the end"
            if second:
                sent = time.monotonic()
                daemon.send(second[0])
            if HUP in case.signals:
                time.sleep(1.0)
                assert daemon.alive(), "SIGHUP ended the daemon"
                # once mode (the harness's): it exits after this call, nothing to re-read
                assert "reload ignored: the daemon is in once mode" in daemon.err
            if case.moment == "creating" and HUP in case.signals:
                daemon.send(TERM)  # the only way it ends: a held POST goes on for a minute
            result = daemon.wait(30)
            took = time.monotonic() - sent
            if case.moment == "ending" and result.code == 0:  # its end-call went down a dead
                (report,) = sim.calls()  # socket: ended through the controlUrl, else Vapi
                # would bill it to maxDurationSeconds (60 s here; in progress before)
                assert report["status"] == "ended" and [
                    (m["source"], m["message"].get("type"))
                    for m in report["messagesReceived"]][-1] == ("control", "end-call"), report
        finally:
            daemon.close()
            if ctl is not None:
                ctl.kill()
                ctl.wait(5)
        print(f"\n{case.moment} {'+'.join(s.name for s in case.signals)}: exit {result.code} "
              f"{took:.1f} s after the last signal")
        assert result.code is not None, "the process did not exit within 30 s"
        assert_clean(result)
        assert result.code == case.code, result.err
        check_files(case, d, result)
        return result


def check_files(case: SignalCase, d: Any, result: Result) -> None:
    wavs = recordings(d)
    if case.moment == "creating":
        assert wavs == [], "no call was created, so nothing was recorded"
        return
    if case.moment == "connecting" and HUP not in case.signals:  # said, not "ended"
        assert "ended: stopped-while-connecting after" in result.out, result.out
        # Vapi holds such a call, queued, ~20 s (its controlUrl refuses to end it): its full
        # id opens its socket meanwhile, so the summary (the journal) names it by its tail
        assert re.search(r"^call …[0-9a-f]{8} ended: stopped-while-connecting after",
                         result.out, re.M) and not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-",
                                                             result.out + result.err), result.out
        assert "stopped before its socket connected" in result.err, result.err
        # nothing was sent or heard: no empty recording is left (a 0.0 s WAV was), and
        # that is said
        assert wavs == [] and list(d.glob("rec-*")) == [], list(d.glob("rec-*"))
        assert "no recording was made: the call ended before it connected" in result.err
        assert "recording finished" not in result.err, result.err
        return
    assert len(wavs) == 1, wavs
    rec = check_recording(wavs[0], want_audio=case.moment != "connecting"
                          or HUP in case.signals)
    if case.code == 0 and case.moment == "mid-call":
        reason = "exceeded-max-duration" if HUP in case.signals else "customer-ended-call"
        assert f"ended: {reason} after" in result.out, result.out
    if case.code == 0:
        assert "recording finished" in result.err, "the recording was closed properly"
    else:  # exited at once: the JSONL still ends with the call's line
        # (was silent); "without the call's summary" only when none was printed: on a loaded
        # machine the end may have come, its summary said, before the second signal
        lost = "" if re.search(r"^call \S+ ended: ", result.out, re.M) else \
            ", without the call's summary"
        assert f"{case.signals[-1].name} again while stopping: exiting at once{lost} (exit " \
            f"{case.code})" in result.err, (result.out, result.err)
        assert rec.ended is not None and len(str(rec.ended["callId"])) > 8, rec.ended
    print(f"  recording: {rec.seconds:.2f} s, {len(rec.transcript)} transcript lines")


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest) -> Iterator[dict[str, Future[Result]]]:
    names = selected_params(request, "name")
    with parallel({n: partial(run_case, CASES[n]) for n in names}) as futures:
        yield futures


@pytest.mark.parametrize("name", list(CASES))
def test_signal_at_each_moment(outcomes: dict[str, Future[Result]], name: str) -> None:
    outcomes[name].result(timeout=280)
