"""Server → client JSON events, in the flat shapes Vapi sends on the call socket."""

from __future__ import annotations

import time
from typing import Any

from bridge.sim import schema

Event = dict[str, Any]
ASSISTANT_NAME = "vapi-bridge-sim"


def status_update(status: str, ended_reason: str | None = None) -> Event:
    ev: Event = {"type": "status-update", "status": status}
    if ended_reason is not None:
        ev["endedReason"] = ended_reason
    return ev


def speech_update(status: str, role: str, turn: int) -> Event:
    return {"type": "speech-update", "status": status, "role": role, "turn": turn}


def transcript(role: str, kind: str, text: str, assistant_id: str | None = None) -> Event:
    ev: Event = {"type": "transcript", "role": role, "transcriptType": kind, "transcript": text}
    if role == "assistant":
        ev["assistantId"] = assistant_id or "sim-assistant"
        ev["assistantName"] = ASSISTANT_NAME
    return ev


def conversation_update(conversation: list[dict[str, Any]], spec_shape: bool = False) -> Event:
    items = [dict(m) for m in conversation]
    if spec_shape:
        return {
            "type": "conversation-update",
            "messages": [
                {
                    "role": "bot" if m["role"] == "assistant" else m["role"],
                    "message": m.get("content", ""),
                }
                for m in items
            ],
        }
    return {"type": "conversation-update", "conversation": items}


def model_output(output: str, turn_id: str) -> Event:
    return {"type": "model-output", "output": output, "turnId": turn_id}


def voice_input(text: str, turn: int) -> Event:
    return {"type": "voice-input", "input": text, "turn": turn}


def user_interrupted(turn_id: str | None) -> Event:
    """`turnId` is optional in Vapi's schema: None leaves it out."""
    return {"type": "user-interrupted"} if turn_id is None else \
        {"type": "user-interrupted", "turnId": turn_id}


def speech_started(text: str, turn: int, source: str) -> Event:
    """``assistant.speechStarted`` (opt-in): the turn's full text as its audio starts."""
    return {"type": "assistant.speechStarted", "text": text, "turn": turn, "source": source}


def hang() -> Event:
    return {"type": "hang"}


def tool_calls(call_id: str, name: str, arguments: dict[str, Any]) -> Event:
    """``tool-calls`` for a tool without a server URL (a client-side tool): both lists, as
    ClientMessageToolCalls has them; Vapi takes no result back."""
    call = {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": arguments}}
    return {"type": "tool-calls", "toolCallList": [call], "toolWithToolCallList": [
        {"type": "function", "function": {"name": name}, "toolCall": call}]}


def transfer_update(destination: Any) -> Event:
    return {"type": "transfer-update", "destination": destination}


FINAL_TYPE = 'transcript[transcriptType="final"]'


# a message type whose `clientMessages` value differs: the enum has `language-changed`, the
# message (ClientMessageLanguageChangeDetected) is typed `language-change-detected`
ENUM_VALUE = {"language-change-detected": "language-changed"}


def allowed(event: Event, client_messages: list[str] | None) -> bool:
    """Apply ``clientMessages`` (validated against the schema's enum on create); None is
    the schema's default list, which leaves out the opt-in ``assistant.speechStarted``."""
    wanted = schema.defaults("clientMessages") if client_messages is None else client_messages
    kind = event.get("type")
    return ENUM_VALUE.get(kind, kind) in wanted if isinstance(kind, str) else False


def decorate(event: Event, call_id: str, *, spec_shapes: bool, wrapped: bool,
             bracketed: bool = False) -> Event:
    """Fault variants: add timestamp/call (spec shapes) and/or wrap as a webhook message;
    a final transcript typed as the schema's other form (`bracketed`), which
    `ClientMessageTranscript.type` allows: ``transcript[transcriptType="final"]``."""
    out = dict(event)
    if bracketed and out.get("type") == "transcript" and out.get("transcriptType") == "final":
        out["type"] = FINAL_TYPE
    if spec_shapes:
        out["timestamp"] = int(time.time() * 1000)
        out["call"] = {"id": call_id, "type": "vapi.websocketCall"}
    return {"message": out} if wrapped else out


MALFORMED_FRAMES = (
    "{not json",
    '{"type": "sim-unknown-event", "payload": {"x": 1}}',
    "[]",
    '"just a string"',
    "null",
    '{"type": 42}',
    "{}",
    '{"type": "metadata", "metadata": {"sim": true}}',
    '{"type": "transcript", "role": "user"}',
    "",
)
