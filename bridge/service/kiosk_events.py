"""A call's Vapi messages as kiosk events (`bridge.events`): who is speaking, interruptions,
stalls, transcripts, captions, transfers and client-side tool calls. The daemon publishes the call's
life (triggered, connecting, in-call, ended) itself, and an error with `publish_error` (its
`cause` from `error_cause`)."""

from __future__ import annotations

import re

from bridge import events
from bridge.errors import (
    ApiRequestError,
    AudioDeviceError,
    AudioFileError,
    AuthError,
    BridgeError,
    NetworkError,
    VapiFailing,
)
from bridge.events import EventBus
from bridge.service.placing import EventHook
from bridge.vapi import messages

SPEECH = {("assistant", "started"): events.ASSISTANT_SPEAKING,
          ("assistant", "stopped"): events.ASSISTANT_SILENT,
          ("user", "started"): events.VISITOR_SPEAKING,
          ("user", "stopped"): events.VISITOR_SILENT}
ROLES = {"assistant": "assistant", "user": "visitor"}


def publisher(bus: EventBus) -> EventHook:
    """The event hook that publishes a call's Vapi messages on `bus`."""

    def publish(event: messages.Event) -> None:
        if isinstance(event, messages.SpeechUpdate):
            kind = SPEECH.get((event.role, event.status))
            if kind:
                bus.publish(kind, turn=event.turn)
        elif isinstance(event, messages.UserInterrupted):
            bus.publish(events.INTERRUPTED)
        elif isinstance(event, messages.Hang):
            bus.publish(events.HANG)
        elif isinstance(event, messages.Transcript) and event.text:
            bus.publish(events.TRANSCRIPT, role=ROLES.get(event.role, "other"),
                        text=event.text, final=event.final)
        elif isinstance(event, messages.AssistantSpeechStarted) and event.text:
            bus.publish(events.CAPTION, text=event.text, turn=event.turn)
        elif isinstance(event, messages.TransferUpdate):
            bus.publish(events.TRANSFER, destination=event.destination, to=event.to)
        elif isinstance(event, messages.ToolCalls):
            for call in event.calls:
                bus.publish(events.TOOL_CALL, name=call.name, arguments=call.arguments,
                            id=call.id)

    return publish


# AuthError's messages for 402 and 403 (bridge/vapi/api.py), read from their start (the
# server's own text comes later in them): the account, not the request
PAYMENT = re.compile(r"Vapi refused [^(]* for billing \(402\)|Vapi's front end blocked this "
                     r"client \(403")


def publish_error(bus: EventBus, exc: BridgeError) -> None:
    """The `error` event of a call that could not be placed."""
    bus.publish(events.ERROR, message=str(exc), exit=int(exc.exit_code), cause=error_cause(exc))


def error_cause(exc: BridgeError) -> str:
    """Why a call could not be placed, for an `error` event: network (unreachable, retries
    exhausted), vapi (reached, but failing: 5xx or 429 through the retries), payment (402
    billing, 403 blocked), refused (another refusal: the key, the request), device (the
    microphone or speaker missing as the call was to be placed), or other (the record
    directory, …)."""
    if isinstance(exc, VapiFailing):
        return "vapi"  # reached, answering 5xx or 429: an alert on `network` is not for it
    if isinstance(exc, NetworkError):
        return "network"
    if isinstance(exc, AudioDeviceError) and not isinstance(exc, AudioFileError):
        return "device"  # missing or failing as the call was to be placed
    if isinstance(exc, AuthError):
        return "payment" if PAYMENT.match(exc.message) else "refused"
    if isinstance(exc, ApiRequestError):
        return "refused"
    return "other"
