"""Issue 8's fault matrix: every fault kind through the real `vapi-bridge run` process
against the simulator.

Each case asserts what the user reads (one line, no traceback), the exit code (`once`
mode) or what the daemon does next (`loop` mode, seen through its notify socket), and —
when a call was created — that its recording is a valid stereo WAV whose header agrees
with its size and whose JSONL parses. Cases run a few at a time (each has its own
simulator); the measured times are printed (`-s`), never asserted tightly.
"""

from __future__ import annotations

import signal
import socket
import time
import wave
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.faults.harness import (
    Daemon,
    Result,
    Sim,
    assert_clean,
    case_dir,
    check_recording,
    one_line_error,
    parallel,
    recordings,
    run_once,
    selected_params,
    write_profile,
)

pytestmark = pytest.mark.timeout(300)

REFUSED = "refused"  # base_url: a loopback port nobody listens on
CONNECTION_LOST = "connection lost"
NORMAL_END = "exceeded-max-duration"


@dataclass(frozen=True)
class Case:
    """One `once`-mode run with a fault."""

    fault: str | None
    code: int
    words: str  # what the user reads: the error line, else a log line or stdout
    reason: str | None = None  # the summary's ended reason (stdout), when a call ran
    call: bool = True  # a call was created: a recording must exist and be valid
    connected: bool = True  # ... its socket connected (else no recording is left)
    audio: bool = True  # ... and hold audio
    profile: dict[str, Any] = field(default_factory=dict)
    sim: dict[str, Any] = field(default_factory=dict)
    base_url: str | None = None
    debug_words: str | None = None  # must appear with -v (the fault was really seen)
    never: str | None = None  # must not appear with -v
    max_seconds: float = 60.0  # a generous guard against a hang, never a performance bound
    longest: float | None = None  # the recording's length at most (s, on its own clock)
    ended_by_us: bool = False  # Vapi, which had not noticed the loss, was told to end it


FAST_FAIL = {"api": {"retry_attempts": 2, "timeout_seconds": 1}}

