"""Client → server commands, from the call socket or ``POST /<id>/control``."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from bridge.sim import events as ev
from bridge.sim import schema_deep

if TYPE_CHECKING:
    from bridge.sim.port import CallPort

log = logging.getLogger("bridge.sim.commands")
COMMANDS = ("end-call", "hangup", "say", "add-message", "control", "transfer", "handoff")
CONTROLS = (
    "mute-assistant",
    "unmute-assistant",
    "mute-customer",
    "unmute-customer",
    "say-first-message",
)
ROLE_FOR_GET = {"assistant": "bot", "user": "user", "system": "system", "tool": "tool"}
# where each command may go, by `destination.type`: a client's transfer to a number or a
# SIP URI only (the schema's ClientInboundMessageTransfer), a handoff as HandoffTool's
DESTINATIONS = {
    "transfer": {"number": "TransferDestinationNumber", "sip": "TransferDestinationSip"},
    "handoff": {"assistant": "HandoffDestinationAssistant",
                "dynamic": "HandoffDestinationDynamic", "squad": "HandoffDestinationSquad"},
}
# the schema's boolean fields of each command (`"false"` is no boolean: Vapi refuses it)
BOOLEANS = {"say": ("endCallAfterSpoken", "interruptionsEnabled", "interruptAssistantEnabled"),
            "add-message": ("triggerResponseEnabled",)}
ACKNOWLEDGEMENT = "Okay, noted."
HANDOFF_LINE = "Hello, this is the next assistant. How can I help?"


def handle_text(s: CallPort, text: str) -> None:
    """A text frame on the call socket: record it, run it if it is a known command."""
    rec = s.rec
    at = rec.since_connect()
    try:
        msg = json.loads(text)
    except ValueError:
        rec.messages_received.append(
            {"at": at, "source": "socket", "raw": text[:4000], "error": "invalid JSON"}
        )
        log.warning("call %s: client sent invalid JSON (%d chars), ignored", rec.id, len(text))
        return
    rec.messages_received.append({"at": at, "source": "socket", "message": msg})
    problem = validate(msg)
    if problem:
        log.warning("call %s: client message ignored: %s", rec.id, problem)
        return
    run(s, msg)


def validate(msg: Any) -> str | None:
    """Why a command is not acceptable, or None."""
    if not isinstance(msg, dict):
        return "message must be a JSON object"
    kind = msg.get("type")
    if kind not in COMMANDS:
        return f"unknown message type {kind!r}"
    for key in BOOLEANS.get(kind, ()):
        if key in msg and not isinstance(msg[key], bool):
            return f"{key} must be a boolean value"
    if kind == "say" and not isinstance(msg.get("content", msg.get("message")), str):
        return "say needs a 'content' string"
    if kind == "add-message":
        m = msg.get("message")
        if (
            not isinstance(m, dict)
            or not isinstance(m.get("content"), str)
            or m.get("role") not in ROLE_FOR_GET
        ):
            return "add-message needs message: {role, content}"
    if kind == "control" and msg.get("control") not in CONTROLS:
        return f"unknown control {msg.get('control')!r}"
    if kind in DESTINATIONS:
        return _destination_problem(kind, msg.get("destination"))
    return None


def _destination_problem(kind: str, dest: Any) -> str | None:
    """Why a transfer's or handoff's destination is not one Vapi's schema takes, or None."""
    if not isinstance(dest, dict):
        return f"{kind} needs a destination object"
    forms = DESTINATIONS[kind]
    if dest.get("type") not in forms:
        return f"destination.type must be one of the following values: {', '.join(forms)}"
    errors = schema_deep.component_errors(dest, forms[dest["type"]], "destination")
    return "; ".join(errors[:5]) or None


def run(s: CallPort, msg: dict[str, Any], via: str = "socket") -> None:
    """Execute a validated command on a live call (``via`` "socket" or "control")."""
    kind = msg["type"]
    log.info("call %s: command %s", s.rec.id, kind if kind != "control" else msg["control"])
    if kind in ("end-call", "hangup"):
        s.end("customer-ended-call")
    elif kind == "say":
        if msg.get("interruptAssistantEnabled") and s.mouth.busy:  # "replace existing
            s.voice.interrupt(only_interruptible=False)  # assistant speech" (the schema):
            # a line the visitor may not cut too (the first message, a say)
        s.say(
            str(msg.get("content", msg.get("message"))),
            from_model=False,
            interruptible=bool(msg.get("interruptionsEnabled", True)),
            after="assistant-ended-call-after-message-spoken"
            if msg.get("endCallAfterSpoken")
            else None,
            source="force-say" if via == "socket" else None,  # no speechStarted via control
        )
    elif kind == "add-message":
        m = msg["message"]
        s.rec.conversation.append({"role": m["role"], "content": m["content"]})
        s.rec.add_message(ROLE_FOR_GET[m["role"]], m["content"], time.time())
        s.emit_conversation()
        if msg.get("triggerResponseEnabled", True):
            s.say(ACKNOWLEDGEMENT)
    elif kind == "control":
        _control(s, msg["control"])
    elif kind == "transfer":
        content = msg.get("content") or msg.get("message")
        if isinstance(content, str) and content:
            s.say(
                content,
                from_model=False,
                interruptible=False,
                after="transfer",
                destination=msg["destination"],
            )
        else:
            s.spawn(do_transfer(s, msg["destination"]))
    elif kind == "handoff":
        s.rec.handoffs.append(
            {
                "at": s.rec.since_connect(),
                "destination": msg["destination"],
                "content": msg.get("content"),
            }
        )
        s.voice.interrupt()
        content = msg.get("content")
        s.say(content if isinstance(content, str) and content else HANDOFF_LINE, from_model=False)


def _control(s: CallPort, control: str) -> None:
    if control == "mute-assistant":
        s.mouth.muted = True
    elif control == "unmute-assistant":
        s.mouth.muted = False
    elif control == "mute-customer":
        s.customer_muted = True
    elif control == "unmute-customer":
        s.customer_muted = False
    elif control == "say-first-message":
        s.say(
            s.assistant.first_message_text(s, for_command=True) or "",
            from_model=False,
            interruptible=s.rec.options.first_message_interruptions,
        )


TRANSFER_FAILED = "call.in-progress.error-transfer-failed"  # Vapi's reason (its docs)


async def do_transfer(s: CallPort, destination: Any) -> None:
    s.emit(ev.transfer_update(destination))
    if (fault := s.rec.faults.get("transfer-fails")) is not None:  # the destination did
        await asyncio.sleep(0.3)  # not take it: Vapi's default fallbackPlan ends the call
        log.info("call %s: fault transfer-fails: the transfer failed", s.rec.id)
        s.end(fault.arg or TRANSFER_FAILED)
        return
    s.rec.status = "forwarding"
    s.emit(ev.status_update("forwarding"))
    await asyncio.sleep(0.3)
    s.end("assistant-forwarded-call")
