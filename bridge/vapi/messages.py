"""Vapi call-socket JSON: server events in, client commands out.

`parse_event` never raises on what the server sends: an unknown type becomes an
`UnknownEvent`, and text that is not a JSON object — or is too big or too deeply nested to
take (`safejson`) — becomes a `MalformedEvent`, so a new or broken message can never end a
session. Webhook-style `{"message": {...}}` wrapping is accepted too.

Every string an event carries is bounded and inert (`bridge.inert`: controls, line breaks,
bidi overrides, lone surrogates escaped), secrets it echoes masked first (`bridge.redact`),
so whatever prints it — transcript, log, `ctl status`, event — prints one safe line; a
transcript's `exact` text, for the JSONL (which escapes it), is as sent but for secrets. A
value of the wrong type reads as empty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bridge import redact
from bridge.inert import inert
from bridge.vapi import safejson
from bridge.vapi.destinations import transfer_destination
from bridge.vapi.transfer_update import transfer_target

MAX_WORD = 160  # a type, status, role or ended reason (Vapi's longest reason is 121)
MAX_TEXT = 4000  # a transcript, printed
MAX_EXACT = 32_768  # a transcript kept exactly (about half an hour of speech)
MAX_TURN = 2**31
MAX_TOOL_CALLS = 16  # of one tool-calls message
FINAL = 'transcript[transcriptType="final"]'  # the schema's other type: a final transcript


@dataclass(frozen=True)
class Event:
    type: str
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class StatusUpdate(Event):
    status: str = ""
    ended_reason: str | None = None


@dataclass(frozen=True)
class SpeechUpdate(Event):
    status: str = ""  # started | stopped
    role: str = ""  # assistant | user
    turn: int | None = None


@dataclass(frozen=True)
class UserInterrupted(Event):
    turn_id: str | None = None


@dataclass(frozen=True)
class Transcript(Event):
    """`text` inert, for printing; `exact` as sent, cut to MAX_EXACT (`cut`): for the JSONL."""

    role: str = ""
    final: bool = False
    text: str = ""
    exact: str = ""
    cut: bool = False


@dataclass(frozen=True)
class AssistantSpeechStarted(Event):
    """`assistant.speechStarted` (opt-in through `clientMessages`): the full text of the
    assistant's turn as its audio starts, for captions. `source`: model, force-say or
    custom-voice; Vapi sends it once per TTS chunk, always with the whole turn's text."""

    text: str = ""
    turn: int | None = None
    source: str = ""


@dataclass(frozen=True)
class Hang(Event):
    """The assistant is stalled (slow model or tool). Not a hangup."""


@dataclass(frozen=True)
class ToolCall:
    """One call of a tool: its id, the function's name, and its arguments as JSON text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolCalls(Event):
    """`tool-calls`: the model called tools. Those without a server URL (client-side tools)
    are the client's to act on; Vapi takes no result back for them."""

    calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class TransferUpdate(Event):
    """`transfer-update`: Vapi is transferring the call. `destination`: its type (number,
    sip, assistant, step, …); `to`: the number, SIP URI, assistant or step name
    (`bridge.vapi.transfer_update`: a workflow's step has no `destination`)."""

    destination: str = ""
    to: str = ""


@dataclass(frozen=True)
class UnknownEvent(Event):
    """Any other type: conversation-update, model-output, …"""


@dataclass(frozen=True)
class MalformedEvent(Event):
    reason: str = ""


def _str(value: Any, limit: int = MAX_WORD) -> str:
    return inert(redact.mask(value), limit) if isinstance(value, str) else ""


def _opt_str(value: Any) -> str | None:
    return inert(redact.mask(value), MAX_WORD) if isinstance(value, str) else None