CASES: dict[str, Case] = {
    "http-400": Case("http-400", 2, "Vapi refused the call (400 Bad Request): simulated fault",
                     call=False),
    "http-401": Case("http-401", 3, "Vapi rejected the API key (401): Invalid Key", call=False),
    "http-402": Case("http-402", 3, "Vapi refused the call for billing (402)", call=False),
    "http-429-exhausted": Case("http-429", 5, "HTTP 429 rate limited after 2 attempts",
                               call=False),
    "http-500-exhausted": Case("http-500", 5, "kept failing to create the call: HTTP 500 "
                               "after 2 attempts — the fault is on Vapi's side, not the network",
                               call=False),
    "http-500-transient": Case("http-500=1", 0,
                               "HTTP 500; retrying (Vapi lists no call it created)",
                               reason=NORMAL_END),
    # the call is created but its answer is lost: found and used, never created twice
    "created-hang": Case("created-hang", 0, "timed out, but Vapi had created the call: using it",
                         reason=NORMAL_END, profile=FAST_FAIL, sim={"http_hang_seconds": 30}),
    "created-drop": Case("created-drop", 0, "connection lost (RemoteProtocolError), but Vapi "
                         "had created the call: using it", reason=NORMAL_END),
    "created-500": Case("created-500", 0, "HTTP 500, but Vapi had created the call: using it",
                        reason=NORMAL_END),
    "created-500-lookup-fails": Case("created-500", 5, "and Vapi could not be asked whether the "
                                     "call was created", call=False,
                                     sim={"faults": ("list-500",)}),
    "http-hang": Case("http-hang", 5, "to create the call: timed out after 2 attempts",
                      call=False, profile=FAST_FAIL),
    "connection-refused": Case(None, 5, "(nothing listens there) after 2 attempts",
                               call=False,
                               base_url=REFUSED),
    # Vapi then ends it as ...-vapifault-transport-never-connected: our side, not Vapi's
    "call-socket-refused": Case("connect-delay=600", 5, "cannot open the call socket "
                                "(InvalidStatus)", connected=False, audio=False,
                                sim={"never_connected_timeout": 0.3},
                                never="failed on Vapi's side"),
    # the socket aborted: Vapi's worker died (the call ended) or the network failed (the
    # call still in progress when the bridge asks)
    "ws-close-1006": Case("ws-close-1006=1.5", 5, "Vapi had ended the call (call.in-progress."
                          "error-vapifault-worker-died); its socket closed with code 1006",
                          reason="call.in-progress.error-vapifault-worker-died"),
    # ... and, as Vapi would bill it until it noticed, ended through the controlUrl
    "ws-close-1006-in-progress": Case(
        "ws-close-1006=1.5@10", 5, "connection lost (socket closed with code 1006; Vapi says "
        "the call is in-progress)", reason="connection-lost", ended_by_us=True),
    # Vapi noticed first, and ended the call as the customer's: still our loss
    "ws-close-1006-noticed": Case(
        "ws-close-1006=1.5@0.001", 5, "connection lost (socket closed with code 1006; Vapi "
        "then ended the call as customer-ended-call)", reason="connection-lost"),
    # Vapi's side failed (a provider, at the start): the call dropped or never came
    "vapi-error-pipeline": Case(
        "vapi-error=pipeline-error-openai-llm-failed@1.5", 5,
        "the call failed on Vapi's side (pipeline-error-openai-llm-failed)",
        reason="pipeline-error-openai-llm-failed"),
    "vapi-error-start": Case(
        "vapi-error=call.start.error-get-assistant@0", 5,
        "the call failed on Vapi's side (call.start.error-get-assistant)",
        reason="call.start.error-get-assistant", audio=False),
    # a reason that is not a failure stays exit 0
    "vapi-ends-normally": Case("vapi-error=assistant-ended-call@1.5", 0, "assistant: Hello.",
                               reason="assistant-ended-call", never="failed on Vapi's side"),
    # dead: no audio, no events, no pongs (Vapi's REST API still says the call is in
    # progress): 1.5 s in, a ping at 2 s of nothing, no pong in 6 s, the call lost, and
    # ended through its controlUrl (Vapi would bill it until it noticed at 25 s)
    "ws-drop": Case("ws-drop=1.5@25", 5, "and no answer to a ping within 6 s)",
                    reason="connection-lost", max_seconds=30, longest=1.5 + 2 + 6 + 3,
                    ended_by_us=True,
                    profile={"assistant": {"overrides": {"maxDurationSeconds": 40}}}),
    # a 3 s stall the call lives through (its ping answered), then the link dies at 10 s:
    # found as fast as the first time (the probe ran once per call: 24.7 s)
    "stall-then-drop": Case("stall=3000@2,ws-drop=10@25", 5, "and no answer to a ping "
                            "within 6 s)", reason="connection-lost", max_seconds=40,
                            longest=10 + 2 + 6 + 3, ended_by_us=True,
                            profile={"assistant": {"overrides": {"maxDurationSeconds": 40}}}),
    # quiet but alive: 12 s with nothing at all (a server that sends no near-silence); Vapi
    # says the call goes on, so it does, to its normal end
    "quiet-12s": Case("stall=12000@1", 0, "nothing received for 8 s, but Vapi says the call "
                      "is in-progress: going on", reason=NORMAL_END, never=CONNECTION_LOST,
                      profile={"assistant": {"overrides": {"maxDurationSeconds": 16}}}),
    # Vapi ends the call and leaves its socket open: closed from here after
    # call.end_timeout_seconds (2 s), as after our own end-call (8.4 s before, on silence)
    "end-left-open": Case("end-close=0", 0, "assistant: Hello.", reason=NORMAL_END,
                          never=CONNECTION_LOST, longest=3 + 2 + 1.5),
    "malformed-json": Case("malformed-json=0.3", 0, "assistant: Hello.", reason=NORMAL_END,
                           debug_words="ignored a malformed message"),
    "odd-binary": Case("odd-binary", 0, "assistant: Hello.", reason=NORMAL_END),
    "stall": Case("stall=1500@0.5", 0, "assistant: Hello.", reason=NORMAL_END),
    "burst": Case("burst=0.5", 0, "assistant: Hello.", reason=NORMAL_END),
    "jitter": Case("jitter=80", 0, "assistant: Hello.", reason=NORMAL_END),
    "delay-in-progress": Case("delay-in-progress=700", 0, "assistant: Hello.",
                              reason=NORMAL_END),
    "connect-delay": Case("connect-delay=1500", 0, "assistant: Hello.", reason=NORMAL_END),
    "end-close-1006": Case("end-close=1006", 0, "assistant: Hello.", reason=NORMAL_END,
                           never=CONNECTION_LOST),
    "end-close-1005": Case("end-close=1005", 0, "assistant: Hello.", reason=NORMAL_END,
                           never=CONNECTION_LOST),
    # a call whose clientMessages leave status-update out: the close is all the bridge
    # gets, so it asks Vapi how the call ended (GET /call) before calling it lost
    "end-close-1006-no-status-update": Case(
        "end-close=1006", 0, "assistant: Hello.", reason=NORMAL_END, never=CONNECTION_LOST,
        debug_words="Vapi had ended the call (exceeded-max-duration); its socket closed "
                    "with code 1006",
        profile={"assistant": {"overrides": {"clientMessages": [
            "transcript", "speech-update", "user-interrupted"]}}}),
    "wrapped-events": Case("wrapped-events", 0, "assistant: Hello.", reason=NORMAL_END,
                           never="malformed"),
    "spec-shapes": Case("spec-shapes", 0, "assistant: Hello.", reason=NORMAL_END,
                        never="malformed"),
    "hostile-text": Case("hostile-text=0.3", 0, "assistant: Your table is ready \\ud83c",
                         reason=NORMAL_END, debug_words="nested 5001 deep",
                         never="\x1b"),
    "created-hostile-id": Case("created-hostile-id", 2, "Vapi's answer to POST /call had an "
                               "id of 55 characters that is not a call id — is api.base_url "
                               "a Vapi API?", call=False, never="\x1b"),
    # what Vapi's schema and account refuse, as the simulator now does
    "schema-unknown-override": Case(None, 2, "assistant.overrides.silenceTimeout is no key "
                                    "Vapi takes", call=False, profile={"assistant": {
                                        "overrides": {"silenceTimeout": 30}}}),
    "unknown-assistant": Case(None, 2, "Couldn't Get Assistant. `assistantId` "
                              "3f1c9a52-8d2e-4b7a-9c11-5e0d2a7b6f43 Does Not Exist.",
                              call=False, profile={"assistant": {
                                  "id": "3f1c9a52-8d2e-4b7a-9c11-5e0d2a7b6f43"}}),
}


