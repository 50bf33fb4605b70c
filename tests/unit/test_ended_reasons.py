"""Every `endedReason` of Vapi's published schema (595, `ServerMessageStatusUpdate`, in the
simulator's copy: `bridge/sim/vapi_schema.json`) has its exit code and its words: a reason
the schema adds that ends the call as a failure on Vapi's side, or as a transfer that did
not go through, is reviewed here (the lists below), not found on a kiosk."""

from __future__ import annotations

import pytest

from bridge.call.ended_words import failed_on_vapis_side, transfer_failure
from bridge.call.summary import CallSummary
from bridge.errors import ExitCode
from bridge.sim import schema

REASONS = schema.enum("endedReason")
# the reasons that exit 0: the call ended as calls do (someone hung up, a limit, a hook, a
# voicemail, a transfer that went through or did not: neither the kiosk's link nor Vapi)
ENDED_AS_CALLS_DO = {
    "scheduled-call-deleted", "vonage-completed", "call-deleted", "manually-canceled",
    "phone-call-provider-bypass-enabled-but-no-call-received", "voicemail",
    "call.in-progress.twilio-completed-call", "call.in-progress.sip-completed-call",
    "assistant-ended-call", "assistant-said-end-call-phrase",
    "assistant-ended-call-with-hangup-task", "assistant-ended-call-after-message-spoken",
    "assistant-forwarded-call", "customer-busy", "customer-ended-call",
    "customer-ended-call-before-warm-transfer", "customer-ended-call-after-warm-transfer-attempt",
    "customer-ended-call-during-transfer", "customer-did-not-answer",
    "customer-did-not-give-microphone-permission", "exceeded-max-duration",
    "silence-timed-out", "call.ringing.hook-executed-say", "call.ringing.hook-executed-transfer",
    "call.ending.hook-executed-say", "call.ending.hook-executed-transfer",
    "call.ringing.sip-inbound-caller-hungup-before-call-connect",
    "twilio-reported-customer-misdialed", "vonage-rejected",
    # a transfer that failed: said as one (below)
    "call.in-progress.error-transfer-failed", "call.in-progress.error-warm-transfer-max-duration",
    "call.in-progress.error-warm-transfer-assistant-cancelled",
    "call.in-progress.error-warm-transfer-silence-timeout",
    "call.in-progress.error-warm-transfer-microphone-timeout",
    "call.forwarding.operator-busy", "call.forwarding.no-answer",
}
# the reasons a transfer under way can end with that say it failed: the transfer's own, and
# an outbound SIP leg's (on a websocket call only a transfer makes one)
TRANSFER_FAILURES = {r for r in REASONS if ("transfer" in r and ".error-" in r)
                     or r.startswith("call.forwarding.") or "outbound-sip-" in r
                     or "sip-outbound-" in r}


def outcome(reason: str) -> tuple[str, ExitCode]:
    summary = CallSummary(call_id="c", ended_reason=reason, duration_s=1.0)
    return summary.outcome, summary.exit_code


def test_the_schema_is_there_whole() -> None:
    assert len(set(REASONS)) >= 590  # (the enum lists 32 of them twice: 627 values)
    assert max(map(len, REASONS)) <= 160  # `messages.MAX_WORD`: none is cut


def test_each_reason_exits_as_listed() -> None:
    exits_0 = {r for r in REASONS if outcome(r) == ("ok", ExitCode.OK)}
    failed = {r for r in REASONS if outcome(r) == ("vapi-failed", ExitCode.NETWORK)}
    assert exits_0 | failed == set(REASONS)
    assert exits_0 == ENDED_AS_CALLS_DO & set(REASONS), (exits_0 ^ ENDED_AS_CALLS_DO)
    assert all(failed_on_vapis_side(r) for r in failed)


@pytest.mark.parametrize("reason", sorted(TRANSFER_FAILURES))
def test_a_transfer_that_failed_is_said_to_have(reason: str) -> None:
    """`call.forwarding.no-answer` (Vapi's default fallbackPlan ends the call when the
    destination does not answer) and an outbound SIP leg that never connected were not said
    at all, or as a provider's failure "in the assistant's configuration"."""
    words = transfer_failure(reason, transferring=True)
    assert words, reason
    assert "provider" not in words
