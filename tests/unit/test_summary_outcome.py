"""How a call ended, as the exit code and the `ended` event's outcome say it (the kiosk's
offline line follows both failures; `loop` backs off on both)."""

from __future__ import annotations

import pytest

from bridge.call.summary import CallSummary
from bridge.errors import ExitCode


@pytest.mark.parametrize(("reason", "outcome", "code"), [
    ("customer-ended-call", "ok", ExitCode.OK),
    ("assistant-ended-call", "ok", ExitCode.OK),
    ("exceeded-max-duration", "ok", ExitCode.OK),
    ("assistant-forwarded-call", "ok", ExitCode.OK),
    ("connection-lost", "connection-lost", ExitCode.NETWORK),
    ("call.in-progress.error-vapifault-worker-died", "vapi-failed", ExitCode.NETWORK),
    ("pipeline-error-openai-llm-failed", "vapi-failed", ExitCode.NETWORK),
    ("call.start.error-get-assistant", "vapi-failed", ExitCode.NETWORK),
    ("call-start-error-neither-assistant-nor-server-set", "vapi-failed", ExitCode.NETWORK),
    ("assistant-request-returned-error", "vapi-failed", ExitCode.NETWORK),
    ("assistant-not-found", "vapi-failed", ExitCode.NETWORK),
    ("worker-shutdown", "vapi-failed", ExitCode.NETWORK),
    # "call dropped mid-conversation" in Vapi's docs; a call that never started
    ("phone-call-provider-closed-websocket", "vapi-failed", ExitCode.NETWORK),
    ("call.start.assistant-version-error-validation", "vapi-failed", ExitCode.NETWORK),
    ("call.in-progress.error-assistant-did-not-receive-customer-audio", "vapi-failed",
     ExitCode.NETWORK),
    ("customer-did-not-give-microphone-permission", "ok", ExitCode.OK),
])
def test_vapi_s_failures_are_told_from_ours_and_from_a_normal_end(
        reason: str, outcome: str, code: ExitCode) -> None:
    summary = CallSummary(call_id="c", ended_reason=reason, duration_s=1.0)
    assert (summary.outcome, summary.exit_code) == (outcome, code)


def test_a_device_failure_outranks_the_reason() -> None:
    summary = CallSummary(call_id="c", ended_reason="output device failed",
                          duration_s=1.0, device_error="output device failed")
    assert (summary.outcome, summary.exit_code) == ("device-failed", ExitCode.AUDIO)


def test_the_summary_says_whether_a_recording_never_started_or_stopped_early() -> None:
    """A disk full before the call: no file was left, and the summary said "recording
    incomplete (PATH: …)", naming a file that does not exist."""
    never = CallSummary(call_id="c", ended_reason="customer-ended-call", duration_s=1.0,
                        recording_error="/r/x.wav: No space left on device",
                        recording_started=False)
    assert never.line().endswith("; recording not started (/r/x.wav: No space left on device)")
    cut = CallSummary(call_id="c", ended_reason="customer-ended-call", duration_s=1.0,
                      recording_error="/r/x.wav: No space left on device")
    assert cut.line().endswith("; recording incomplete (/r/x.wav: No space left on device)")


def test_the_summary_says_the_microphone_audio_the_uplink_dropped() -> None:
    """The uplink drops what it could not send in time (the loop held up over 2 s by a flood of
    tiny frames); before, only the playout's drops were said, and a visitor's lost words
    showed nowhere but in a shorter `sent`."""
    from bridge.call.uplink import UplinkStats

    held = CallSummary(call_id="c", ended_reason="customer-ended-call", duration_s=12.8,
                       uplink=UplinkStats(frames_sent=610, dropped_ms=440.0))
    assert "; sent 12.2 s (440 ms of the microphone dropped: the bridge fell behind), " \
        "received" in held.line(), held.line()
    clean = CallSummary(call_id="c", ended_reason="customer-ended-call", duration_s=1.0)
    assert "microphone dropped" not in clean.line()


def test_a_lost_call_is_named_by_its_tail_in_the_summary() -> None:
    """Vapi may still run a lost call (its end through the controlUrl comes after the
    summary, and fails on a network that is down): its full id opens it, so the journal
    gets its last 8 characters; any other call's summary, the call over, the whole id."""
    call_id = "019a6f3e-2b7c-7d41-9c0e-5f1a9a3c1f07"
    lost = CallSummary(call_id=call_id, ended_reason="connection-lost", duration_s=9.5)
    assert lost.line().startswith("call …9a3c1f07 ended: connection-lost after 9.5 s")
    assert call_id not in lost.line()
    done = CallSummary(call_id=call_id, ended_reason="customer-ended-call", duration_s=9.5)
    assert done.line().startswith(f"call {call_id} ended: customer-ended-call")
    # ended by us on a dead link, Vapi not told (`ctl end`; the settler ends it later)
    left = CallSummary(call_id=call_id, ended_reason="ended", duration_s=6.0, left_open=True)
    assert left.line().startswith("call …9a3c1f07 ended: ended after 6.0 s"), left.line()