@dataclass(frozen=True)
class LoopCase:
    """A `loop`-mode daemon with the fault on every call."""

    fault: str | None
    words: str  # on stderr
    carries_on: bool = True  # a second call is placed; else the daemon exits with `code`
    code: int = 0
    recorded: bool = True
    profile: dict[str, Any] = field(default_factory=dict)
    base_url: str | None = None


LOOP: dict[str, LoopCase] = {
    "loop-http-401": LoopCase("http-401", "Vapi rejected the API key (401)", carries_on=False,
                              code=3, recorded=False),
    # a front end blocking this client (Cloudflare's 1010): every call would be refused
    # the same way, so the daemon stops as for a refused key (exit 3), not trying each 30 s
    "loop-http-403": LoopCase("http-403", "Vapi's front end blocked this client (403: error "
                              "code: 1010)", carries_on=False, code=3, recorded=False),
    "loop-http-429": LoopCase("http-429", "HTTP 429 rate limited after 2 attempts",
                              recorded=False),
    "loop-http-500": LoopCase("http-500", "HTTP 500 after 2 attempts", recorded=False),
    "loop-http-hang": LoopCase("http-hang", "timed out after 2 attempts", recorded=False,
                               profile=FAST_FAIL),
    "loop-connection-refused": LoopCase(None, "connection refused by 127.0.0.1:",
                                        recorded=False, base_url=REFUSED),
    "loop-ws-close-1006": LoopCase("ws-close-1006=1@10", "connection lost (socket closed with "
                                   "code 1006; Vapi says the call is in-progress)"),
    "loop-vapi-error": LoopCase("vapi-error=pipeline-error-openai-llm-failed@1",
                                "the call failed on Vapi's side (pipeline-error-openai-llm-"
                                "failed)"),
    "loop-end-close-1006": LoopCase("end-close=1006", "ended (exceeded-max-duration)"),
}


