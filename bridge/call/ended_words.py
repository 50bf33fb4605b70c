"""Why a call ended, in words, where Vapi's `endedReason` alone does not tell an operator
what to do: our side never connected, Vapi heard no audio, Vapi's side failed, or a
transfer failed. One warning line, logged once the call's reason is known (`summary`).

A transfer's failure (`ctl transfer`, the model's transferCall) ends the call with
Vapi's default fallbackPlan (`endCallEnabled: true`). Its reasons, from Vapi's "call ended
reasons" and "troubleshoot call errors" pages, start `call.in-progress.error-` like a
provider's failure: they were logged as one ("a provider's key, quota or outage, the
assistant's configuration"), which sent the operator to the wrong place. The reason is
server text, inert and bounded before it reaches here (`bridge.vapi.messages`,
`summary.outcome`); the destination is the `transfer-update`'s, inert too.
"""

from __future__ import annotations

import logging
import re

log = logging.getLogger("bridge.call")

# Vapi's reasons for a call that failed on its side (`endedReason` in its schema): once in
# progress (its worker died, a provider failed: `call.in-progress.error-…`, and the older
# `pipeline-error-…`), or at the start (`call.start.error-…`; an assistant missing, invalid,
# or not returned by its server). To the visitor, as to `connection-lost`, the call dropped
# or never came: exit 5, the offline line, `loop` backs off. Also a socket Vapi says closed
# mid-call (`phone-call-provider-closed-websocket`: "call dropped mid-conversation" in its
# docs), any other `call.start.` reason (`call.start.assistant-version-error-validation`),
# and a call a telephony provider failed to connect or disconnected
FAILED_ON_VAPIS_SIDE = (
    "call.in-progress.error-", "pipeline-error-", "call.start.", "call-start-error-",
    "assistant-request-failed", "assistant-request-returned-", "assistant-not-found",
    "assistant-not-valid", "assistant-join-timed-out", "worker-shutdown",
    "phone-call-provider-closed-websocket", "twilio-failed-to-connect-call",
    "vonage-failed-to-connect-call", "vonage-disconnected", "call.ringing.error-")
NO_CUSTOMER_AUDIO = "did-not-receive-customer-audio"  # the kiosk's side, not Vapi's

# a transfer's failure: what Vapi's troubleshooting page says of it, and its fix
TRANSFER_FAILED = {
    "call.in-progress.error-transfer-failed":
        "Vapi could not transfer the call: check that the destination is right and reachable",
    "call.in-progress.error-warm-transfer-max-duration":
        "the warm transfer took longer than its maximum: is the destination answering? "
        "(or raise the transfer's timeout)",
    "call.in-progress.error-warm-transfer-assistant-cancelled":
        "the transfer assistant cancelled the warm transfer: check its configuration",
    "call.in-progress.error-warm-transfer-silence-timeout":
        "the destination was silent during the warm transfer: is it answering with audio?",
    "call.in-progress.error-warm-transfer-microphone-timeout":
        "the destination's audio timed out during the warm transfer: check its audio path",
    "call.forwarding.operator-busy": "the destination was busy",
    "call.forwarding.no-answer": "the destination did not answer",
}
# a SIP destination's refusal, as Vapi names it (`…-outbound-sip-480-temporarily-unavailable`)
SIP_REFUSAL = re.compile(r"outbound-sip-(\d{3})-([a-z-]+)$")
# an outbound SIP leg that never connected: on a websocket call, only a transfer's
SIP_NOT_CONNECTED = "call.in-progress.error-sip-outbound-call-failed-to-connect"


def failed_on_vapis_side(reason: str) -> bool:
    """Vapi's side failed: not a transfer that failed (the destination did not take the
    call: neither the kiosk's link nor Vapi is at fault, so no exit 5, no `loop` backoff)."""
    return reason.startswith(FAILED_ON_VAPIS_SIDE) and reason not in TRANSFER_FAILED


def transfer_failure(reason: str, transferring: bool) -> str | None:
    """What went wrong with a transfer, in words, when `reason` says one failed (or, a
    transfer under way, a SIP destination refused it); else None."""
    if reason in TRANSFER_FAILED:
        return TRANSFER_FAILED[reason]
    if transferring and reason == SIP_NOT_CONNECTED:
        return ("Vapi could not connect the SIP call to the destination: check the SIP trunk "
                "and the destination")
    sip = SIP_REFUSAL.search(reason) if transferring else None
    if sip is not None:
        return (f"the SIP destination answered {sip[1]} {sip[2].replace('-', ' ')}: check "
                f"the SIP trunk and the destination")
    return None


def explain(label: str, reason: str, transfer: str | None) -> None:
    """The warning for a call that ended for `reason` (none for an ordinary end).
    `transfer`: where Vapi said it was transferring the call (`transfer-update`), if it did."""
    if (words := transfer_failure(reason, transfer is not None)) is not None:
        log.warning("call %s: the transfer%s failed (%s): %s", label,
                    f" to {transfer}" if transfer else "", reason, words)
    elif reason.endswith("transport-never-connected"):  # our side did not connect: not a
        # provider's or the assistant's failure, whatever the reason's name
        log.warning("call %s: Vapi ended the call because its socket never connected (%s)",
                    label, reason)
    elif reason.endswith(NO_CUSTOMER_AUDIO):  # Vapi's docs: network, microphone, or gone
        log.warning("call %s: Vapi ended the call because it heard no audio from the kiosk "
                    "(%s): see the summary's microphone counters, `vapi-bridge devices` and "
                    "the network", label, reason)
    elif failed_on_vapis_side(reason):
        log.warning("call %s: the call failed on Vapi's side (%s): the call's logs in Vapi's "
                    "dashboard name the cause (a provider's key, quota or outage, the "
                    "assistant's configuration)", label, reason)