def _turn(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_TURN
    return value if ok else None


def parse_event(text: str | bytes) -> Event:
    try:
        data = safejson.loads(text)
    except safejson.UnsafeJson as exc:
        return MalformedEvent("malformed", {}, reason=str(exc))
    if isinstance(data, dict) and "type" not in data and isinstance(data.get("message"), dict):
        data = data["message"]
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return MalformedEvent("malformed", data if isinstance(data, dict) else {},
                              reason="not a JSON object with a string 'type'")
    try:
        return _typed(data)
    except Exception as exc:  # a guard: the reads above cannot fail on a dict of JSON values
        return MalformedEvent("malformed", data, reason=f"unreadable ({exc.__class__.__name__})")


def _typed(data: dict[str, Any]) -> Event:
    kind = _str(data["type"])
    if kind == "status-update":
        return StatusUpdate(kind, data, status=_str(data.get("status")),
                            ended_reason=_opt_str(data.get("endedReason")))
    if kind == "speech-update":
        return SpeechUpdate(kind, data, status=_str(data.get("status")),
                            role=_str(data.get("role")), turn=_turn(data.get("turn")))
    if kind == "user-interrupted":
        return UserInterrupted(kind, data, turn_id=_opt_str(data.get("turnId")))
    if kind == "transcript" or kind.startswith("transcript["):
        said = data.get("transcript")
        said = redact.mask(said) if isinstance(said, str) else ""
        return Transcript(kind, data, role=_str(data.get("role")),
                          final=data.get("transcriptType") == "final" or kind == FINAL,
                          text=inert(said, MAX_TEXT), exact=said[:MAX_EXACT],
                          cut=len(said) > MAX_EXACT)
    if kind == "assistant.speechStarted":
        return AssistantSpeechStarted(kind, data, text=_str(data.get("text"), MAX_TEXT),
                                      turn=_turn(data.get("turn")),
                                      source=_str(data.get("source")))
    if kind == "hang":
        return Hang(kind, data)
    if kind == "tool-calls":
        return ToolCalls(kind, data, calls=_tool_calls(data))
    if kind == "transfer-update":
        destination, to = transfer_target(data)
        return TransferUpdate(kind, data, destination=_str(destination), to=_str(to))
    return UnknownEvent(kind, data)


def _tool_calls(data: dict[str, Any]) -> tuple[ToolCall, ...]:
    """`toolCallList`'s calls (else those inside `toolWithToolCallList`), those with a name."""
    listed = data.get("toolCallList")
    if not isinstance(listed, list):
        with_tool = data.get("toolWithToolCallList")
        listed = [item.get("toolCall") for item in with_tool if isinstance(item, dict)] \
            if isinstance(with_tool, list) else []
    calls = []
    for item in listed[:MAX_TOOL_CALLS]:
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not _str(function.get("name")):
            continue
        calls.append(ToolCall(id=_str(item.get("id")), name=_str(function.get("name")),
                              arguments=_arguments(function.get("arguments"))))
    return tuple(calls)


def _arguments(args: Any) -> str:
    """A tool call's arguments as compact JSON text, always valid JSON and already inert
    (ASCII, DEL escaped too): an object as it came, or the model's string parsed; a string
    that is no JSON, or arguments longer than MAX_TEXT, become a JSON string of the text,
    cut to fit."""
    if isinstance(args, str):
        try:
            args = safejson.loads(args, max_bytes=MAX_TEXT * 4)
        except safejson.UnsafeJson:
            return _json_string(args)
    text = _ascii_json({} if args is None else args)  # its echoed secrets masked, as text's
    return redact.mask(text if len(text) <= MAX_TEXT else _json_string(text))


def _ascii_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")).replace("\x7f", "\\u007f")


def _json_string(text: str) -> str:
    """`text` as a JSON string of at most MAX_TEXT characters, cut (whole characters) to fit."""
    n = len(text)
    while len(out := _ascii_json(text[:n])) > MAX_TEXT:
        n = max(0, n * (MAX_TEXT - 2) // len(out) - 1)
    return out


# ---- client → server commands: each by its `type`, and where Vapi takes it: "any" (the call
# socket or the call's controlUrl, as `call.commands_via` says) or "control-url" (only there:
# `handoff` is not a ClientInboundMessage). A new command is a line here and a builder below.
COMMANDS = {"end-call": "any", "hangup": "any", "say": "any", "add-message": "any",
            "control": "any", "transfer": "any", "handoff": "control-url"}


def control_url_only(command: dict[str, Any]) -> bool:
    kind = command.get("type")
    return isinstance(kind, str) and COMMANDS.get(kind) == "control-url"


def end_call(style: str = "end-call") -> dict[str, Any]:
    return {"type": "hangup"} if style == "hangup" else {"type": "end-call"}


def say(content: str, end_after: bool = False, interruptions: bool = True,
        interrupt_assistant: bool = False) -> dict[str, Any]:
    return {"type": "say", "content": content, "endCallAfterSpoken": end_after,
            "interruptionsEnabled": interruptions,
            "interruptAssistantEnabled": interrupt_assistant}


def add_message(content: str, role: str = "system", trigger_response: bool = True
                ) -> dict[str, Any]:
    return {"type": "add-message", "message": {"role": role, "content": content},
            "triggerResponseEnabled": trigger_response}


CONTROLS = ("mute-assistant", "unmute-assistant", "mute-customer", "unmute-customer",
            "say-first-message")


def control(name: str) -> dict[str, Any]:
    if name not in CONTROLS:
        raise ValueError(f"unknown control {name!r}; valid: {', '.join(CONTROLS)}")
    return {"type": "control", "control": name}


def transfer(destination: str, message: str | None = None, extension: str | None = None
             ) -> dict[str, Any]:
    """ValueError (its fix in one line) for neither a number nor a SIP URI, or a bad
    extension (`bridge.vapi.destinations`)."""
    cmd = {"type": "transfer", "destination": transfer_destination(destination, extension)}
    return {**cmd, "content": message} if message else cmd


# Vapi's contextEngineeringPlan types besides lastNMessages (`last:N` here)
HANDOFF_CONTEXTS = ("none", "all", "userAndAssistantMessages", "previousAssistantMessages")
HANDOFF_CONTEXT_HELP = "none, all, userAndAssistantMessages, previousAssistantMessages or last:N"


def handoff(assistant_id: str, context: str = "all", message: str | None = None
            ) -> dict[str, Any]:
    """Raises ValueError for a context that is none of `HANDOFF_CONTEXT_HELP`."""
    plan: dict[str, Any]
    count = context[5:] if context.startswith("last:") else ""
    if count.isdigit() and int(count) > 0:
        plan = {"type": "lastNMessages", "maxMessages": int(count)}
    elif context in HANDOFF_CONTEXTS:
        plan = {"type": context}
    else:
        raise ValueError(f"context {context!r} is not one of {HANDOFF_CONTEXT_HELP} (N > 0)")
    cmd: dict[str, Any] = {"type": "handoff", "destination": {
        "type": "assistant", "assistantId": assistant_id, "contextEngineeringPlan": plan}}
    if message:
        cmd["content"] = message
    return cmd


def encode(command: dict[str, Any]) -> str:
    return json.dumps(command, separators=(",", ":"))