@dataclass
class Outcome:
    result: Result
    recordings: list[float] = field(default_factory=list)  # seconds of each


def closed_port() -> socket.socket:
    """A loopback port bound but not listening: connecting to it is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def right_channel(wav: Path) -> np.ndarray:
    with wave.open(str(wav), "rb") as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return data.reshape(-1, 2)[:, 1]


def run_case(case: Case) -> Outcome:
    with Sim(**case.sim) as sim, case_dir() as d:
        blocker = closed_port()
        base = case.base_url or sim.base_url
        if base == REFUSED:
            base = f"http://127.0.0.1:{blocker.getsockname()[1]}"
        profile = write_profile(d, base, **case.profile)
        verbose = ["-v"] if case.debug_words or case.never else []  # -v shows debug detail
        args = verbose + (["--fault", case.fault] if case.fault else [])
        result = run_once(profile, *args, timeout=case.max_seconds + 30)
        blocker.close()
        print(f"\n{case.fault or base}: exit {result.code} after {result.seconds:.1f} s")
        assert_clean(result)
        assert result.code == case.code, result.err
        assert result.seconds < case.max_seconds, "a generous guard: the run must not hang"
        if case.code and case.reason is None:
            one_line_error(result, case.words)
        else:
            assert case.words in result.printed, result.printed
        if case.reason is not None:
            summary = [line for line in result.out.splitlines() if " ended: " in line]
            assert len(summary) == 1, result.out
            assert f"ended: {case.reason} after" in summary[0], summary
        if case.reason == "connection-lost":
            assert result.err.count(CONNECTION_LOST) == 1, "said once, in one line"
        if case.debug_words:
            assert case.debug_words in result.err, result.err
        if case.never:
            assert case.never not in result.printed, result.printed
        wavs = recordings(d)
        outcome = Outcome(result)
        created = [c["id"] for c in sim.get("/_sim/calls")["calls"]]
        if not case.call:
            assert wavs == [], "no call was connected, so nothing was recorded"
            lost = 1 if case.fault and case.fault.startswith("created-") else 0
            assert len(created) == lost, f"{len(created)} calls created, {lost} expected"
            return outcome
        assert len(created) == 1, f"exactly one call was created, not {len(created)}"
        if not case.connected:  # nothing was sent or heard: no empty file is left, said so
            assert list(d.glob("rec-*")) == [], list(d.glob("rec-*"))
            assert "no recording was made: the call ended before it connected" in result.err
            return outcome
        assert len(wavs) == 1, wavs
        assert created[0] in wavs[0].name, "the call the bridge used is the one created"
        rec = check_recording(wavs[0], want_audio=case.audio)
        outcome.recordings.append(rec.seconds)
        if case.longest is not None:
            assert rec.seconds <= case.longest, f"the call lasted {rec.seconds:.1f} s"
        if case.audio:
            heard = right_channel(wavs[0])
            assert int(np.abs(heard).max()) > 1000, "the assistant's line was recorded"
            assert float(np.median(np.abs(heard))) < 50, \
                "near-silence stayed near-silent (odd-length chunks decoded byte-aligned)"
        if case.ended_by_us:  # at once, not 10 s later when Vapi would have noticed
            (report,) = sim.calls()
            assert report["status"] == "ended", "the lost call was ended as the run exited"
            assert [(m["source"], m["message"].get("type")) for m in
                    report["messagesReceived"]][-1] == ("control", "end-call"), report
            assert "ended through its controlUrl, so that Vapi stops billing it" in result.err
        if case.reason == NORMAL_END:
            assert [t["text"] for t in rec.transcript][-1] == "Hello.", rec.transcript
            if not case.fault or not case.fault.startswith("hostile-text"):
                assert [t["text"] for t in rec.transcript] == ["Hello."], rec.transcript
            (report,) = sim.calls()
            assert report["endedReason"] == NORMAL_END
            assert rec.ended == {"callId": report["id"], "endedReason": NORMAL_END}, \
                "the JSONL ends with the call's full id, written once it was over"
            assert f"call {report['id']} ended: " in result.out, "the summary has the full id"
        return outcome


def run_loop_case(case: LoopCase) -> Outcome:
    with Sim() as sim, case_dir() as d:
        blocker = closed_port()
        base = case.base_url or sim.base_url
        if base == REFUSED:
            base = f"http://127.0.0.1:{blocker.getsockname()[1]}"
        profile = write_profile(d, base, service={"mode": "loop"}, **case.profile)
        daemon = Daemon(profile, d, *(["--fault", case.fault] if case.fault else []))
        try:
            if case.carries_on:
                daemon.notify.wait_for("STATUS=kiosk: calling", count=2, timeout=45)
                if case.recorded:  # stop once the second call is connected (a call stopped
                    # while connecting leaves no recording), its first frames sent
                    deadline = time.monotonic() + 20
                    while time.monotonic() < deadline and not (
                            len(calls := sim.calls()) >= 2 and calls[1]["status"] != "queued"):
                        time.sleep(0.05)
                    time.sleep(0.3)
                result = daemon.stop(signal.SIGTERM)
            else:
                result = daemon.wait(45)
        finally:
            daemon.close()
            blocker.close()
        statuses = [m for m in daemon.notify.messages if m.startswith("STATUS=")]
        print(f"\nloop {case.fault or base}: exit {result.code} after {result.seconds:.1f} s; "
              f"{statuses}")
        assert_clean(result)
        assert result.code == case.code, result.err
        if case.carries_on:
            first_next = next(i for i, s in enumerate(statuses) if "next call in" in s)
            assert any("calling" in s for s in statuses[first_next:]), \
                "after the first call ended, the daemon placed the next one"
            assert case.words in result.err, result.err
        else:
            one_line_error(result, case.words)
            assert daemon.notify.count("STATUS=kiosk: calling") == 1, "no retry of a refusal"
        wavs = recordings(d)
        outcome = Outcome(result)
        if not case.recorded:
            assert wavs == []
        else:
            assert len(wavs) >= 2, "each call has its own recording"
            first = check_recording(wavs[0])
            outcome.recordings = [first.seconds]
            for wav in wavs[1:]:  # the last one was stopped at any moment: valid, maybe empty
                outcome.recordings.append(check_recording(wav, want_audio=False).seconds)
        return outcome


@pytest.fixture(scope="module")
def matrix(request: pytest.FixtureRequest) -> Iterator[dict[str, Future[Outcome]]]:
    names = selected_params(request, "name")
    jobs = {n: partial(run_case, CASES[n]) for n in names if n in CASES}
    jobs.update({n: partial(run_loop_case, LOOP[n]) for n in names if n in LOOP})
    with parallel(jobs) as futures:
        yield futures


@pytest.mark.parametrize("name", list(CASES))
def test_once_mode(matrix: dict[str, Future[Outcome]], name: str) -> None:
    outcome = matrix[name].result(timeout=280)
    print(f"{name}: {outcome.result.seconds:.1f} s, recordings {outcome.recordings}")


@pytest.mark.parametrize("name", list(LOOP))
def test_loop_mode(matrix: dict[str, Future[Outcome]], name: str) -> None:
    outcome = matrix[name].result(timeout=280)
    print(f"{name}: {outcome.result.seconds:.1f} s, recordings {outcome.recordings}")


def test_the_matrix_covers_at_least_twelve_fault_kinds() -> None:
    kinds = {c.fault.split("=")[0] for c in CASES.values() if c.fault} | {REFUSED}
    assert len(kinds) >= 12, kinds
